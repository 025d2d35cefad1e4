// fedge-sim --mode=async (FedBuff) with the real binaries: every version is
// made from exactly --buffer updates while slower devices' updates arrive
// stale; --max_staleness refuses the too old; a coordinator SIGKILLed after
// a version's checkpoint resumes and publishes each version once, and no
// client ever sees a rollback; a client process killed while training costs
// only its tasks; impossible pairings are usage errors.

#include <numeric>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "simulations/results.h"
#include "tests/integration/sim_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::testing {
namespace {

int64_t Sum(const std::vector<int64_t>& v) { return std::accumulate(v.begin(), v.end(), 0ll); }

TEST(AsyncSimulationTest, EveryVersionFoldsTheBufferAndSlowDevicesArriveStale) {
  TempDir dir;
  const std::string metrics =
      RunSim(dir.path(), {"--clients=8", "--clients_per_process=4", "--rounds=8", "--insecure",
                          "--mode=async", "--concurrency=4", "--buffer=2",
                          "--device_profile=slow=0.5:4", "--seed=3"});
  absl::StatusOr<std::vector<sim::RoundRow>> rows = sim::ParseMetrics(metrics);
  ASSERT_THAT(rows, IsOk());
  ASSERT_EQ(rows->size(), 8u) << metrics;
  for (const sim::RoundRow& r : *rows) {
    EXPECT_TRUE(r.completed) << metrics;
    EXPECT_EQ(r.clients, 2) << metrics;
  }
  EXPECT_THAT(Field(metrics, "model_version"), ::testing::ElementsAre(1, 2, 3, 4, 5, 6, 7, 8));
  // Four in flight, two per version: the two left over are at least one
  // version stale when they land.
  EXPECT_GT(Sum(Field(metrics, "staleness_max")), 0) << metrics;
  EXPECT_EQ(Sum(Field(metrics, "stale_refused")), 0) << metrics;  // max_staleness 20
  // The last version is evaluated before the run ends.
  EXPECT_TRUE(std::isfinite(rows->back().test_accuracy)) << metrics;
  EXPECT_GT(rows->back().test_accuracy, 0.3) << metrics;  // chance is 0.1
  EXPECT_EQ(Field(metrics, "elapsed_seconds").size(), 8u);
}

TEST(AsyncSimulationTest, UpdatesOlderThanMaxStalenessAreRefusedAndTheRunGoesOn) {
  TempDir dir;
  const std::string metrics =
      RunSim(dir.path(), {"--clients=6", "--clients_per_process=3", "--rounds=5", "--insecure",
                          "--mode=async", "--concurrency=4", "--buffer=1",
                          "--max_staleness=0", "--seed=1"});
  absl::StatusOr<std::vector<sim::RoundRow>> rows = sim::ParseMetrics(metrics);
  ASSERT_THAT(rows, IsOk());
  ASSERT_EQ(rows->size(), 5u) << metrics;
  EXPECT_EQ(Sum(Field(metrics, "staleness_max")), 0) << metrics;  // only fresh ones folded
  EXPECT_GT(Sum(Field(metrics, "stale_refused")), 0) << metrics;
  EXPECT_THAT(ReadFile(dir.File("sim.log")).value_or(""), ::testing::HasSubstr("STALE"));
}

// The coordinator dies right after version 2's checkpoint, with tasks in
// flight; restarted, it continues at version 3. The in-flight updates reach
// a coordinator that never sent those tasks and are refused, so every
// version still folds exactly --buffer updates and none is published twice.
TEST(AsyncSimulationTest, CoordinatorKilledAfterACheckpointPublishesEachVersionOnce) {
  TempDir dir;
  const std::string metrics =
      RunSim(dir.path(), {"--clients=6", "--clients_per_process=3", "--rounds=6", "--mode=async",
                          "--concurrency=3", "--buffer=2", "--kill_coordinator_at_round=2"});
  EXPECT_THAT(Field(metrics, "round"), ::testing::ElementsAre(1, 2, 3, 4, 5, 6)) << metrics;
  EXPECT_THAT(Field(metrics, "model_version"), ::testing::ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_THAT(Field(metrics, "clients"), ::testing::Each(2));
  const std::string log = ReadFile(dir.File("sim.log")).value_or("");
  EXPECT_THAT(log, ::testing::HasSubstr("resumed from"));
  EXPECT_THAT(log, ::testing::HasSubstr("0 tasks refused by clients (bad signature or rollback)"));
}

// A client process SIGKILLed while training: its tasks are dropped (its
// connection is gone, or it falls silent) and their slots go to others;
// every version still folds exactly --buffer updates. The live processes
// upload 1 s after training (--stragglers=1), so the 16 updates take ~5 s:
// the run outlasts the doomed process's start-up and its silence (10 x
// 200 ms) even on a loaded machine. Without the delay one process once
// made every update before the doomed one had begun training, and the run
// ended before the kill.
TEST(AsyncSimulationTest, AClientProcessKilledWhileTrainingLosesOnlyItsTasks) {
  TempDir dir;
  const std::string metrics = RunSim(
      dir.path(), {"--clients=8", "--clients_per_process=2", "--rounds=8", "--insecure",
                   "--mode=async", "--concurrency=8", "--buffer=2", "--kill_clients=0.25",
                   "--kill_phase=training", "--kill_round=1", "--heartbeat_interval=200ms",
                   "--stragglers=1", "--straggler_delay=1s"});
  EXPECT_THAT(Field(metrics, "model_version"), ::testing::ElementsAre(1, 2, 3, 4, 5, 6, 7, 8));
  EXPECT_THAT(Field(metrics, "clients"), ::testing::Each(2));
  // Every client has a task from the start (concurrency 8), so the doomed
  // process dies in its first; the coordinator takes its tasks back.
  const std::string log = ReadFile(dir.File("sim.log")).value_or("");
  EXPECT_THAT(log, ::testing::HasSubstr("SIGKILL while training in round 1"));
  EXPECT_THAT(log, ::testing::HasSubstr("lost its task"));
}

TEST(AsyncSimulationTest, ImpossiblePairingsAreUsageErrors) {
  TempDir dir;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--mode=async", "--secure"}, "--mode=async cannot run with --secure"},
      {{"--mode=async", "--strategy=scaffold"}, "--strategy=scaffold cannot run with --mode=async"},
      {{"--buffer=3"}, "--buffer applies only with --mode=async"},
      {{"--mode=later"}, "--mode=later: want sync or async"},
      {{"--mode=async", "--buffer=0"}, "--buffer must be at least 1"},
  };
  for (const auto& [flags, message] : cases) {
    std::vector<std::string> argv = {"--clients=2", "--rounds=1", "--insecure"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    ExpectUsageError(dir.path(), argv, message);
  }
}

}  // namespace
}  // namespace fedge::testing
