// fedge-sim as a supervisor: partial participation with a quorum of half the
// cohort, usage errors for flags that cannot work together, and fail-fast
// when a child process dies without an injected fault (real processes,
// real signals).

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/file_util.h"
#include "simulations/results.h"
#include "tests/integration/process_test_util.h"
#include "tests/integration/sim_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::ChildNamed;
using ::fedge::testing::FirstRoundDone;
using ::testing::HasSubstr;

struct SimRun {
  sim::Subprocess process;
  std::string log_path;
};

SimRun Start(const std::string& out, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {testing::Bin("fedge-sim"), "--insecure", "--seed=0",
                                   "--max_examples=4000", "--partition=iid",
                                   "--out=" + out,
                                   absl::StrCat("--data_dir=", testing::kFashionMnist)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  const std::string log = out + ".log";
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(argv, {}, -1, fd, fd);
  ::close(fd);
  EXPECT_THAT(p, IsOk());
  return SimRun{*std::move(p), log};
}

TEST(SupervisionTest, AClientProcessKilledWithoutAnInjectedFaultStopsTheRunAtOnce) {
  testing::TempDir dir;
  const std::string out = dir.File("sim");
  SimRun run = Start(out, {"--clients=4", "--clients_per_process=2", "--rounds=500"});
  ASSERT_TRUE(FirstRoundDone(out, absl::Minutes(1)));
  const pid_t client = ChildNamed(run.process.pid(), "fedge-client");
  ASSERT_GT(client, 0);
  ASSERT_EQ(::kill(client, SIGKILL), 0);
  const absl::Time killed = absl::Now();
  // Bounded by far less than the --timeout (2 h) it used to wait for.
  const sim::ExitInfo e = testing::Finish(run.process, absl::Seconds(30));
  const double seconds = absl::ToDoubleSeconds(absl::Now() - killed);
  EXPECT_EQ(e.exit_code, 1) << e.ToString();
  const std::string log = ReadFile(run.log_path).value_or("");
  EXPECT_THAT(log, HasSubstr(absl::StrCat("(pid ", client, ") killed by signal 9 while the "
                                          "coordinator was running")));
  EXPECT_LT(seconds, 30);
  std::printf("stopped %.2f s after the client process was killed\n", seconds);
  // No orphan: the coordinator is gone too.
  EXPECT_EQ(ChildNamed(run.process.pid(), "fedge-coordinat"), -1);
}

TEST(SupervisionTest, ACoordinatorThatDiesStopsTheRunWithItsExitAndLastError) {
  testing::TempDir dir;
  const std::string out = dir.File("sim");
  SimRun run = Start(out, {"--clients=4", "--clients_per_process=2", "--rounds=500"});
  ASSERT_TRUE(FirstRoundDone(out, absl::Minutes(1)));
  // The kernel truncates command names to 15 characters.
  const pid_t coordinator = ChildNamed(run.process.pid(), "fedge-coordinat");
  ASSERT_GT(coordinator, 0);
  ASSERT_EQ(::kill(coordinator, SIGKILL), 0);
  const sim::ExitInfo e = testing::Finish(run.process, absl::Seconds(30));
  EXPECT_EQ(e.exit_code, 1) << e.ToString();
  EXPECT_THAT(ReadFile(run.log_path).value_or(""),
              HasSubstr("the coordinator exited (killed by signal 9) before the simulation "
                        "ended; its last error:"));
}

TEST(SupervisionTest, FlagsThatCannotWorkTogetherAreUsageErrors) {
  testing::TempDir dir;
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--clients=10", "--clients_per_round=20"}, "--clients_per_round=20 exceeds --clients=10"},
      {{"--clients=10", "--clients_per_round=5", "--fraction=0.5"},
       "both set the cohort size; give one"},
      {{"--clients=10", "--fraction=0"}, "--fraction=0: want (0, 1]"},
  };
  int i = 0;
  for (const Case& c : cases) {
    const std::string out = dir.File(absl::StrCat("case", i++));
    SimRun run = Start(out, c.flags);
    const sim::ExitInfo e = testing::Finish(run.process, absl::Seconds(30));
    EXPECT_EQ(e.exit_code, 2) << c.message;
    EXPECT_THAT(ReadFile(run.log_path).value_or(""), HasSubstr(c.message));
  }
}

// With a connection per logical client (--connections=per_client) a process
// cannot host more logical clients than its descriptor limit allows
// (ClientHost needs ~8 each): an explicit --clients_per_process over it is a
// usage error saying the most that fits. (Shared connections need a few
// descriptors per process whatever the number of clients.) The limit is lowered here
// for the child (ctest runs each test in its own process).
TEST(SupervisionTest, ClientsPerProcessBeyondTheDescriptorLimitIsAUsageError) {
  rlimit r{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &r), 0);
  r.rlim_cur = std::min<rlim_t>(r.rlim_cur, 4096);
  r.rlim_max = std::min<rlim_t>(r.rlim_max, 4096);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &r), 0);
  testing::TempDir dir;
  SimRun run = Start(dir.File("out"), {"--clients=10", "--clients_per_process=1000",
                                              "--connections=per_client"});
  const sim::ExitInfo e = testing::Finish(run.process, absl::Seconds(30));
  EXPECT_EQ(e.exit_code, 2);
  const std::string log = ReadFile(run.log_path).value_or("");
  EXPECT_THAT(log, HasSubstr("--clients_per_process=1000 needs ~8096 open descriptors per process"));
  EXPECT_THAT(log, HasSubstr("this machine allows 4096 (ulimit -Hn): use at most 500"));
}

// The cohort is --fraction of the clients (or --clients_per_round) and the
// quorum half of it: 40 clients at 0.25 select 10 a round, 20 clients with
// 4 a round run (both failed before: the quorum was half of all clients).
TEST(SupervisionTest, PartialParticipationSelectsTheCohortItAsksFor) {
  testing::TempDir dir;
  for (const auto& [flags, cohort] :
       std::vector<std::pair<std::vector<std::string>, int>>{
           {{"--clients=40", "--fraction=0.25"}, 10},
           {{"--clients=20", "--clients_per_round=4"}, 4}}) {
    const std::string out = dir.File(absl::StrCat("c", cohort));
    std::vector<std::string> args = flags;
    args.push_back("--rounds=2");
    SimRun run = Start(out, args);
    const sim::ExitInfo e = testing::Finish(run.process, absl::Minutes(3));
    ASSERT_TRUE(e.ok()) << e.ToString() << ReadFile(run.log_path).value_or("");
    const std::string metrics = ReadFile(out + "/metrics.jsonl").value_or("");
    absl::StatusOr<std::vector<sim::RoundRow>> rows = sim::ParseMetrics(metrics);
    ASSERT_THAT(rows, IsOk());
    ASSERT_EQ(rows->size(), 2u);
    for (const sim::RoundRow& r : *rows) EXPECT_EQ(r.clients, cohort);
    EXPECT_THAT(metrics, HasSubstr(absl::StrCat("\"selected\":", cohort, ",")));
  }
}

}  // namespace
}  // namespace fedge
