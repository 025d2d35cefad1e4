// fedge-sim --report: a real run plots itself into OUT/report with gnuplot.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "simulations/results.h"
#include "tests/integration/sim_test_util.h"
#include "tests/testing/temp_dir.h"

namespace fedge {
namespace {

using ::testing::HasSubstr;

TEST(ReportSimulationTest, ATinyRunWithReportPlotsAndSummarisesItself) {
  testing::TempDir dir;
  const std::string metrics =
      testing::RunSim(dir.path(), {"--clients=2", "--rounds=2", "--clients_per_process=2",
                                   "--insecure", "--lr=0.1", "--report"});
  absl::StatusOr<std::vector<sim::RoundRow>> rows = sim::ParseMetrics(metrics);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);

  // The flags as run, for fedge-report's legends and for a rerun.
  absl::StatusOr<std::string> flags = ReadFile(dir.File("flags.txt"));
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_THAT(*flags, HasSubstr("\n--rounds=2\n"));
  EXPECT_THAT(*flags, HasSubstr("\n--lr=0.1\n"));
  EXPECT_THAT(*flags, HasSubstr("# command line: fedge-sim "));

  absl::StatusOr<std::string> md = ReadFile(dir.File("report/report.md"));
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_THAT(*md, HasSubstr(absl::StrFormat(" | 2/2 | %.4f | ", rows->back().test_accuracy)));
  EXPECT_THAT(*md, HasSubstr("--report"));  // the command line under "Flags"
  for (const char* png :
       {"accuracy.png", "loss.png", "accuracy_time.png", "bytes.png", "round_time.png"}) {
    absl::StatusOr<std::string> bytes = ReadFile(dir.File(std::string("report/") + png));
    ASSERT_TRUE(bytes.ok()) << png << ": " << bytes.status();
    EXPECT_EQ(bytes->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << png;
    EXPECT_THAT(*md, HasSubstr(absl::StrCat("](", png, ")")));
  }
}

TEST(ReportSimulationTest, ReportUnderMpiIsRefusedBeforeAnythingRuns) {
  testing::TempDir dir;
  absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(
      {testing::Bin("fedge-sim"), "--launcher=mpi", "--report", "--out=" + dir.path()});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(testing::Finish(*p, absl::Minutes(1)).exit_code, 2);
}

}  // namespace
}  // namespace fedge
