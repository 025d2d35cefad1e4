// Differential privacy end to end: fedge-sim with real coordinator and
// client processes over real ZeroMQ on the Debian Fashion-MNIST files.

#include <cmath>
#include <cstdlib>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "privacy/rdp_accountant.h"
#include "simulations/results.h"
#include "tests/integration/process_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge {
namespace {

using ::fedge::testing::IsOk;
using ::testing::HasSubstr;

constexpr char kData[] = "/usr/share/datasets/fashion-mnist";

// Runs fedge-sim with its output in `dir`/log; the exit status and rows.
int RunSim(const testing::TempDir& dir, const std::vector<std::string>& extra,
           std::vector<sim::RoundRow>* rows) {
  std::vector<std::string> argv = {testing::Bin("fedge-sim"), "--clients=4", "--model=mlp",
                                   "--max_examples=4000", "--partition=iid", "--insecure",
                                   "--out=" + dir.path(), absl::StrCat("--data_dir=", kData)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  const std::string cmd = absl::StrCat(absl::StrJoin(argv, " "), " >", dir.File("log"), " 2>&1");
  const int status = std::system(cmd.c_str());
  absl::StatusOr<std::vector<sim::RoundRow>> r = sim::ReadMetrics(dir.File("metrics.jsonl"));
  EXPECT_THAT(r, IsOk());
  if (r.ok()) *rows = *r;
  return status;
}

// --dp_target_epsilon: the run stops before the round that would exceed the
// budget, says so, and exits 0. The expected round is computed here with
// the accountant composing round by round: Poisson sampling at q = 2/4.
TEST(PrivacySimulationTest, TargetEpsilonStopsBeforeTheRoundThatWouldExceedIt) {
  privacy::RdpAccountant a;
  ASSERT_THAT(a.Compose(0.5, 1.5, 3), IsOk());
  const double after3 = a.Epsilon(1e-5)->epsilon;
  ASSERT_THAT(a.Compose(0.5, 1.5, 1), IsOk());
  const double after4 = a.Epsilon(1e-5)->epsilon;
  const double target = (after3 + after4) / 2;
  testing::TempDir dir;
  std::vector<sim::RoundRow> rows;
  const int status = RunSim(dir, {"--rounds=10", "--clients_per_round=2", "--dp=central",
                                  "--dp_noise_multiplier=1.5", "--dp_clip=0.01",
                                  absl::StrFormat("--dp_target_epsilon=%.17g", target)},
                            &rows);
  const std::string log = ReadFile(dir.File("log")).value_or("");
  EXPECT_EQ(status, 0) << log;
  // Failed rounds (a Poisson cohort below the quorum) are charged too: three
  // rounds ran, completed or not.
  ASSERT_EQ(rows.size(), 3u) << log;
  EXPECT_NEAR(rows.back().epsilon, after3, 1e-4);
  EXPECT_LE(rows.back().epsilon, target);
  EXPECT_TRUE(std::isnan(rows.back().epsilon_coordinator));  // central: none
  EXPECT_THAT(log, HasSubstr("one more would exceed --dp_target_epsilon="));
  EXPECT_THAT(log, HasSubstr("privacy (--dp=central): epsilon"));
}

// Distributed DP inside SecAgg and local DP both run to the end and learn
// with little noise; each reports epsilon for readers of the models and a
// larger one against the coordinator.
TEST(PrivacySimulationTest, DistributedAndLocalDpRunAndLearn) {
  for (const std::vector<std::string>& flags :
       std::vector<std::vector<std::string>>{{"--dp=distributed", "--secure=secagg"},
                                             {"--dp=local"}}) {
    testing::TempDir dir;
    std::vector<std::string> args = flags;
    // The noise is per coordinate: z * clip / 4 on each of the mlp's 199,210
    // mean coordinates, here 2.5e-4 (a norm of ~0.11 against clipped
    // updates of norm up to 1).
    args.insert(args.end(), {"--rounds=3", "--dp_noise_multiplier=0.001", "--dp_clip=1"});
    std::vector<sim::RoundRow> rows;
    const int status = RunSim(dir, args, &rows);
    const std::string log = ReadFile(dir.File("log")).value_or("");
    EXPECT_EQ(status, 0) << log;
    ASSERT_EQ(rows.size(), 3u) << absl::StrJoin(flags, " ");
    EXPECT_TRUE(rows.back().completed);
    EXPECT_GT(rows.back().test_accuracy, 0.45) << absl::StrJoin(flags, " ");
    EXPECT_GT(rows.back().epsilon, rows.front().epsilon);
    // All four sampled every round (q = 1): no amplification either way.
    EXPECT_NEAR(rows.back().epsilon_coordinator, rows.back().epsilon, 1e-9);
    EXPECT_TRUE(std::isnan(rows.back().train_loss));  // no device's metrics leave it
  }
}

// Impossible pairings fail before any process starts, naming the flags.
TEST(PrivacySimulationTest, ImpossibleCombinationsAreUsageErrors) {
  for (const std::vector<std::string>& flags :
       std::vector<std::vector<std::string>>{{"--dp=distributed"},
                                             {"--dp=central", "--secure=secagg"},
                                             {"--dp=central", "--strategy=median"},
                                             {"--dp=local", "--dp_adaptive_clip"},
                                             {"--dp=sometimes"}}) {
    testing::TempDir dir;
    std::vector<sim::RoundRow> rows;
    std::vector<std::string> args = flags;
    const std::string cmd = absl::StrCat(testing::Bin("fedge-sim"), " ", absl::StrJoin(args, " "),
                                         " --out=", dir.path(), " --data_dir=", kData, " >",
                                         dir.File("log"), " 2>&1");
    const int status = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2) << absl::StrJoin(flags, " ");
    EXPECT_THAT(ReadFile(dir.File("log")).value_or(""), HasSubstr("--dp"))
        << absl::StrJoin(flags, " ");
  }
}

}  // namespace
}  // namespace fedge
