// fedge-sim --gateways with the real binaries (fedge-coordinator as the root,
// fedge-gateway, fedge-client) over CURVE: a root with 3 gateways and 30
// clients makes the same model as the flat 30-client run on the same seed, to
// float rounding, with 3 updates into the root per round instead of 30; the
// devices verify the root's signature through their gateway (no model is
// refused); impossible pairings are usage errors.

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "client/model_file.h"
#include "simulations/results.h"
#include "tests/integration/sim_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::testing {
namespace {

std::vector<float> FinalWeights(const TempDir& dir) {
  absl::StatusOr<std::string> bytes = ReadFile(dir.File("model.fms"));
  EXPECT_THAT(bytes, IsOk());
  if (!bytes.ok()) return {};
  absl::StatusOr<client::ModelFile> file = client::DecodeModelFile(*bytes, 64 << 20);
  EXPECT_THAT(file, IsOk());
  return file.ok() ? file->payload.weights : std::vector<float>();
}

// The same simulation run flat and with --gateways=3: both metrics files,
// the tree's log, and how far apart the final models are.
struct FlatAndTree {
  std::string flat, tree, tree_log;
  double max_diff = NAN;
  double max_abs = 0;  // the largest weight, for scale
};

FlatAndTree RunFlatAndTree(const std::vector<std::string>& run) {
  FlatAndTree out;
  TempDir flat_dir, tree_dir;
  out.flat = RunSim(flat_dir.path(), run);
  std::vector<std::string> tree_run = run;
  tree_run.push_back("--gateways=3");
  out.tree = RunSim(tree_dir.path(), tree_run);
  out.tree_log = ReadFile(tree_dir.File("sim.log")).value_or("");
  const std::vector<float> a = FinalWeights(flat_dir), b = FinalWeights(tree_dir);
  EXPECT_EQ(a.size(), b.size());
  EXPECT_FALSE(a.empty());
  if (a.size() != b.size() || a.empty()) return out;
  out.max_diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    out.max_diff = std::max(out.max_diff, static_cast<double>(std::fabs(a[i] - b[i])));
    out.max_abs = std::max(out.max_abs, static_cast<double>(std::fabs(a[i])));
  }
  return out;
}

const std::vector<std::string> kRun = {"--clients=30", "--clients_per_process=5", "--rounds=2",
                                       "--partition=dirichlet:0.5", "--seed=4",
                                       "--max_examples=6000"};

TEST(GatewaySimulationTest, ThreeGatewaysOfTenClientsMakeTheFlatModel) {
  const FlatAndTree r = RunFlatAndTree(kRun);
  EXPECT_THAT(Field(r.flat, "clients"), ::testing::ElementsAre(30, 30));
  EXPECT_THAT(Field(r.tree, "clients"), ::testing::ElementsAre(3, 3));  // the gateways
  // Into the root: 3 updates a round instead of 30.
  const std::vector<int64_t> flat_up = Field(r.flat, "bytes_up"),
                             tree_up = Field(r.tree, "bytes_up");
  ASSERT_EQ(flat_up.size(), 2u);
  ASSERT_EQ(tree_up.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_LT(tree_up[i] * 8, flat_up[i]) << i;
  }
  // Float rounding of sums taken in another order (and the gateways' means
  // sent as float32): 7.5e-9 measured, the largest weight 0.09.
  EXPECT_LT(r.max_diff, 1e-5) << "largest weight " << r.max_abs;
  absl::StatusOr<std::vector<sim::RoundRow>> fr = sim::ParseMetrics(r.flat),
                                             tr = sim::ParseMetrics(r.tree);
  ASSERT_THAT(fr, IsOk());
  ASSERT_THAT(tr, IsOk());
  EXPECT_NEAR(fr->back().test_accuracy, tr->back().test_accuracy, 2e-4);
  EXPECT_THAT(r.tree_log, ::testing::HasSubstr("relayed 2 root rounds"));
  // The devices pinned the root's signing key through their gateway.
  EXPECT_THAT(r.tree_log,
              ::testing::HasSubstr("0 tasks refused by clients (bad signature or rollback)"));
  EXPECT_THAT(r.tree_log, ::testing::Not(::testing::HasSubstr("BAD_SIGNATURE")));
}

// --secure with gateways: SecAgg among each gateway's devices (the gateway
// sees only their sum, the root only the gateways' means). The same model as
// SecAgg over all 30 clients at once, to the fixed point's rounding.
TEST(GatewaySimulationTest, SecureAggregationAmongEachGatewaysDevicesMakesTheFlatSecureModel) {
  std::vector<std::string> run = kRun;
  run.push_back("--secure=secagg");
  const FlatAndTree r = RunFlatAndTree(run);
  EXPECT_THAT(Field(r.tree, "clients"), ::testing::ElementsAre(3, 3));
  EXPECT_LT(r.max_diff, 1e-5) << "largest weight " << r.max_abs;  // 1.5e-8 measured
  EXPECT_THAT(r.tree_log, ::testing::HasSubstr("relayed 2 root rounds"));
}

TEST(GatewaySimulationTest, ImpossiblePairingsAreUsageErrors) {
  TempDir dir;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--gateways=5"}, "--gateways=5: want 0 to the number of client processes (2"},
      {{"--gateways=2", "--dp=central"}, "--gateways with --dp"},
      {{"--gateways=2", "--clients_per_round=1"}, "every root round runs over every gateway"},
      {{"--gateways=2", "--mode=async"}, "--gateways with --mode=async"},
  };
  for (const auto& [flags, message] : cases) {
    std::vector<std::string> argv = {"--clients=4", "--clients_per_process=2", "--rounds=1",
                                     "--insecure"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    ExpectUsageError(dir.path(), argv, message);
  }
}

}  // namespace
}  // namespace fedge::testing
