#include "data/csv.h"

#include <unistd.h>

#include <cmath>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::data {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::vector<std::string> kLabel = {"label"};

// Parses `text` as "d.csv" and expects InvalidArgument whose message starts
// with the file name and contains `part`.
void ExpectRefused(const std::string& text, const std::vector<std::string>& targets,
                   const std::string& part) {
  absl::StatusOr<Dataset> d = ParseCsv(text, targets, "d.csv");
  ASSERT_FALSE(d.ok()) << "accepted: " << text;
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << d.status();
  EXPECT_TRUE(absl::StartsWith(d.status().message(), "d.csv: ")) << d.status();
  EXPECT_THAT(std::string(d.status().message()), HasSubstr(part));
}

TEST(CsvTest, SplitsFeaturesAndTarget) {
  absl::StatusOr<Dataset> d = ParseCsv("a,label,b\n1,0,2\n3,1,4\n", kLabel, "d.csv");
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->storage, Storage::kFloat32);
  EXPECT_THAT(d->example_shape, ElementsAre(2));
  EXPECT_THAT(d->features, ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(d->target_shape, IsEmpty());
  EXPECT_THAT(d->targets, ElementsAre(0, 1));
  EXPECT_TRUE(d->bytes.empty());
  EXPECT_EQ(d->size(), 2);
}

TEST(CsvTest, TwoTargetColumnsInTheOrderGiven) {
  absl::StatusOr<Dataset> d = ParseCsv("y1,x,y2\n1,2,3\n4,5,6", {"y2", "y1"}, "d.csv");
  ASSERT_THAT(d, IsOk());
  EXPECT_THAT(d->example_shape, ElementsAre(1));
  EXPECT_THAT(d->features, ElementsAre(2, 5));
  EXPECT_THAT(d->target_shape, ElementsAre(2));
  EXPECT_THAT(d->targets, ElementsAre(3, 1, 6, 4));
  EXPECT_EQ(d->size(), 2);
}

TEST(CsvTest, AcceptsCrlfSpacesAndNoFinalNewline) {
  for (const std::string text : {"x , label\r\n 1.5 ,\t-2e1 \r\n+3, 1\r\n", "x,label\n1.5,-20\n3,1",
                                 "\xEF\xBB\xBFx,label\n1.5,-20\n3,1\n"}) {
    absl::StatusOr<Dataset> d = ParseCsv(text, kLabel, "d.csv");
    ASSERT_THAT(d, IsOk()) << text;
    EXPECT_THAT(d->features, ElementsAre(1.5f, 3.0f));
    EXPECT_THAT(d->targets, ElementsAre(-20.0f, 1.0f));
  }
}

TEST(CsvTest, NanAndInfParseForALaterCheck) {
  absl::StatusOr<Dataset> d = ParseCsv("x,label\nnan,1\ninf,-inf\n1e999,0\n", kLabel, "d.csv");
  ASSERT_THAT(d, IsOk());
  EXPECT_TRUE(std::isnan(d->features[0]));
  EXPECT_TRUE(std::isinf(d->features[1]));
  EXPECT_TRUE(std::isinf(d->targets[1]) && d->targets[1] < 0);
  EXPECT_TRUE(std::isinf(d->features[2]));
}

TEST(CsvTest, MissingTargetColumnListsTheColumns) {
  ExpectRefused("a, b ,c\n1,2,3\n", kLabel, "no target column 'label' (columns: 'a', 'b', 'c')");
  ExpectRefused("a,label\n1,2\n", {"label", "y"}, "no target column 'y'");
  std::string wide = "c0";
  for (int i = 1; i < 100; ++i) wide += ",c" + std::to_string(i);
  ExpectRefused(wide + "\n", kLabel, "'c29', ... (100 in all)");
}

TEST(CsvTest, RefusesBadTargetRequests) {
  ExpectRefused("a,label\n1,2\n", {}, "no target column was requested");
  ExpectRefused("a,label\n1,2\n", {"label", "label"}, "target column 'label' is requested twice");
  ExpectRefused("label\n1\n", kLabel, "no feature columns");
  ExpectRefused("y,label\n1,2\n", {"y", "label"}, "no feature columns");
}

