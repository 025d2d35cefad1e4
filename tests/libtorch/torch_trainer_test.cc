#include <cmath>
#include <cstdlib>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/file_util.h"
#include "client/architecture.h"
#include "libtorch/torch_model.h"
#include "client/trainer.h"
#include "compression/pruning.h"
#include "data/source.h"
#include "tests/testing/idx_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::client {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

Dataset Synthetic(uint32_t n) {
  fedge::testing::TempDir dir;
  fedge::testing::WriteSyntheticIdx(dir.path(), "train", n);
  absl::StatusOr<Dataset> d = data::LoadDataset(dir.path(), data::SourceOptions{"train"});
  EXPECT_THAT(d, IsOk());
  return *std::move(d);
}

protocol::Task TaskFor(const protocol::ModelPayload& model) {
  protocol::Task t;
  t.round = 1;
  t.model = model;
  t.config.batch_size = 10;
  t.config.local_epochs = 1;
  t.config.learning_rate = 0.1f;
  t.config.seed = 3;
  return t;
}

double Norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

TEST(TorchModelTest, BuiltinsHaveThePapersParameterCounts) {
  absl::StatusOr<protocol::ModelPayload> mlp = MakeInitialModel("mlp", 0, protocol::TaskSpec());
  ASSERT_THAT(mlp, IsOk());
  EXPECT_EQ(mlp->weights.size(), 199210u);
  EXPECT_EQ(mlp->manifest.tensors.size(), 6u);
  EXPECT_EQ(mlp->manifest.tensors[0].name, "fc1.weight");
  absl::StatusOr<protocol::ModelPayload> cnn = MakeInitialModel("cnn", 0, protocol::TaskSpec());
  ASSERT_THAT(cnn, IsOk());
  EXPECT_EQ(cnn->weights.size(), 1663370u);
}

TEST(TorchModelTest, InitialisationIsSeeded) {
  auto a = MakeInitialModel("mlp", 5, protocol::TaskSpec()), b = MakeInitialModel("mlp", 5, protocol::TaskSpec()), c = MakeInitialModel("mlp", 6, protocol::TaskSpec());
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->weights, b->weights);
  EXPECT_NE(a->weights, c->weights);
}

TEST(TorchTrainerTest, TrainingLearnsAndReturnsAFiniteDelta) {
  absl::StatusOr<protocol::ModelPayload> model = MakeInitialModel("mlp", 1, protocol::TaskSpec());
  ASSERT_THAT(model, IsOk());
  Dataset data = Synthetic(200);
  auto trainer = MakeTorchTrainer();
  protocol::Task task = TaskFor(*model);
  task.config.local_epochs = 3;
  TrainOutcome out;
  ASSERT_THAT(trainer->Train(task, data, nullptr, &out), IsOk());
  ASSERT_EQ(out.delta.size(), model->weights.size());
  EXPECT_GT(Norm(out.delta), 0.0);
  for (float x : out.delta) ASSERT_TRUE(std::isfinite(x));
  EXPECT_EQ(out.num_examples, 200u);
  // The synthetic task is trivially separable: the third epoch is nearly perfect.
  EXPECT_GT(out.metrics.accuracy, 0.9f);

  // The trained weights (global + delta) evaluate well; the initial ones do not.
  auto eval = MakeTorchEvaluator(model->architecture_id, model->architecture, protocol::TaskSpec(), data);
  ASSERT_THAT(eval, IsOk());
  std::vector<float> trained = model->weights;
  for (size_t i = 0; i < trained.size(); ++i) trained[i] += out.delta[i];
  absl::StatusOr<EvalResult> before = (*eval)->Evaluate(model->weights);
  absl::StatusOr<EvalResult> after = (*eval)->Evaluate(trained);
  ASSERT_THAT(before, IsOk());
  ASSERT_THAT(after, IsOk());
  EXPECT_LT(before->accuracy, 0.5);
  EXPECT_GT(after->accuracy, 0.9);
  EXPECT_LT(after->loss, before->loss);
}

