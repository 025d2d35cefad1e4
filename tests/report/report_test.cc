// fedge-report on synthetic run directories, drawn by the real gnuplot
// (gnuplot-nox): PNGs of the asked size, the summary, the legends, errors.

#include "report/report.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "report/gnuplot.h"
#include "report/run_data.h"
#include "simulations/subprocess.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::report {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Line(int round, double accuracy, double loss, double seconds) {
  return absl::StrCat("{\"round\":", round,
                      ",\"completed\":true,\"model_version\":1,\"selected\":4,\"clients\":4,"
                      "\"dropped\":0,\"rejected\":0,\"round_seconds\":",
                      seconds,
                      ",\"bytes_up\":3187840,\"bytes_down\":3189232,\"train_loss\":", loss * 0.9,
                      ",\"test_accuracy\":", accuracy, ",\"test_loss\":", loss, "}\n");
}

std::string Flags(const std::string& out, const std::string& lr) {
  return absl::StrCat("# The run's flags\n# command line: fedge-sim --rounds=3 --lr=", lr,
                      " --out=", out, "\n--clients=4\n--lr=", lr, "\n--out=", out,
                      "\n--rounds=3\n");
}

// Two three-round runs that differ in --lr (and --out, which says nothing).
class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    a_ = MakeRun("slow", Line(1, 0.5, 1.5, 2.0) + Line(2, 0.6, 1.2, 1.0) + Line(3, 0.65, 1.0, 1.0),
                 "0.05");
    b_ = MakeRun("fast", Line(1, 0.55, 1.4, 2.0) + Line(2, 0.7, 1.0, 1.0) + Line(3, 0.75, 0.8, 1.0),
                 "0.1");
  }

  std::string MakeRun(const std::string& name, const std::string& metrics,
                      const std::string& lr = "") {
    const std::string run = dir_.File(name);
    EXPECT_THAT(MakeDirs(run), IsOk());
    EXPECT_THAT(WriteFileAtomically(run + "/metrics.jsonl", metrics), IsOk());
    if (!lr.empty()) {
      EXPECT_THAT(WriteFileAtomically(run + "/flags.txt", Flags(run, lr)), IsOk());
    }
    return run;
  }

  std::string Read(const std::string& path) {
    absl::StatusOr<std::string> text = ReadFile(path);
    EXPECT_THAT(text, IsOk());
    return text.ok() ? *text : "";
  }

  ReportOptions Options() {
    ReportOptions o;
    o.out = dir_.File("report");
    return o;
  }

  testing::TempDir dir_;
  std::string a_, b_;
};

uint32_t BigEndian32(const std::string& s, size_t at) {
  return static_cast<uint32_t>(static_cast<unsigned char>(s[at])) << 24 |
         static_cast<uint32_t>(static_cast<unsigned char>(s[at + 1])) << 16 |
         static_cast<uint32_t>(static_cast<unsigned char>(s[at + 2])) << 8 |
         static_cast<uint32_t>(static_cast<unsigned char>(s[at + 3]));
}

// A PNG starts with its 8-byte signature and the IHDR chunk, whose first
// fields are the width and height.
void ExpectPng(const std::string& bytes, uint32_t width, uint32_t height, const std::string& what) {
  ASSERT_GE(bytes.size(), 24u) << what;
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << what;
  EXPECT_EQ(bytes.substr(12, 4), "IHDR") << what;
  EXPECT_EQ(BigEndian32(bytes, 16), width) << what;
  EXPECT_EQ(BigEndian32(bytes, 20), height) << what;
}

TEST_F(ReportTest, WritesEveryPlotAsAPngOfTheAskedSize) {
  ReportOptions o = Options();
  o.width = 640;
  o.height = 400;
  absl::StatusOr<ReportResult> r = WriteReport({a_, b_}, o);
  ASSERT_THAT(r, IsOk());
  ASSERT_EQ(r->images.size(), PlotNames().size());
  for (const auto& [file, title] : PlotNames()) {
    ExpectPng(Read(o.out + "/" + file), 640, 400, file);
  }
  const std::string md = Read(r->markdown);
  for (const auto& [file, title] : PlotNames()) {
    EXPECT_THAT(md, HasSubstr(absl::StrCat("![", title, "](", file, ")")));
  }
}

