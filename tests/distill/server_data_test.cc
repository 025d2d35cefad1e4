#include "distill/server_data.h"

#include <cstdio>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/npy.h"
#include "tests/testing/idx_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::distill {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::HasSubstr;

constexpr size_t kPixels = 28 * 28;

TEST(ServerDataTest, ReadsTheImagesWithoutTouchingTheLabels) {
  fedge::testing::TempDir dir;
  fedge::testing::WriteSyntheticIdx(dir.path(), "train", 40);
  absl::StatusOr<data::UnlabelledData> intact = LoadServerData({dir.path()});
  ASSERT_THAT(intact, IsOk());
  // Labels that no reader could parse: the labelled loader fails, the
  // unlabelled one does not notice, and without the file neither does it.
  std::ofstream(dir.File("train-labels-idx1-ubyte.gz"), std::ios::binary) << "not IDX at all";
  EXPECT_FALSE(data::LoadDataset(dir.path(), {"train"}).ok());
  absl::StatusOr<data::UnlabelledData> corrupt = LoadServerData({dir.path()});
  ASSERT_THAT(corrupt, IsOk());
  std::remove(dir.File("train-labels-idx1-ubyte.gz").c_str());
  absl::StatusOr<data::UnlabelledData> missing = LoadServerData({dir.path()});
  ASSERT_THAT(missing, IsOk());
  for (const data::UnlabelledData* d : {&*intact, &*corrupt, &*missing}) {
    EXPECT_EQ(d->size(), 40);
    EXPECT_EQ(d->example_shape, (std::vector<int64_t>{1, 28, 28}));
    EXPECT_EQ(d->storage, data::Storage::kUint8);
    EXPECT_EQ(d->bytes, intact->bytes);
  }
}

TEST(ServerDataTest, TakesTheRequestedSlice) {
  fedge::testing::TempDir dir;
  fedge::testing::WriteSyntheticIdx(dir.path(), "train", 40);
  absl::StatusOr<data::UnlabelledData> all = LoadServerData({dir.path()});
  ASSERT_THAT(all, IsOk());
  ServerDataSpec spec{dir.path(), "train", 10, 5};
  absl::StatusOr<data::UnlabelledData> slice = LoadServerData(spec);
  ASSERT_THAT(slice, IsOk());
  ASSERT_EQ(slice->size(), 5);
  EXPECT_TRUE(std::equal(slice->bytes.begin(), slice->bytes.end(),
                         all->bytes.begin() + 10 * kPixels));
  spec.count = 0;  // the rest
  EXPECT_EQ(LoadServerData(spec)->size(), 30);
  spec.offset = 38;
  spec.count = 3;
  EXPECT_THAT(LoadServerData(spec), StatusIs(absl::StatusCode::kOutOfRange, "40"));
  spec.offset = -1;
  EXPECT_THAT(LoadServerData(spec), StatusIs(absl::StatusCode::kOutOfRange));
}

TEST(ServerDataTest, FeatureFilesAloneOrPairedButNeverCsv) {
  fedge::testing::TempDir dir;
  std::ofstream(dir.File("x.npy"), std::ios::binary)
      << data::FormatNpy({3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  absl::StatusOr<data::UnlabelledData> lone = LoadServerData({dir.File("x.npy")});
  ASSERT_THAT(lone, IsOk());
  EXPECT_EQ(lone->example_shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(lone->features[5], 5.0f);
  // The targets file of a pair is not opened: it does not even exist here.
  EXPECT_THAT(LoadServerData({dir.File("x.npy") + "," + dir.File("absent.npy")}), IsOk());
  std::ofstream(dir.File("t.csv")) << "a,label\n1,0\n";
  EXPECT_THAT(LoadServerData({dir.File("t.csv")}),
              StatusIs(absl::StatusCode::kInvalidArgument, "CSV"));
  EXPECT_THAT(LoadServerData({dir.File("nothing")}), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace fedge::distill