TEST(TorchTrainerTest, SameSeedSameDelta) {
  auto model = MakeInitialModel("mlp", 1, protocol::TaskSpec());
  ASSERT_THAT(model, IsOk());
  Dataset data = Synthetic(60);
  TrainOutcome a, b;
  ASSERT_THAT(MakeTorchTrainer()->Train(TaskFor(*model), data, nullptr, &a), IsOk());
  ASSERT_THAT(MakeTorchTrainer()->Train(TaskFor(*model), data, nullptr, &b), IsOk());
  EXPECT_EQ(a.delta, b.delta);
}

// A pruned model (compression/pruning.h): the trainer keeps every pruned
// weight at 0 through local training, so the delta there is exactly 0 and
// the model the device trained is the sparse one; kept weights still learn.
TEST(TorchTrainerTest, PrunedWeightsStayZeroThroughTraining) {
  absl::StatusOr<protocol::ModelPayload> model = MakeInitialModel("mlp", 1, protocol::TaskSpec());
  ASSERT_THAT(model, IsOk());
  ASSERT_THAT(compression::Prune(absl::MakeSpan(model->weights),
                                 protocol::PrunableRanges(model->manifest), 0.7, &model->mask),
              IsOk());
  Dataset data = Synthetic(200);
  protocol::Task task = TaskFor(*model);
  task.config.local_epochs = 3;
  TrainOutcome out;
  ASSERT_THAT(MakeTorchTrainer()->Train(task, data, nullptr, &out), IsOk());
  ASSERT_EQ(out.delta.size(), model->weights.size());
  size_t pruned = 0, kept_moved = 0;
  for (size_t i = 0; i < out.delta.size(); ++i) {
    if (!compression::Kept(model->mask, i)) {
      ++pruned;
      ASSERT_EQ(out.delta[i], 0.0f) << "pruned weight " << i << " moved";
    } else {
      kept_moved += out.delta[i] != 0;
    }
  }
  EXPECT_GT(pruned, model->weights.size() / 2);
  EXPECT_GT(kept_moved, (model->weights.size() - pruned) / 2);
  EXPECT_GT(out.metrics.accuracy, 0.5f);  // 30 % of the weights still learn (chance: 0.1)
  // Without the mask the same task moves those weights: the test can fail.
  task.model.mask.clear();
  ASSERT_THAT(MakeTorchTrainer()->Train(task, data, nullptr, &out), IsOk());
  size_t moved = 0;
  for (size_t i = 0; i < out.delta.size(); ++i) moved += out.delta[i] != 0 && !compression::Kept(model->mask, i);
  EXPECT_GT(moved, pruned / 2);
}

TEST(TorchTrainerTest, MaxExamplesCapsTheWork) {
  auto model = MakeInitialModel("mlp", 1, protocol::TaskSpec());
  ASSERT_THAT(model, IsOk());
  protocol::Task task = TaskFor(*model);
  task.config.max_examples = 30;
  TrainOutcome out;
  ASSERT_THAT(MakeTorchTrainer()->Train(task, Synthetic(100), nullptr, &out), IsOk());
  EXPECT_EQ(out.num_examples, 30u);
}