TEST_F(ReportTest, SummaryListsBothRunsWithTheirFinalAndBestAccuracy) {
  absl::StatusOr<ReportResult> r = WriteReport({a_, b_}, Options());
  ASSERT_THAT(r, IsOk());
  const std::string md = Read(r->markdown);
  // # | run | legend | rounds | final accuracy | best (round) | final loss | mean round s | time s
  EXPECT_THAT(md, HasSubstr(absl::StrCat("| 1 | `", a_,
                                         "` | lr=0.05 | 3/3 | 0.6500 | 0.6500 (3) | "
                                         "1.0000 | 1.33 | 4.0 | 3.19 / 3.19 |")));
  EXPECT_THAT(md, HasSubstr(absl::StrCat("| 2 | `", b_,
                                         "` | lr=0.1 | 3/3 | 0.7500 | 0.7500 (3) | "
                                         "0.8000 | 1.33 | 4.0 |")));
  EXPECT_THAT(md, HasSubstr("`fedge-sim --rounds=3 --lr=0.1 --out="));
}

TEST_F(ReportTest, LegendHoldsOnlyTheFlagThatDiffers) {
  ASSERT_THAT(WriteReport({a_, b_}, Options()), IsOk());
  const std::string script = Read(Options().out + "/plots.gp");
  EXPECT_THAT(script, HasSubstr("title 'lr=0.05'"));
  EXPECT_THAT(script, HasSubstr("title 'lr=0.1'"));
  // One key entry per run and plot: dashed companions (training loss, bytes
  // down) have none.
  size_t entries = 0;
  for (size_t at = 0; (at = script.find("title 'lr=0.1'", at)) != std::string::npos; ++at) {
    ++entries;
  }
  EXPECT_EQ(entries, PlotNames().size());
  EXPECT_THAT(script, Not(HasSubstr("rounds=")));
  EXPECT_THAT(script, Not(HasSubstr("out=")));
}

TEST_F(ReportTest, FailedRoundsAndRunsWithoutRoundsAreReportedNotPlottedAsNumbers) {
  // A round that failed (no accuracy; the coordinator writes its training
  // loss as 0), then one that completed.
  const std::string failed =
      MakeRun("failed",
              "{\"round\":1,\"completed\":false,\"clients\":1,\"round_seconds\":10,\"bytes_up\":5,"
              "\"bytes_down\":7,\"train_loss\":0.000000}\n" +
                  Line(2, 0.4, 2.0, 1.0));
  const std::string empty = MakeRun("empty", "");
  absl::StatusOr<ReportResult> r = WriteReport({failed, empty}, Options());
  ASSERT_THAT(r, IsOk());
  const std::string md = Read(r->markdown);
  EXPECT_THAT(md, HasSubstr("| failed | 1/2 | 0.4000 | 0.4000 (2) |"));
  EXPECT_THAT(md, HasSubstr("| empty | 0/0 | - | - | - | - | 0.0 |"));
  EXPECT_THAT(md, HasSubstr("Run 2 recorded no rounds."));
  // Neither run has flags: the directory names label them.
  const std::string data = Read(Options().out + "/run-1.dat");
  EXPECT_THAT(data, HasSubstr("\n1 10 NaN NaN NaN 10 5e-06 7e-06 NaN\n"));
  EXPECT_THAT(Read(Options().out + "/plots.gp"), Not(HasSubstr("run-2.dat")));
}

TEST_F(ReportTest, APlotNoRunHasDataForIsLeftOutAndSaidSo) {
  const std::string regression =
      MakeRun("regression",
              "{\"round\":1,\"completed\":true,\"clients\":2,\"round_seconds\":1,\"bytes_up\":5,"
              "\"bytes_down\":7,\"test_loss\":0.3,\"test_mse\":0.3}\n");
  ASSERT_THAT(MakeDirs(Options().out), IsOk());
  ASSERT_THAT(WriteFileAtomically(Options().out + "/accuracy.png", "stale"), IsOk());
  absl::StatusOr<ReportResult> r = WriteReport({regression}, Options());
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->images.size(), PlotNames().size() - 2);  // no accuracy, no accuracy_time
  EXPECT_FALSE(StatFile(Options().out + "/accuracy.png").ok()) << "an old plot survived";
  EXPECT_THAT(Read(r->markdown),
              HasSubstr("No accuracy.png: no completed round of any run has its accuracy"));
}

TEST_F(ReportTest, MalformedMetricsNameTheFileAndLine) {
  const std::string bad = MakeRun("bad", Line(1, 0.5, 1.0, 1.0) + "{\"round\":2,\"completed\n");
  EXPECT_THAT(WriteReport({a_, bad}, Options()),
              StatusIs(absl::StatusCode::kDataLoss, bad + "/metrics.jsonl: metrics line 2"));
}

