// flags.txt (written by fedge-sim, read by fedge-report) and the legends
// made from it.

#include "report/run_flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "tests/testing/status_matchers.h"

ABSL_FLAG(int, report_test_rounds, 7, "a flag of this test's own");

namespace fedge::report {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Pair;

TEST(RunFlagsTest, FormatAndParseRoundTrip) {
  RunFlags in{"fedge-sim --lr=0.1 '--partition_file=a b'",
              {{"lr", "0.1"}, {"partition_file", "a b"}, {"test_data", ""}}};
  absl::StatusOr<RunFlags> out = ParseRunFlags(FormatRunFlags(in), "flags.txt");
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(out->command_line, in.command_line);
  EXPECT_EQ(out->values, in.values);
}

TEST(RunFlagsTest, ParseNamesTheBadLine) {
  EXPECT_THAT(ParseRunFlags("# c\n--a=1\n--=2\n", "run/flags.txt"),
              StatusIs(absl::StatusCode::kInvalidArgument, "run/flags.txt line 3"));
  EXPECT_THAT(ParseRunFlags("--a=1\n-b=2\n", "f"),
              StatusIs(absl::StatusCode::kInvalidArgument, "f line 2"));
  EXPECT_THAT(ParseRunFlags("--a\n", "f"),
              StatusIs(absl::StatusCode::kInvalidArgument, "f line 1"));
}

TEST(RunFlagsTest, CommandLineQuotesWhatAShellWouldSplit) {
  char a0[] = "/x/build/bin/fedge-sim", a1[] = "--rounds=3", a2[] = "--out=my run",
       a3[] = "--model=it's";
  char* argv[] = {a0, a1, a2, a3};
  EXPECT_EQ(CommandLine(4, argv), "fedge-sim --rounds=3 '--out=my run' '--model=it'\\''s'");
}

TEST(RunFlagsTest, CurrentValuesComeFromTheChosenFilesOnly) {
  absl::SetFlag(&FLAGS_report_test_rounds, 9);
  auto values = CurrentFlagValues(
      [](absl::string_view file) { return absl::EndsWith(file, "run_flags_test.cc"); });
  EXPECT_THAT(values, ElementsAre(Pair("report_test_rounds", "9")));
}

TEST(LegendsTest, OnlyFlagsThatDifferAndNeverTheOutputDirectory) {
  RunFlags a{"", {{"clients", "4"}, {"lr", "0.05"}, {"out", "a"}, {"rounds", "3"}}};
  RunFlags b{"", {{"clients", "4"}, {"lr", "0.1"}, {"out", "b"}, {"rounds", "5"}}};
  EXPECT_THAT(Legends({&a, &b}, {"da", "db"}),
              ElementsAre("lr=0.05, rounds=3", "lr=0.1, rounds=5"));
}

TEST(LegendsTest, AFlagOnlyOneRunHasCountsAsUnsetInTheOther) {
  RunFlags a{"", {{"lr", "0.1"}}};
  RunFlags b{"", {{"lr", "0.1"}, {"compress", "int8"}}};
  EXPECT_THAT(Legends({&a, &b}, {"da", "db"}), ElementsAre("compress=unset", "compress=int8"));
}

TEST(LegendsTest, DirectoryNamesLabelRunsWithoutFlagsOrDifferences) {
  RunFlags a{"", {{"lr", "0.1"}}};
  EXPECT_THAT(Legends({&a, &a}, {"first", "second"}), ElementsAre("first", "second"));
  EXPECT_THAT(Legends({&a, nullptr}, {"first", "second"}), ElementsAre("first", "second"));
  EXPECT_THAT(Legends({&a}, {"only"}), ElementsAre("only"));
}

TEST(LegendsTest, EntriesAreCutAndStayDistinct) {
  RunFlags a{"", {{"train_data", std::string(100, 'a') + "1"}}};
  RunFlags b{"", {{"train_data", std::string(100, 'a') + "2"}}};
  std::vector<std::string> l = Legends({&a, &b}, {"x", "x"}, 40);
  EXPECT_EQ(l[0].size(), 40u);
  EXPECT_TRUE(absl::EndsWith(l[0], "...")) << l[0];
  EXPECT_EQ(l[1], l[0] + " (run 2)");
  EXPECT_THAT(Legends({nullptr, nullptr}, {"sim-out", "sim-out"}),
              ElementsAre("sim-out", "sim-out (run 2)"));
}

}  // namespace
}  // namespace fedge::report
