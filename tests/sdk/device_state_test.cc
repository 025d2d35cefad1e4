// The SDK's policy for its strategy state (client/sdk/device_state.h), on a
// fault-injecting file system: kept only when accepted, a failed save kept
// in memory and retried, a damaged file set aside at start, and the FedBN
// model a predictor gets. (The library hides these symbols, so the source is
// compiled in.)

#include "client/sdk/device_state.h"

#include <gtest/gtest.h>

#include "client/local_state_store.h"
#include "tests/testing/fake_file_system.h"

namespace fedge::sdk {
namespace {

using ::fedge::testing::CrashLoss;
using ::fedge::testing::FakeFileSystem;

constexpr char kDir[] = "/device";
constexpr char kPath[] = "/device/local-state.fls";

// w[2] parameters, bn.running_mean[1] a normalisation buffer.
protocol::ModelPayload Model(float w, float bn) {
  protocol::ModelPayload m;
  m.architecture_id = "builtin:test";
  m.manifest.tensors = {
      {"w", {2}, protocol::DType::kFloat32, protocol::TensorRole::kParameter, false},
      {"bn.running_mean", {1}, protocol::DType::kFloat32, protocol::TensorRole::kBuffer, true}};
  m.weights = {w, w, bn};
  return m;
}

client::LocalState Trained(float c, bool fedbn = false) {
  client::LocalState s;
  s.model = client::ModelFingerprint(Model(0, 0));
  s.num_weights = 3;
  s.control = {c, -c, 0};
  s.local_normalization = fedbn;
  if (fedbn) s.normalization = {c + 10};
  return s;
}

std::optional<client::LocalState> OnDisk(FakeFileSystem& fs) {
  client::LocalStateStore store(kDir, 3, &fs);
  absl::StatusOr<std::optional<client::LocalState>> s = store.Load();
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : std::nullopt;
}

class DeviceStateTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fs_.CreateDir(kDir).ok()); }
  FakeFileSystem fs_;
};

TEST_F(DeviceStateTest, KeepsAndSavesOnlyAnAcceptedTasksState) {
  DeviceState state(kDir, 3, &fs_);
  EXPECT_TRUE(state.Current().empty());
  state.Finish(Trained(1), /*accepted=*/false);
  EXPECT_TRUE(state.Current().empty());
  EXPECT_EQ(fs_.Contents(kPath), std::nullopt);
  EXPECT_EQ(state.generation(), 0u);

  state.Finish(Trained(1), /*accepted=*/true);
  EXPECT_TRUE(state.Current() == Trained(1));
  EXPECT_EQ(state.generation(), 1u);
  fs_.PowerCycle(CrashLoss::kLoseAll);
  EXPECT_TRUE(OnDisk(fs_) == Trained(1));
  // Nothing new: nothing written.
  const int64_t ops = fs_.operation_count();
  state.Finish(Trained(1), /*accepted=*/true);
  EXPECT_EQ(fs_.operation_count(), ops);
  EXPECT_EQ(state.generation(), 1u);

  // A restart reads it.
  DeviceState restarted(kDir, 3, &fs_);
  EXPECT_TRUE(restarted.Current() == Trained(1));
}

TEST_F(DeviceStateTest, AFailedSaveIsKeptInMemoryAndRetriedAtTheNextRunOnce) {
  DeviceState state(kDir, 3, &fs_);
  state.Finish(Trained(1), true);
  fs_.FailOperation(fs_.operation_count() + 1, absl::InternalError("disk full"));  // append
  state.Finish(Trained(2), true);
  EXPECT_TRUE(state.Current() == Trained(2));  // the server counted it: kept
  EXPECT_TRUE(OnDisk(fs_) == Trained(1));
  state.Finish(Trained(2), /*accepted=*/false);  // a run_once without a new state
  EXPECT_TRUE(OnDisk(fs_) == Trained(2));
}

TEST_F(DeviceStateTest, ADamagedFileIsSetAsideAndTheDeviceStartsAfresh) {
  fs_.SetContents(kPath, "not a local-state file at all, just some bytes of junk");
  DeviceState state(kDir, 3, &fs_);
  EXPECT_TRUE(state.Current().empty());
  EXPECT_TRUE(fs_.Contents(std::string(kPath) + ".unreadable").has_value());
  state.Finish(Trained(5), true);
  EXPECT_TRUE(OnDisk(fs_) == Trained(5));
}

TEST_F(DeviceStateTest, OwnModelOverlaysFedBnValuesOnItsModelLayoutOnly) {
  DeviceState state(kDir, 3, &fs_);
  uint64_t generation = 99;
  EXPECT_FALSE(state.OwnModel(Model(1, 2), &generation).has_value());
  EXPECT_EQ(generation, 0u);
  state.Finish(Trained(1, /*fedbn=*/true), true);
  std::optional<protocol::ModelPayload> own = state.OwnModel(Model(7, 2), &generation);
  ASSERT_TRUE(own.has_value());
  EXPECT_EQ(own->weights, (std::vector<float>{7, 7, 11}));
  EXPECT_EQ(generation, 1u);
  protocol::ModelPayload other = Model(7, 2);
  other.manifest.tensors[0].name = "v";
  EXPECT_FALSE(state.OwnModel(other, &generation).has_value());
  state.Finish(Trained(1, /*fedbn=*/false), true);  // the strategy is no longer FedBN
  EXPECT_FALSE(state.OwnModel(Model(7, 2), &generation).has_value());
}

}  // namespace
}  // namespace fedge::sdk