TEST_F(ReportTest, MalformedFlagsNameTheFileAndLine) {
  ASSERT_THAT(WriteFileAtomically(a_ + "/flags.txt", "# ok\n--rounds=3\nrounds 3\n"), IsOk());
  EXPECT_THAT(WriteReport({a_}, Options()),
              StatusIs(absl::StatusCode::kDataLoss, a_ + "/flags.txt line 3"));
}

TEST_F(ReportTest, ADirectoryWithoutMetricsIsNotARun) {
  ASSERT_THAT(MakeDirs(dir_.File("nothing")), IsOk());
  EXPECT_THAT(WriteReport({dir_.File("nothing")}, Options()),
              StatusIs(absl::StatusCode::kNotFound, dir_.File("nothing") + "/metrics.jsonl"));
  EXPECT_THAT(WriteReport({dir_.File("absent")}, Options()),
              StatusIs(absl::StatusCode::kNotFound, "no such directory"));
  EXPECT_THAT(WriteReport({}, Options()), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(GnuplotTest, MissingGnuplotSaysWhatToInstall) {
  EXPECT_THAT(FindGnuplot("/nonexistent:/also-not"),
              StatusIs(absl::StatusCode::kFailedPrecondition, "apt-get install gnuplot-nox"));
  EXPECT_THAT(FindGnuplot("/nonexistent:/usr/bin"), IsOk());
}

TEST(GnuplotTest, AFailingScriptReturnsGnuplotsOwnError) {
  testing::TempDir dir;
  ASSERT_THAT(WriteFileAtomically(dir.File("bad.gp"), "set terminal pngcairo\nfrobnicate 3\n"),
              IsOk());
  absl::StatusOr<std::string> gnuplot = FindGnuplot("/usr/bin:/bin");
  ASSERT_THAT(gnuplot, IsOk());
  absl::StatusOr<std::string> r = RunGnuplot(*gnuplot, dir.path(), "bad.gp");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInternal, "exit code 1"));
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInternal, "frobnicate"));
}

// fedge-report itself: exit codes, and errors on stderr that name the file.
class ReportBinaryTest : public ReportTest {
 protected:
  int Run(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {std::string(FEDGE_BIN_DIR) + "/fedge-report"};
    argv.insert(argv.end(), args.begin(), args.end());
    const int fd =
        ::open(dir_.File("stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    EXPECT_GE(fd, 0);
    absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(argv, {}, -1, fd, fd);
    ::close(fd);
    EXPECT_THAT(p, IsOk());
    if (!p.ok()) return -1;
    std::optional<sim::ExitInfo> e = p->Wait(absl::Seconds(60));
    if (!e) p->Kill(SIGKILL);
    EXPECT_TRUE(e.has_value());
    stderr_ = Read(dir_.File("stderr"));
    return e ? e->exit_code : -1;
  }
  std::string stderr_;
};

TEST_F(ReportBinaryTest, WritesIntoTheFirstRunsReportDirectoryByDefault) {
  EXPECT_EQ(Run({a_, b_}), 0) << stderr_;
  EXPECT_THAT(Read(a_ + "/report/report.md"), HasSubstr("lr=0.1"));
}

TEST_F(ReportBinaryTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Run({}), 2);
  EXPECT_THAT(stderr_, HasSubstr("usage: fedge-report"));
  EXPECT_EQ(Run({"--colour=red", a_}), 2);
  EXPECT_THAT(stderr_, HasSubstr("--colour=red"));
  EXPECT_EQ(Run({"--size=big", a_}), 2);
  EXPECT_EQ(Run({dir_.path()}), 2);
  EXPECT_THAT(stderr_, HasSubstr(dir_.path() + "/metrics.jsonl: no such file"));
}

TEST_F(ReportBinaryTest, UnparseableMetricsExitOneNamingFileAndLine) {
  ASSERT_THAT(WriteFileAtomically(b_ + "/metrics.jsonl", Line(1, 0.5, 1.0, 1.0) + "oops\n"),
              IsOk());
  EXPECT_EQ(Run({"--out", dir_.File("r"), a_, b_}), 1);
  EXPECT_THAT(stderr_, HasSubstr(b_ + "/metrics.jsonl: metrics line 2 is malformed"));
}

}  // namespace
}  // namespace fedge::report
