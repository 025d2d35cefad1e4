// The per-client strategy state with the real LibTorch trainer: a state
// saved after round 1 (local-state.fls in a temporary directory) and loaded
// into a fresh trainer trains round 2 exactly as a trainer that kept it in
// memory; without it round 2 differs.

#include <cstdlib>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/file_system.h"
#include "client/local_state.h"
#include "client/local_state_store.h"
#include "client/trainer.h"
#include "data/source.h"
#include "tests/testing/idx_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::client {
namespace {

using ::fedge::testing::IsOk;

Dataset Images(uint32_t n) {
  fedge::testing::TempDir dir;
  fedge::testing::WriteSyntheticIdx(dir.path(), "train", n);
  absl::StatusOr<Dataset> d = data::LoadDataset(dir.path(), data::SourceOptions{"train"});
  EXPECT_THAT(d, IsOk());
  return *std::move(d);
}

protocol::Task FirstRound(const protocol::ModelPayload& model, bool scaffold, bool fedbn) {
  protocol::Task t;
  t.round = 1;
  t.model = model;
  t.config.batch_size = 10;
  t.config.learning_rate = 0.1f;
  t.config.seed = 3;
  t.config.local_normalization = fedbn;
  if (scaffold) t.control.assign(model.weights.size(), 0.0f);
  return t;
}

// Round 2 as a server with this one client would send it: the model moved by
// the client's delta, c moved by its control change.
protocol::Task SecondRound(protocol::Task t, const TrainOutcome& first) {
  t.round = 2;
  t.config.seed = 4;
  for (size_t i = 0; i < t.model.weights.size(); ++i) t.model.weights[i] += first.delta[i];
  if (!t.control.empty()) t.control = first.control_delta;
  return t;
}

struct Outcomes {
  TrainOutcome kept, restored, fresh;  // round 2 of each
};

// Round 2 three ways: one trainer kept in memory; a new trainer (new
// LibTorch trainer too) whose state was saved after round 1 and loaded back
// from the store; a new trainer without state.
Outcomes RoundTwoThreeWays(const protocol::ModelPayload& model, bool scaffold, bool fedbn) {
  const Dataset data = Images(60);
  const protocol::Task first = FirstRound(model, scaffold, fedbn);
  Outcomes o;
  TrainOutcome round1;
  std::unique_ptr<Trainer> torch = MakeTorchTrainer();
  std::unique_ptr<Trainer> memory = MakeLocalStateTrainer(torch.get());
  EXPECT_THAT(memory->Train(first, data, nullptr, &round1), IsOk());
  const protocol::Task second = SecondRound(first, round1);
  EXPECT_THAT(memory->Train(second, data, nullptr, &o.kept), IsOk());

  fedge::testing::TempDir dir;
  {
    LocalState state;
    std::unique_ptr<Trainer> torch_a = MakeTorchTrainer();
    std::unique_ptr<Trainer> device = MakeLocalStateTrainer(torch_a.get(), &state);
    TrainOutcome again;
    EXPECT_THAT(device->Train(first, data, nullptr, &again), IsOk());
    EXPECT_EQ(again.delta, round1.delta);  // training is deterministic
    EXPECT_THAT(LocalStateStore(dir.path(), 7, PosixFileSystem::Default()).Save(state), IsOk());
  }
  absl::StatusOr<std::optional<LocalState>> loaded =
      LocalStateStore(dir.path(), 7, PosixFileSystem::Default()).Load();
  EXPECT_THAT(loaded, IsOk());
  EXPECT_TRUE(loaded.ok() && loaded->has_value());
  LocalState state = loaded.ok() ? loaded->value_or(LocalState()) : LocalState();
  std::unique_ptr<Trainer> torch_b = MakeTorchTrainer();
  std::unique_ptr<Trainer> restarted = MakeLocalStateTrainer(torch_b.get(), &state);
  EXPECT_THAT(restarted->Train(second, data, nullptr, &o.restored), IsOk());

  std::unique_ptr<Trainer> torch_c = MakeTorchTrainer();
  std::unique_ptr<Trainer> fresh = MakeLocalStateTrainer(torch_c.get());
  EXPECT_THAT(fresh->Train(second, data, nullptr, &o.fresh), IsOk());
  return o;
}

TEST(LocalStateTorchTest, ScaffoldStateLoadedFromTheStoreGivesTheSameRoundTwoAsMemory) {
  absl::StatusOr<protocol::ModelPayload> mlp =
      MakeInitialModel("mlp", 1, protocol::FashionMnistTask());
  ASSERT_THAT(mlp, IsOk());
  const Outcomes o = RoundTwoThreeWays(*mlp, /*scaffold=*/true, /*fedbn=*/false);
  ASSERT_EQ(o.kept.control_delta.size(), mlp->weights.size());
  EXPECT_EQ(o.restored.control_delta, o.kept.control_delta);  // bit for bit
  EXPECT_EQ(o.restored.delta, o.kept.delta);
  // With c_i = 0 the correction is c, not c - c_i: another round 2.
  EXPECT_NE(o.fresh.control_delta, o.kept.control_delta);
  EXPECT_NE(o.fresh.delta, o.kept.delta);
}

// examples/export_torchscript.py --batchnorm (CTest fixture): SmallBnNet.
TEST(LocalStateTorchTest, FedBnLayersLoadedFromTheStoreGiveTheSameRoundTwoAsMemory) {
  const char* path = std::getenv("FEDGE_TEST_TORCHSCRIPT_BN");
  ASSERT_NE(path, nullptr) << "FEDGE_TEST_TORCHSCRIPT_BN not set";
  absl::StatusOr<protocol::ModelPayload> bn = MakeInitialModel(path, 1, protocol::TaskSpec());
  ASSERT_THAT(bn, IsOk());
  const Outcomes o = RoundTwoThreeWays(*bn, /*scaffold=*/false, /*fedbn=*/true);
  EXPECT_EQ(o.restored.delta, o.kept.delta);  // bit for bit
  // From the global (round 1 start) normalisation values instead: another round.
  EXPECT_NE(o.fresh.delta, o.kept.delta);
}

}  // namespace
}  // namespace fedge::client
