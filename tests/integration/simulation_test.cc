// Runs fedge-sim end to end: real coordinator and client processes over real
// ZeroMQ sockets on the Debian Fashion-MNIST files.

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "absl/strings/str_split.h"
#include "base/id_list.h"
#include "simulations/results.h"
#include "tests/integration/process_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge {
namespace {

using ::fedge::testing::IsOk;

constexpr char kData[] = "/usr/share/datasets/fashion-mnist";

std::vector<sim::RoundRow> RunSim(const std::string& out, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {testing::Bin("fedge-sim"), "--model=mlp", "--clients=3",
                                   "--rounds=2", "--max_examples=3000", "--partition=iid",
                                   "--clients_per_process=2", "--out=" + out,
                                   absl::StrCat("--data_dir=", kData)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return testing::RunSimulation(argv, out);
}

void ExpectTwoGoodRounds(const std::vector<sim::RoundRow>& rows) {
  ASSERT_EQ(rows.size(), 2u);
  for (const sim::RoundRow& r : rows) {
    EXPECT_TRUE(r.completed);
    EXPECT_EQ(r.clients, 3);
    // 199,210 float32 weights up per client, plus envelopes; down, once per
    // client process (2, each on one shared connection; the third client's
    // task names the model by reference).
    EXPECT_GT(r.bytes_up, 3 * 199210 * 4);
    EXPECT_GT(r.bytes_down, 2 * 199210 * 4);
    EXPECT_LT(r.bytes_down, 3 * 199210 * 4);
  }
  // Two rounds on 3000 examples: far better than chance (0.1).
  EXPECT_GT(rows.back().test_accuracy, 0.5);
}

TEST(SimulationTest, ThreeClientsTwoRoundsOverTcp) {
  testing::TempDir dir;
  ExpectTwoGoodRounds(RunSim(dir.path(), {"--transport=tcp"}));
  absl::StatusOr<std::string> csv = ReadFile(dir.File("results.csv"));
  ASSERT_THAT(csv, IsOk());
  EXPECT_THAT(*csv, ::testing::HasSubstr("test_accuracy"));
  absl::StatusOr<std::string> partition = ReadFile(dir.File("partition.txt"));
  ASSERT_THAT(partition, IsOk());
  EXPECT_EQ(std::count(partition->begin(), partition->end(), '\n'), 3);
}

TEST(SimulationTest, ThreeClientsTwoRoundsOverIpc) {
  testing::TempDir dir;
  ExpectTwoGoodRounds(RunSim(dir.path(), {"--transport=ipc"}));
}

TEST(SimulationTest, SameSeedGivesTheSameAccuracy) {
  testing::TempDir a, b;
  auto ra = RunSim(a.path(), {"--seed=7", "--partition=dirichlet:0.5"});
  auto rb = RunSim(b.path(), {"--seed=7", "--partition=dirichlet:0.5"});
  ASSERT_EQ(ra.size(), 2u);
  ASSERT_EQ(rb.size(), 2u);
  EXPECT_NEAR(ra.back().test_accuracy, rb.back().test_accuracy, 0.002);
}

TEST(SimulationTest, CurveIsTheDefaultWithOneEnrolledKeyPerClientProcess) {
  testing::TempDir dir;
  ExpectTwoGoodRounds(RunSim(dir.path(), {}));
  // 3 clients, 2 per process: two devices, each enrolled for its own ids
  // (grouped by example count, so which two share a process depends on the
  // partition): 2 ids on one line, 1 on the other, each id once.
  absl::StatusOr<std::string> allow = ReadFile(dir.File("keys/allowlist.txt"));
  ASSERT_THAT(allow, IsOk());
  EXPECT_THAT(*allow, ::testing::ContainsRegex("[0-9a-f]{64} [0-2],[0-2]\n"));
  EXPECT_THAT(*allow, ::testing::ContainsRegex("[0-9a-f]{64} [0-2]\n"));
  std::vector<uint64_t> enrolled;
  for (absl::string_view line : absl::StrSplit(*allow, '\n', absl::SkipEmpty())) {
    if (line[0] == '#') continue;
    absl::StatusOr<std::vector<uint64_t>> ids =
        ParseIdList(line.substr(line.rfind(' ') + 1), "allowlist");
    ASSERT_THAT(ids, IsOk()) << line;
    enrolled.insert(enrolled.end(), ids->begin(), ids->end());
  }
  std::sort(enrolled.begin(), enrolled.end());
  EXPECT_EQ(enrolled, (std::vector<uint64_t>{0, 1, 2}));
  for (const char* secret : {"keys/coordinator.key", "keys/device-0.key", "keys/device-1.key"}) {
    struct stat st;
    ASSERT_EQ(::stat(dir.File(secret).c_str(), &st), 0) << secret;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << secret;
  }
}

TEST(SimulationTest, InsecureRunsOverPlainTcpWithoutKeys) {
  testing::TempDir dir;
  ExpectTwoGoodRounds(RunSim(dir.path(), {"--insecure"}));
  struct stat st;
  EXPECT_NE(::stat(dir.File("keys").c_str(), &st), 0);
}

// A connection per client, as devices have: each client's task carries the
// model, and the run learns the same.
TEST(SimulationTest, PerClientConnectionsEachCarryTheModel) {
  testing::TempDir dir;
  const std::vector<sim::RoundRow> rows = RunSim(dir.path(), {"--connections=per_client"});
  ASSERT_EQ(rows.size(), 2u);
  for (const sim::RoundRow& r : rows) {
    EXPECT_TRUE(r.completed);
    EXPECT_GT(r.bytes_down, 3 * 199210 * 4);
  }
  EXPECT_GT(rows.back().test_accuracy, 0.5);
}

// One client process with two training threads (--train_threads=2) hosts
// all three clients: the model goes down once, and the run learns what the
// one-thread run of the same seed and partition learns, to within the
// rounding of the updates' arrival order.
TEST(SimulationTest, TwoTrainingThreadsInOneProcessLearnTheSame) {
  testing::TempDir one, two;
  const std::vector<std::string> same = {"--seed=7", "--partition=dirichlet:0.5", "--insecure"};
  std::vector<std::string> threaded = same;
  threaded.insert(threaded.end(), {"--clients_per_process=3", "--train_threads=2"});
  const std::vector<sim::RoundRow> a = RunSim(one.path(), same);
  const std::vector<sim::RoundRow> b = RunSim(two.path(), threaded);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(b[i].completed);
    EXPECT_EQ(b[i].clients, 3);
    EXPECT_LT(b[i].bytes_down, 2 * 199210 * 4);  // one process, one connection
    EXPECT_NEAR(b[i].test_accuracy, a[i].test_accuracy, 3e-3) << "round " << i + 1;
  }
}

TEST(SimulationTest, ZeroTrainingThreadsIsAUsageErrorNamingTheFlag) {
  testing::TempDir dir;
  testing::CapturedOutput err(dir.File("stderr"));
  absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(
      {testing::Bin("fedge-sim"), "--train_threads=0", "--out=" + dir.File("out"),
       absl::StrCat("--data_dir=", kData)},
      {}, -1, -1, err.fd());
  ASSERT_THAT(p, IsOk());
  sim::ExitInfo e = testing::Finish(*p, absl::Minutes(1));
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_THAT(err.Read(), ::testing::HasSubstr("--train_threads=0: want 1 to 256"));
}

TEST(SimulationTest, BadFlagsFailWithAClearError) {
  testing::TempDir dir;
  absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(
      {testing::Bin("fedge-sim"), "--partition=zipf", "--out=" + dir.path(),
       absl::StrCat("--data_dir=", kData)});
  ASSERT_THAT(p, IsOk());
  sim::ExitInfo e = testing::Finish(*p, absl::Minutes(1));
  EXPECT_EQ(e.exit_code, 2);  // a usage error
}

}  // namespace
}  // namespace fedge