TEST(TorchTrainerTest, StopPredicateCancelsTraining) {
  auto model = MakeInitialModel("mlp", 1, protocol::TaskSpec());
  ASSERT_THAT(model, IsOk());
  int polls = 0;
  TrainOutcome out;
  EXPECT_THAT(MakeTorchTrainer()->Train(TaskFor(*model), Synthetic(100),
                                        [&] { return ++polls > 3; }, &out),
              StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(polls, 4);
}

TEST(TorchTrainerTest, RefusesCorruptOrMismatchedPayloads) {
  auto model = MakeInitialModel("mlp", 1, protocol::TaskSpec());
  ASSERT_THAT(model, IsOk());
  Dataset data = Synthetic(20);
  TrainOutcome out;

  protocol::Task short_weights = TaskFor(*model);
  short_weights.model.weights.pop_back();
  EXPECT_THAT(MakeTorchTrainer()->Train(short_weights, data, nullptr, &out),
              StatusIs(absl::StatusCode::kInvalidArgument));

  protocol::Task wrong_manifest = TaskFor(*model);
  wrong_manifest.model.manifest.tensors[0].name = "other";
  EXPECT_THAT(MakeTorchTrainer()->Train(wrong_manifest, data, nullptr, &out),
              StatusIs(absl::StatusCode::kInvalidArgument, "manifest"));

  protocol::Task no_arch = TaskFor(*model);
  no_arch.model.architecture.clear();
  EXPECT_THAT(MakeTorchTrainer()->Train(no_arch, data, nullptr, &out),
              StatusIs(absl::StatusCode::kFailedPrecondition, "not cached"));

  protocol::Task unknown = TaskFor(*model);
  unknown.model.architecture_id = "builtin:resnet";
  unknown.model.architecture = "resnet";
  EXPECT_THAT(MakeTorchTrainer()->Train(unknown, data, nullptr, &out),
              StatusIs(absl::StatusCode::kInvalidArgument, "unknown"));
}

TEST(TorchTrainerTest, CachedArchitectureNeedNotBeResent) {
  auto model = MakeInitialModel("mlp", 1, protocol::TaskSpec());
  ASSERT_THAT(model, IsOk());
  Dataset data = Synthetic(20);
  auto trainer = MakeTorchTrainer();
  TrainOutcome out;
  ASSERT_THAT(trainer->Train(TaskFor(*model), data, nullptr, &out), IsOk());
  EXPECT_THAT(trainer->CachedArchitectures(), ::testing::ElementsAre("builtin:mlp"));
  protocol::Task slim = TaskFor(*model);
  slim.model.architecture.clear();
  EXPECT_THAT(trainer->Train(slim, data, nullptr, &out), IsOk());
}

// An idle device must not hold training buffers between rounds: once Train
// returns, no model (parameters, gradients) is left alive, whatever the
// outcome, while the architecture stays cached.
TEST(TorchTrainerTest, KeepsNoModelBetweenTasks) {
  auto model = MakeInitialModel("cnn", 1, protocol::TaskSpec());
  ASSERT_THAT(model, IsOk());
  Dataset data = Synthetic(20);
  const int64_t before = TorchModel::LiveCount();
  {
    // The count sees models: an evaluator holds one for its lifetime.
    auto eval = MakeTorchEvaluator(model->architecture_id, model->architecture, protocol::TaskSpec(), data);
    ASSERT_THAT(eval, IsOk());
    EXPECT_EQ(TorchModel::LiveCount(), before + 1);
  }
  auto trainer = MakeTorchTrainer();
  TrainOutcome out;
  ASSERT_THAT(trainer->Train(TaskFor(*model), data, nullptr, &out), IsOk());
  EXPECT_EQ(TorchModel::LiveCount(), before);
  EXPECT_THAT(trainer->CachedArchitectures(), ::testing::ElementsAre("builtin:cnn"));

  protocol::Task slim = TaskFor(*model);
  slim.model.architecture.clear();
  EXPECT_THAT(trainer->Train(slim, data, [] { return true; }, &out),
              StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(TorchModel::LiveCount(), before);
  protocol::Task short_weights = TaskFor(*model);
  short_weights.model.weights.pop_back();
  EXPECT_THAT(trainer->Train(short_weights, data, nullptr, &out),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(TorchModel::LiveCount(), before);
}

// keep_models (a process hosting many clients): one model per architecture
// stays between tasks, and still nothing of one task carries into the next:
// the deltas equal a fresh trainer's, across tasks of other weights, a
// cancelled task, a FedProx task and an evaluation.
TEST(TorchTrainerTest, KeptModelsGiveTheSameDeltasAsFreshOnes) {
  auto model = MakeInitialModel("mlp", 1, protocol::TaskSpec());
  ASSERT_THAT(model, IsOk());
  Dataset data = Synthetic(50);
  TorchTrainerOptions keep;
  keep.keep_models = true;
  auto kept = MakeTorchTrainer(keep);
  auto fresh = MakeTorchTrainer();
  const int64_t before = TorchModel::LiveCount();
  TrainOutcome a, b;
  protocol::Task first = TaskFor(*model);
  ASSERT_THAT(kept->Train(first, data, nullptr, &a), IsOk());
  EXPECT_EQ(TorchModel::LiveCount(), before + 1);  // the kept one
  EXPECT_THAT(kept->Train(first, data, [] { return true; }, &a),
              StatusIs(absl::StatusCode::kCancelled));
  EvalResult eval;
  ASSERT_THAT(kept->Evaluate(first, data, &eval), IsOk());
  protocol::Task second = TaskFor(*model);
  for (float& w : second.model.weights) w *= 0.5f;
  second.config.proximal_mu = 0.1f;
  second.model.architecture.clear();  // cached
  ASSERT_THAT(kept->Train(second, data, nullptr, &a), IsOk());
  ASSERT_THAT(fresh->Train(TaskFor(*model), data, nullptr, &b), IsOk());
  second.model.architecture = model->architecture;
  ASSERT_THAT(fresh->Train(second, data, nullptr, &b), IsOk());
  EXPECT_EQ(a.delta, b.delta);
  EXPECT_EQ(a.metrics.loss, b.metrics.loss);
  EXPECT_EQ(TorchModel::LiveCount(), before + 1);
}

// Nothing of one task carries into the next: the same task twice on one
// trainer gives the same delta.
TEST(TorchTrainerTest, RepeatedTaskOnOneTrainerGivesTheSameDelta) {
  auto model = MakeInitialModel("mlp", 1, protocol::TaskSpec());
  ASSERT_THAT(model, IsOk());
  Dataset data = Synthetic(50);
  auto trainer = MakeTorchTrainer();
  TrainOutcome a, b;
  ASSERT_THAT(trainer->Train(TaskFor(*model), data, nullptr, &a), IsOk());
  ASSERT_THAT(trainer->Train(TaskFor(*model), data, nullptr, &b), IsOk());
  EXPECT_EQ(a.delta, b.delta);
}

// Exported by examples/export_torchscript.py (CTest fixture) with the same
// LibTorch version a user would have.
std::string TorchScriptPath() {
  const char* p = std::getenv("FEDGE_TEST_TORCHSCRIPT");
  return p ? p : "";
}

TEST(TorchScriptTest, TrainsAnExportedModule) {
  ASSERT_FALSE(TorchScriptPath().empty()) << "FEDGE_TEST_TORCHSCRIPT not set";
  absl::StatusOr<protocol::ModelPayload> model = MakeInitialModel(TorchScriptPath(), 0, protocol::TaskSpec());
  ASSERT_THAT(model, IsOk());
  EXPECT_THAT(model->architecture_id, ::testing::StartsWith("torchscript:"));
  EXPECT_EQ(model->manifest.tensors.size(), 6u);  // conv, fc1, fc2 weights and biases
  Dataset data = Synthetic(200);
  protocol::Task task = TaskFor(*model);
  task.config.local_epochs = 3;
  TrainOutcome out;
  ASSERT_THAT(MakeTorchTrainer()->Train(task, data, nullptr, &out), IsOk());
  EXPECT_GT(Norm(out.delta), 0.0);
  EXPECT_GT(out.metrics.accuracy, 0.8f);
}

// examples/export_torchscript.py --batchnorm (CTest fixture): SmallBnNet.
std::string BatchNormPath() {
  const char* p = std::getenv("FEDGE_TEST_TORCHSCRIPT_BN");
  return p ? p : "";
}

// BatchNorm running statistics are model state: they travel after the
// parameters, as kBuffer (float) and kCounter (num_batches_tracked) tensors.
TEST(TorchScriptTest, BatchNormBuffersTravelWithTheModel) {
  ASSERT_FALSE(BatchNormPath().empty()) << "FEDGE_TEST_TORCHSCRIPT_BN not set";
  absl::StatusOr<protocol::ModelPayload> model = MakeInitialModel(BatchNormPath(), 0, protocol::TaskSpec());
  ASSERT_THAT(model, IsOk());
  std::vector<std::string> buffers, counters;
  size_t params = 0, offset = 0, counter_offset = 0, mean_offset = 0;
  bool parameters_first = true;
  for (const protocol::TensorSpec& t : model->manifest.tensors) {
    if (t.role == protocol::TensorRole::kParameter) {
      ++params;
      parameters_first = parameters_first && buffers.empty() && counters.empty();
    } else if (t.role == protocol::TensorRole::kBuffer) {
      if (t.name == "bn1.running_mean") mean_offset = offset;
      buffers.push_back(t.name);
    } else {
      if (t.name == "bn1.num_batches_tracked") counter_offset = offset;
      counters.push_back(t.name);
    }
    offset += t.NumElements();
  }
  EXPECT_TRUE(parameters_first);
  EXPECT_EQ(params, 10u);  // conv, bn1, fc1, bn2, fc2: weight and bias each
  EXPECT_THAT(buffers, ::testing::ElementsAre("bn1.running_mean", "bn1.running_var",
                                              "bn2.running_mean", "bn2.running_var"));
  EXPECT_THAT(counters,
              ::testing::ElementsAre("bn1.num_batches_tracked", "bn2.num_batches_tracked"));
  EXPECT_EQ(model->weights[counter_offset], 0.0f);

  // Training moves the statistics and counts its batches: 200 examples in
  // batches of 10.
  protocol::Task task = TaskFor(*model);
  TrainOutcome out;
  ASSERT_THAT(MakeTorchTrainer()->Train(task, Synthetic(200), nullptr, &out), IsOk());
  EXPECT_EQ(out.delta[counter_offset], 20.0f);
  double mean_moved = 0;
  for (size_t i = 0; i < 8; ++i) mean_moved += std::fabs(out.delta[mean_offset + i]);
  EXPECT_GT(mean_moved, 1e-3);

  // Weights set from the wire load into the buffers (counters rounded) and
  // come back out unchanged.
  absl::StatusOr<Architecture> arch = ResolveArchitecture(BatchNormPath());
  ASSERT_THAT(arch, IsOk());
  absl::StatusOr<std::unique_ptr<TorchModel>> torch_model = TorchModel::Create(*arch);
  ASSERT_THAT(torch_model, IsOk());
  std::vector<float> weights = model->weights;
  weights[mean_offset] = 0.75f;
  weights[counter_offset] = 6.6f;
  ASSERT_THAT((*torch_model)->SetWeights(weights), IsOk());
  std::vector<float> back;
  (*torch_model)->GetWeights(&back);
  EXPECT_EQ(back[mean_offset], 0.75f);
  EXPECT_EQ(back[counter_offset], 7.0f);
}

TEST(TorchScriptTest, CorruptArchiveIsRefused) {
  ASSERT_FALSE(TorchScriptPath().empty());
  absl::StatusOr<std::string> bytes = ReadFile(TorchScriptPath());
  ASSERT_THAT(bytes, IsOk());
  absl::StatusOr<Architecture> arch = ResolveArchitecture(TorchScriptPath());
  ASSERT_THAT(arch, IsOk());
  // Tampered bytes no longer match the id's hash.
  std::string tampered = *bytes;
  tampered[tampered.size() / 2] ^= 0x5a;
  EXPECT_THAT(VerifyArchitecture(arch->id, tampered),
              StatusIs(absl::StatusCode::kInvalidArgument, "corrupt"));
  // Bytes that match their id but are not a TorchScript archive.
  fedge::testing::TempDir dir;
  std::string junk_path = dir.File("junk.pt");
  ASSERT_THAT(WriteFileAtomically(junk_path, "definitely not a zip archive"), IsOk());
  EXPECT_THAT(MakeInitialModel(junk_path, 0, protocol::TaskSpec()),
              StatusIs(absl::StatusCode::kInvalidArgument, "cannot load TorchScript"));
  EXPECT_THAT(MakeInitialModel(dir.File("missing.pt"), 0, protocol::TaskSpec()),
              StatusIs(absl::StatusCode::kInvalidArgument, "neither mlp, cnn"));
}

}  // namespace
}  // namespace fedge::client
