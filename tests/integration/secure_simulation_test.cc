// fedge-sim with secure aggregation end to end: real coordinator and client
// processes over CURVE, SecAgg messages over real ZeroMQ sockets, Fashion-MNIST.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "simulations/results.h"
#include "tests/integration/process_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge {
namespace {

using ::fedge::testing::IsOk;

constexpr char kData[] = "/usr/share/datasets/fashion-mnist";

std::vector<sim::RoundRow> RunSim(const std::string& out, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {testing::Bin("fedge-sim"), "--model=mlp", "--clients=4",
                                   "--rounds=2", "--max_examples=3000", "--seed=3",
                                   "--partition=iid", "--clients_per_process=2",
                                   "--out=" + out, absl::StrCat("--data_dir=", kData)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return testing::RunSimulation(argv, out);
}

// Quantisation is the only difference from plain FedAvg on the same seed.
void ExpectSameAsPlain(const std::string& secure_flag) {
  testing::TempDir plain_dir, secure_dir;
  std::vector<sim::RoundRow> plain = RunSim(plain_dir.path(), {});
  std::vector<sim::RoundRow> secure = RunSim(secure_dir.path(), {secure_flag});
  ASSERT_EQ(plain.size(), 2u);
  ASSERT_EQ(secure.size(), 2u);
  for (const sim::RoundRow& r : secure) {
    EXPECT_TRUE(r.completed);
    EXPECT_EQ(r.clients, 4);
    // Every client uploads a masked vector of 199,211 words.
    EXPECT_GT(r.bytes_up, 4 * 199211 * 4);
  }
  EXPECT_GT(secure.back().test_accuracy, 0.3);  // chance is 0.1
  EXPECT_NEAR(secure.back().test_accuracy, plain.back().test_accuracy, 0.005);
  // No per-client metric reaches the coordinator under secure aggregation.
  absl::StatusOr<std::string> metrics = ReadFile(secure_dir.File("metrics.jsonl"));
  ASSERT_THAT(metrics, IsOk());
  EXPECT_THAT(*metrics, ::testing::Not(::testing::HasSubstr("train_loss")));
}

TEST(SecureSimulationTest, SecAggMatchesPlainFedAvgOnTheSameSeed) {
  ExpectSameAsPlain("--secure");
}

TEST(SecureSimulationTest, SecAggPlusMatchesPlainFedAvgOnTheSameSeed) {
  ExpectSameAsPlain("--secure=plus");
}

}  // namespace
}  // namespace fedge
