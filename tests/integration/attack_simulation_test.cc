// Attackers among the simulated clients, end to end: fedge-sim with real
// coordinator and client processes over real ZeroMQ on the Debian
// Fashion-MNIST files. The attackers send well-formed updates, so only the
// aggregation rule stands between them and the model.

#include <fcntl.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "simulations/results.h"
#include "tests/integration/process_test_util.h"
#include "tests/integration/sim_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge {
namespace {

using ::fedge::testing::IsOk;
using ::testing::Each;
using ::testing::HasSubstr;

struct SimRun {
  std::vector<sim::RoundRow> rows;
  std::string metrics;  // metrics.jsonl
  std::string log;      // fedge-sim's stdout and stderr (with its children's)
};

// 10 clients with 1,000 iid examples each, 3 rounds of the mlp (~3 s).
SimRun RunSim(const std::string& out, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {
      testing::Bin("fedge-sim"), "--clients=10",      "--rounds=3",
      "--max_examples=10000",    "--partition=iid",   "--insecure",
      "--seed=0",                "--out=" + out,      absl::StrCat("--data_dir=", testing::kFashionMnist)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  const std::string log_path = out + "/sim.log";
  const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  EXPECT_GE(fd, 0);
  absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(argv, {}, -1, fd, fd);
  ::close(fd);
  EXPECT_THAT(p, IsOk());
  SimRun run;
  if (!p.ok()) return run;
  const sim::ExitInfo e = testing::Finish(*p, absl::Minutes(3));
  run.log = ReadFile(log_path).value_or("");
  EXPECT_TRUE(e.ok()) << e.ToString() << "\n" << run.log;
  run.metrics = ReadFile(out + "/metrics.jsonl").value_or("");
  absl::StatusOr<std::vector<sim::RoundRow>> rows = sim::ParseMetrics(run.metrics);
  EXPECT_THAT(rows, IsOk());
  if (rows.ok()) run.rows = *rows;
  EXPECT_EQ(run.rows.size(), 3u) << absl::StrJoin(extra, " ");
  return run;
}

double FinalAccuracy(const SimRun& run) {
  return run.rows.empty() ? 0.0 : run.rows.back().test_accuracy;
}

// Two of ten clients boost their update 50-fold. Plain FedAvg follows them
// (measured: 0.20 against 0.58 without attackers after 3 rounds); the
// coordinate-wise median ignores them (0.59).
TEST(AttackSimulationTest, ScaledUpdatesBreakFedAvgButNotTheMedian) {
  const std::vector<std::string> attack = {"--attackers=0.2", "--attack=scale",
                                           "--attack_scale=50"};
  testing::TempDir clean_dir, fedavg_dir, median_dir;
  const SimRun clean = RunSim(clean_dir.path(), {});
  const SimRun fedavg = RunSim(fedavg_dir.path(), attack);
  std::vector<std::string> median_flags = attack;
  median_flags.push_back("--strategy=median");
  const SimRun median = RunSim(median_dir.path(), median_flags);

  EXPECT_GT(FinalAccuracy(clean), 0.45);
  EXPECT_LT(FinalAccuracy(fedavg), FinalAccuracy(clean) - 0.2);
  EXPECT_NEAR(FinalAccuracy(median), FinalAccuracy(clean), 0.08);

  // The attackers' updates are well-formed: every round aggregates all ten
  // clients and the coordinator refuses nothing.
  for (const SimRun* run : {&fedavg, &median}) {
    EXPECT_THAT(testing::Field(run->metrics, "clients"), Each(10));
    EXPECT_THAT(testing::Field(run->metrics, "rejected"), Each(0));
  }
  // The same seed picks the same two attackers, named in attackers.txt and the summary.
  const std::string ids = ReadFile(fedavg_dir.File("attackers.txt")).value_or("");
  const std::vector<std::string> lines = absl::StrSplit(ids, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 2u) << ids;
  EXPECT_EQ(ReadFile(median_dir.File("attackers.txt")).value_or(""), ids);
  EXPECT_EQ(ReadFile(clean_dir.File("attackers.txt")).value_or("?"), "");
  EXPECT_THAT(fedavg.log,
              HasSubstr(absl::StrCat("attackers: 2 of 10 (ids ", absl::StrJoin(lines, ", "),
                                     "), scale x50")));
}

// A backdoor run reports the attack's success next to the clean accuracy in
// metrics.jsonl, results.csv and the summary.
TEST(AttackSimulationTest, BackdoorSuccessIsReportedEveryRound) {
  testing::TempDir dir;
  const SimRun run = RunSim(dir.path(), {"--attackers=0.2", "--attack=backdoor",
                                         "--backdoor_target=0", "--attack_scale=5"});
  for (const sim::RoundRow& r : run.rows) {
    EXPECT_GE(r.backdoor_success, 0.0) << "round " << r.round;  // NaN when absent
    EXPECT_LE(r.backdoor_success, 1.0);
  }
  const std::string csv = ReadFile(dir.File("results.csv")).value_or("");
  EXPECT_THAT(csv, HasSubstr(",backdoor_success,"));
  EXPECT_THAT(run.log, HasSubstr("backdoor success "));
  EXPECT_THAT(run.log, HasSubstr("backdoor x5 (50% of examples -> class 0)"));
}

// Bad attack flags fail before any process starts, naming the flag.
TEST(AttackSimulationTest, BadAttackFlagsAreRefused) {
  testing::TempDir dir;
  for (const auto& [flags, message] : std::vector<std::pair<std::string, std::string>>{
           {"--attackers=0.2 --attack=flipsign", "known attacks: signflip, scale"},
           {"--attackers=0.2", "--attackers needs --attack"},
           {"--attack=scale", "needs --attackers"},
           {"--attackers=1 --attack=scale", "--attackers=1"},
           {"--attackers=0.2 --attack=backdoor --backdoor_target=10", "--backdoor_target=10"}}) {
    const std::string cmd = absl::StrCat(testing::Bin("fedge-sim"), " ", flags, " --insecure --out=",
                                         dir.path(), " >", dir.File("log"), " 2>&1");
    EXPECT_NE(std::system(cmd.c_str()), 0) << flags;
    EXPECT_THAT(ReadFile(dir.File("log")).value_or(""), HasSubstr(message)) << flags;
  }
}

}  // namespace
}  // namespace fedge
