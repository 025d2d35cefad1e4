#include "data/idx.h"

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

TEST(IdxTest, ReadsGzipAndPlainImages) {
  TempDir dir;
  for (bool gz : {true, false}) {
    std::string path = dir.File(gz ? "a.gz" : "a");
    testing::WriteBytes(path, testing::IdxImages(2, 2, 3, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}), gz);
    absl::StatusOr<IdxArray> d = ReadIdx(path);
    ASSERT_THAT(d, IsOk());
    EXPECT_EQ(d->dims, (std::vector<int64_t>{2, 2, 3}));
    ASSERT_TRUE(d->is_uint8);
    EXPECT_EQ(d->bytes[11], 12);
    EXPECT_THAT(ReadIdxDims(path), IsOk());
  }
}

// Element types other than bytes become float32 values, big-endian decoded.
TEST(IdxTest, ReadsFloatAndIntegerElementsOfAnyRank) {
  TempDir dir;
  std::string f32 = testing::BigEndian32(0x00000D02) + testing::BigEndian32(2) +
                    testing::BigEndian32(1);
  for (float v : {1.5f, -2.25f}) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    f32 += testing::BigEndian32(bits);
  }
  testing::WriteBytes(dir.File("f"), f32, false);
  absl::StatusOr<IdxArray> a = ReadIdx(dir.File("f"));
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->dims, (std::vector<int64_t>{2, 1}));
  EXPECT_FALSE(a->is_uint8);
  EXPECT_EQ(a->values, (std::vector<float>{1.5f, -2.25f}));

  std::string i32 = testing::BigEndian32(0x00000C01) + testing::BigEndian32(2) +
                    testing::BigEndian32(static_cast<uint32_t>(-7)) + testing::BigEndian32(300);
  testing::WriteBytes(dir.File("i"), i32, false);
  a = ReadIdx(dir.File("i"));
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->values, (std::vector<float>{-7.0f, 300.0f}));

  std::string big = testing::BigEndian32(0x00000C01) + testing::BigEndian32(1) +
                    testing::BigEndian32((1u << 24) + 1);
  testing::WriteBytes(dir.File("big"), big, false);
  EXPECT_THAT(ReadIdx(dir.File("big")), StatusIs(absl::StatusCode::kInvalidArgument, "2^24"));
}

TEST(IdxTest, BadHeaderIsRefusedWithThePath) {
  TempDir dir;
  std::string path = dir.File("bad");
  testing::WriteBytes(path, testing::BigEndian32(0x00000703) + testing::BigEndian32(1), false);
  EXPECT_THAT(ReadIdx(path), StatusIs(absl::StatusCode::kInvalidArgument, path));
  testing::WriteBytes(path, testing::BigEndian32(0x01000801) + testing::BigEndian32(1), false);
  EXPECT_THAT(ReadIdx(path), StatusIs(absl::StatusCode::kInvalidArgument, "not an IDX header"));
  // 2^16 x 2^16 x 2^16 bytes: refused before allocating.
  testing::WriteBytes(path,
                      testing::BigEndian32(0x00000803) + testing::BigEndian32(1u << 16) +
                          testing::BigEndian32(1u << 16) + testing::BigEndian32(1u << 16),
                      false);
  EXPECT_THAT(ReadIdx(path), StatusIs(absl::StatusCode::kInvalidArgument, "implausible"));
}

TEST(IdxTest, TruncatedOrTrailingBytesAreDataLoss) {
  TempDir dir;
  std::string bytes = testing::IdxImages(3, 2, 2, std::vector<uint8_t>(12, 7));
  for (bool gz : {true, false}) {
    std::string path = dir.File(gz ? "t.gz" : "t");
    testing::WriteBytes(path, bytes.substr(0, bytes.size() - 1), gz);
    EXPECT_THAT(ReadIdx(path), StatusIs(absl::StatusCode::kDataLoss, "truncated")) << gz;
    testing::WriteBytes(path, bytes.substr(0, 6), gz);
    EXPECT_THAT(ReadIdx(path), StatusIs(absl::StatusCode::kDataLoss)) << gz;
    testing::WriteBytes(path, bytes + "x", gz);
    EXPECT_THAT(ReadIdx(path), StatusIs(absl::StatusCode::kDataLoss, "after the data")) << gz;
  }
}

TEST(IdxTest, MissingFileIsNotFound) {
  EXPECT_THAT(ReadIdx("/nonexistent/x"), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace fedge::data
