#include "client/dataset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/idx_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::client {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::fedge::testing::TempDir;

TEST(DatasetTest, ReadsGzipAndPlainIdx) {
  TempDir dir;
  for (bool gz : {true, false}) {
    std::string path = dir.File(gz ? "a.gz" : "a");
    testing::WriteBytes(path, testing::IdxImages(2, 2, 3, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}), gz);
    absl::StatusOr<Dataset> d = ReadIdxImages(path);
    ASSERT_THAT(d, IsOk());
    EXPECT_EQ(d->size(), 2);
    EXPECT_EQ(d->rows, 2);
    EXPECT_EQ(d->cols, 3);
    EXPECT_EQ(d->pixels[11], 12);
  }
}

TEST(DatasetTest, WrongMagicIsRefusedWithThePath) {
  TempDir dir;
  std::string path = dir.File("labels");
  testing::WriteBytes(path, testing::IdxLabels({1, 2, 3}), false);
  EXPECT_THAT(ReadIdxImages(path), StatusIs(absl::StatusCode::kInvalidArgument, path));
  EXPECT_THAT(ReadIdxLabels(path), IsOk());
}

TEST(DatasetTest, TruncatedFileIsDataLoss) {
  TempDir dir;
  std::string bytes = testing::IdxImages(3, 2, 2, std::vector<uint8_t>(12, 7));
  for (bool gz : {true, false}) {
    std::string path = dir.File(gz ? "t.gz" : "t");
    testing::WriteBytes(path, bytes.substr(0, bytes.size() - 1), gz);
    EXPECT_THAT(ReadIdxImages(path), StatusIs(absl::StatusCode::kDataLoss, "truncated")) << gz;
    testing::WriteBytes(path, bytes.substr(0, 6), gz);
    EXPECT_THAT(ReadIdxImages(path), StatusIs(absl::StatusCode::kDataLoss)) << gz;
  }
}

TEST(DatasetTest, MissingFileIsNotFound) {
  EXPECT_THAT(ReadIdxLabels("/nonexistent/x"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(LoadIdxDataset("/nonexistent", "train"), StatusIs(absl::StatusCode::kNotFound));
}

TEST(DatasetTest, LoadsAPairAndChecksCounts) {
  TempDir dir;
  testing::WriteSyntheticIdx(dir.path(), "train", 50);
  absl::StatusOr<Dataset> d = LoadIdxDataset(dir.path(), "train");
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->size(), 50);
  EXPECT_EQ(d->labels[13], 3);
  testing::WriteBytes(dir.File("train-labels-idx1-ubyte.gz"), testing::IdxLabels({1, 2}), true);
  EXPECT_THAT(LoadIdxDataset(dir.path(), "train"),
              StatusIs(absl::StatusCode::kInvalidArgument, "labels"));
}

TEST(DatasetTest, SubsetPicksExamplesAndChecksIndices) {
  Dataset d;
  d.rows = 1;
  d.cols = 2;
  d.pixels = {1, 2, 3, 4, 5, 6};
  d.labels = {7, 8, 9};
  absl::StatusOr<Dataset> s = Subset(d, std::vector<int64_t>{2, 0});
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->pixels, (std::vector<uint8_t>{5, 6, 1, 2}));
  EXPECT_EQ(s->labels, (std::vector<uint8_t>{9, 7}));
  EXPECT_THAT(Subset(d, std::vector<int64_t>{3}), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(Subset(d, std::vector<int64_t>{-1}), StatusIs(absl::StatusCode::kOutOfRange));
}

}  // namespace
}  // namespace fedge::client