TEST(CsvTest, RefusesBadHeaders) {
  ExpectRefused("a,b,a,label\n1,2,3,4\n", kLabel,
                "line 1: column name 'a' appears twice (columns 1 and 3)");
  ExpectRefused(",a,label\n0,1,2\n", kLabel, "line 1, column 1: the column has no name");
  ExpectRefused("a,,label\n0,1,2\n", kLabel, "line 1, column 2");
  ExpectRefused("a,\"label\"\n1,2\n", kLabel, "line 1, column 2: quoted fields are not supported");
  ExpectRefused("", kLabel, "the file is empty");
  ExpectRefused("\na,label\n1,2\n", kLabel, "line 1 is empty");
  ExpectRefused(std::string(kMaxCsvColumns, ',') + "\n", kLabel, "over the limit of 65536");
}

TEST(CsvTest, RefusesBadValuesNamingLineAndColumn) {
  ExpectRefused("a,label\n1,2\nx,3\n", kLabel, "line 3, column 'a': 'x' is not a number");
  ExpectRefused("a,label\n1,2\n1.5x,3\n", kLabel, "line 3, column 'a': '1.5x' is not a number");
  ExpectRefused("a,label\n1 2,3\n", kLabel, "line 2, column 'a': '1 2' is not a number");
  ExpectRefused("a,label\n1,2.3.4\n", kLabel, "line 2, column 'label': '2.3.4' is not");
  ExpectRefused("a,label\n1,\n", kLabel, "line 2, column 'label': empty value");
  ExpectRefused("a,label\n\"1\",2\n", kLabel,
                "line 2, column 'a': quoted fields are not supported");
  ExpectRefused("a,label\n" + std::string(100, '7') + "z,1\n", kLabel, "7777...' is not a number");
}

TEST(CsvTest, RefusesRowsOfTheWrongWidth) {
  ExpectRefused("a,b,label\n1,2,3\n1,2\n", kLabel, "line 3 has 2 fields, want 3");
  ExpectRefused("a,b,label\n1,2,3,4\n", kLabel, "line 2 has 4 fields, want 3");
}

TEST(CsvTest, RefusesEmptyLinesButOneFinalNewline) {
  ExpectRefused("a,label\n1,2\n\n3,4\n", kLabel, "line 3 is empty");
  ExpectRefused("a,label\n1,2\n\n", kLabel, "line 3 is empty");
  ExpectRefused("a,label\r\n1,2\r\n\r\n", kLabel, "line 3 is empty");
  EXPECT_THAT(ParseCsv("a,label\n1,2\n", kLabel, "d.csv"), IsOk());
}

TEST(CsvTest, RefusesAHeaderWithoutExamples) {
  ExpectRefused("a,label\n", kLabel, "no examples");
  ExpectRefused("a,label", kLabel, "no examples");
}

TEST(CsvTest, ReadsAFileAndNamesMissingOnes) {
  testing::TempDir dir;
  const std::string path = dir.File("d.csv");
  std::ofstream(path, std::ios::binary) << "x,label\n1,0\n2,1\n";
  absl::StatusOr<Dataset> d = ReadCsv(path, kLabel);
  ASSERT_THAT(d, IsOk());
  EXPECT_THAT(d->features, ElementsAre(1, 2));
  EXPECT_THAT(d->targets, ElementsAre(0, 1));

  std::ofstream(path, std::ios::binary) << "x,y\n1,0\n";
  EXPECT_THAT(ReadCsv(path, kLabel),
              StatusIs(absl::StatusCode::kInvalidArgument, path + ": no target column 'label'"));
  EXPECT_THAT(ReadCsv(dir.File("missing.csv"), kLabel),
              StatusIs(absl::StatusCode::kNotFound, dir.File("missing.csv") + ": cannot read"));
}

TEST(CsvTest, RefusesAnOversizedFileBeforeReadingIt) {
  testing::TempDir dir;
  const std::string path = dir.File("big.csv");
  std::ofstream(path, std::ios::binary) << "x,label\n1,0\n";
  // Sparse: no disk space is used, and the size check comes before any read.
  if (::truncate(path.c_str(), static_cast<off_t>(kMaxCsvBytes + 1)) != 0) {
    GTEST_SKIP() << "cannot make a sparse file under " << dir.path();
  }
  EXPECT_THAT(ReadCsv(path, kLabel), StatusIs(absl::StatusCode::kFailedPrecondition, path));
}

}  // namespace
}  // namespace fedge::data
