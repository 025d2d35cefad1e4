// fedge-sim --launcher=mpi under a real Open MPI mpirun on this host (3
// ranks: the coordinator on rank 0, client processes on ranks 1 and 2) with
// CURVE and signed models: the result equals a local run of the same seed,
// a usage error ends every rank with exit code 2, and a client process
// killed without an injected fault ends the whole job within seconds.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>


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

using ::fedge::testing::FirstRoundDone;
using ::fedge::testing::IsOk;
using ::testing::HasSubstr;

// One host: the "isolated" launcher needs no ssh; root needs the two
// Open MPI variables (as in CI, which runs as root).
std::vector<std::string> Mpirun(int ranks) {
  return {"/usr/bin/mpirun", "--oversubscribe", "--mca", "plm", "isolated", "-np",
          absl::StrCat(ranks)};
}

const std::vector<std::string> kEnv = {"OMPI_ALLOW_RUN_AS_ROOT=1",
                                       "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"};

std::vector<std::string> SimFlags(const std::string& out) {
  return {testing::Bin("fedge-sim"), "--model=mlp", "--clients=4", "--max_examples=4000",
          "--partition=iid", "--seed=0", "--out=" + out,
          absl::StrCat("--data_dir=", testing::kFashionMnist)};
}

sim::Subprocess Start(std::vector<std::string> argv, const std::string& log) {
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(argv, kEnv, -1, fd, fd);
  ::close(fd);
  EXPECT_THAT(p, IsOk());
  return *std::move(p);
}

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A fedge-client process whose command line contains `needle`; -1 if none.
pid_t ClientWith(const std::string& needle) {
  return testing::FirstProcess([&](pid_t pid) {
    std::string cmdline = testing::ProcFile(pid, "cmdline");
    for (char& c : cmdline) c = c == '\0' ? ' ' : c;
    return cmdline.find("fedge-client") != std::string::npos &&
           cmdline.find(needle) != std::string::npos;
  });
}

TEST(MpiSimulationTest, ThreeRanksOverCurveEqualTheLocalRun) {
  testing::TempDir dir;
  const std::string mpi_out = dir.File("mpi"), local_out = dir.File("local");
  sim::Subprocess mpi =
      Start(Concat(Mpirun(3), Concat(SimFlags(mpi_out), {"--rounds=3", "--launcher=mpi",
                                                         "--advertise_host=127.0.0.1"})),
            dir.File("mpi.log"));
  const sim::ExitInfo e = testing::Finish(mpi, absl::Minutes(4));
  const std::string log = ReadFile(dir.File("mpi.log")).value_or("");
  ASSERT_TRUE(e.ok()) << e.ToString() << log;
  // CURVE with every device enrolled by the public key its rank made: one
  // connection per client process (2 of 2 clients), shared by its clients.
  EXPECT_THAT(log, HasSubstr("2 connections accepted, 0 refused by the allow-list"));
  EXPECT_THAT(log, HasSubstr("on 2 ranks"));
  const std::vector<sim::RoundRow> local =
      testing::RunSimulation(Concat(SimFlags(local_out), {"--rounds=3"}), local_out);
  absl::StatusOr<std::vector<sim::RoundRow>> rows =
      sim::ParseMetrics(ReadFile(mpi_out + "/metrics.jsonl").value_or(""));
  ASSERT_THAT(rows, IsOk());
  ASSERT_EQ(rows->size(), 3u);
  ASSERT_EQ(local.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE((*rows)[i].completed);
    // Same seed, partition and clients: only the order in which updates
    // arrive (float rounding of the fold) may differ.
    EXPECT_NEAR((*rows)[i].test_loss, local[i].test_loss, 2e-3) << "round " << i + 1;
    EXPECT_NEAR((*rows)[i].test_accuracy, local[i].test_accuracy, 3e-3) << "round " << i + 1;
  }
}

TEST(MpiSimulationTest, AUsageErrorEndsEveryRankWithExitCode2) {
  testing::TempDir dir;
  for (const auto& [ranks, flag, message] :
       std::vector<std::tuple<int, std::string, std::string>>{
           {3, "--fraction=2", "--fraction=2: want (0, 1]"},
           {3, "--transport=ipc", "--transport=ipc cannot cross hosts"},
           {1, "--rounds=1", "it needs at least 2"}}) {
    const std::string out = dir.File(absl::StrCat("case", ranks, flag.size()));
    sim::Subprocess p = Start(
        Concat(Mpirun(ranks), Concat(SimFlags(out), {"--launcher=mpi", flag})), out + ".log");
    const sim::ExitInfo e = testing::Finish(p, absl::Minutes(1));
    EXPECT_EQ(e.exit_code, 2) << flag << " " << e.ToString();
    EXPECT_THAT(ReadFile(out + ".log").value_or(""), HasSubstr(message));
  }
}

TEST(MpiSimulationTest, AClientProcessKilledEndsTheWholeJobWithinSeconds) {
  testing::TempDir dir;
  const std::string out = dir.File("sim");
  sim::Subprocess p =
      Start(Concat(Mpirun(3), Concat(SimFlags(out), {"--rounds=500", "--launcher=mpi",
                                                     "--advertise_host=127.0.0.1",
                                                     "--insecure"})),
            dir.File("sim.log"));
  ASSERT_TRUE(FirstRoundDone(out, absl::Minutes(2)));
  const pid_t client = ClientWith(out + "/rank-2/");
  ASSERT_GT(client, 0);
  ASSERT_EQ(::kill(client, SIGKILL), 0);
  const absl::Time killed = absl::Now();
  const sim::ExitInfo e = testing::Finish(p, absl::Seconds(60));
  const double seconds = absl::ToDoubleSeconds(absl::Now() - killed);
  EXPECT_NE(e.exit_code, 0) << e.ToString();
  EXPECT_LT(seconds, 30);
  EXPECT_THAT(ReadFile(dir.File("sim.log")).value_or(""),
              HasSubstr(absl::StrCat("(pid ", client, ") killed by signal 9")));
  std::printf("the job ended %.2f s after a client process was killed\n", seconds);
  // No process of the job is left: every client of rank 1 died with it.
  EXPECT_EQ(ClientWith(out + "/rank-1/"), -1);
}

}  // namespace
}  // namespace fedge
