#include "data/source.h"

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/idx_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::data {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::fedge::testing::TempDir;

// A float32 .npy file (version 1.0) of `shape` holding `values`.
std::string Npy(const std::vector<int64_t>& shape, const std::vector<float>& values) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ",";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return out;
}

void Write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(SourceTest, DirectoryOfMnistIdxFilesIsSingleChannelImages) {
  TempDir dir;
  testing::WriteSyntheticIdx(dir.path(), "train", 50);
  absl::StatusOr<Dataset> d = LoadDataset(dir.path(), SourceOptions{"train"});
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->size(), 50);
  EXPECT_EQ(d->example_shape, (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(d->storage, Storage::kUint8);
  EXPECT_EQ(d->Target(13), 3);
  absl::StatusOr<Dataset> t = LoadTargets(dir.path(), SourceOptions{"train"});
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->size(), 50);
  EXPECT_TRUE(t->bytes.empty());
  EXPECT_EQ(t->example_shape, (std::vector<int64_t>{1, 28, 28}));
  EXPECT_THAT(LoadDataset(dir.path(), SourceOptions{"t10k"}),
              StatusIs(absl::StatusCode::kNotFound, "t10k-images-idx3-ubyte"));
  testing::WriteBytes(dir.File("train-labels-idx1-ubyte.gz"), testing::IdxLabels({1, 2}), true);
  EXPECT_THAT(LoadDataset(dir.path(), SourceOptions{"train"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "has 50 examples but"));
}

TEST(SourceTest, NpyPairGivesFloatExamplesOfTheirShape) {
  TempDir dir;
  Write(dir.File("x.npy"), Npy({3, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  Write(dir.File("y.npy"), Npy({3}, {0.5f, 1.5f, 2.5f}));
  const std::string source = dir.File("x.npy") + "," + dir.File("y.npy");
  absl::StatusOr<Dataset> d = LoadDataset(source, SourceOptions{});
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->example_shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(d->storage, Storage::kFloat32);
  EXPECT_TRUE(d->target_shape.empty());
  EXPECT_FLOAT_EQ(d->Feature(2, 3), 11);
  EXPECT_FLOAT_EQ(d->Target(1), 1.5f);

  Write(dir.File("y2.npy"), Npy({2}, {0, 1}));
  EXPECT_THAT(LoadDataset(dir.File("x.npy") + "," + dir.File("y2.npy"), SourceOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument, "has 3 examples but"));
}

TEST(SourceTest, CsvTakesItsTargetColumns) {
  TempDir dir;
  Write(dir.File("d.csv"), "a,label,b\n1,0,2\n3,1,4\n");
  absl::StatusOr<Dataset> d = LoadDataset(dir.File("d.csv"), SourceOptions{});
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->example_shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(d->features, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(d->targets, (std::vector<float>{0, 1}));
  SourceOptions other;
  other.target_columns = {"y"};
  EXPECT_THAT(LoadDataset(dir.File("d.csv"), other),
              StatusIs(absl::StatusCode::kInvalidArgument, "y"));
}

TEST(SourceTest, UnknownFormsAreClearErrors) {
  TempDir dir;
  Write(dir.File("x.txt"), "1");
  EXPECT_THAT(LoadDataset(dir.File("x.txt"), SourceOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument, "want a directory of IDX files"));
  EXPECT_THAT(LoadDataset(dir.File("missing"), SourceOptions{}),
              StatusIs(absl::StatusCode::kNotFound, "does not exist"));
  EXPECT_THAT(LoadDataset("a,b,c", SourceOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument, "two files"));
  EXPECT_THAT(LoadDataset(dir.File("x.npy") + "," + dir.File("y"), SourceOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument, "both files must be .npy or both IDX"));
}

}  // namespace
}  // namespace fedge::data
