#include "data/npy.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::data {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The bytes of `values` as this (little-endian) machine holds them.
template <typename T>
std::string Bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

std::string Dict(const std::string& descr, const std::string& shape,
                 const std::string& fortran = "False") {
  return absl::StrCat("{'descr': '", descr, "', 'fortran_order': ", fortran, ", 'shape': ", shape,
                      ", }");
}

// A file as numpy writes it: the header padded with spaces to a multiple of
// 64 bytes and ended with a newline. `major` 1 has a u16 header length, 2 and
// 3 a u32.
std::string Npy(const std::string& dict, const std::string& data, int major = 1) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string file("\x93NUMPY", 6);
  file += static_cast<char>(major);
  file += '\0';
  for (size_t i = 0; i < prefix - 8; ++i)
    file += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return file + header + data;
}

// Parses `file` as "x.npy" and expects a refusal with `code` whose message
// starts with the file name and contains `part`.
void ExpectRefused(const std::string& file, absl::StatusCode code, const std::string& part) {
  absl::StatusOr<NpyArray> a = ParseNpy(file, "x.npy");
  ASSERT_FALSE(a.ok()) << "accepted: " << part;
  EXPECT_EQ(a.status().code(), code) << a.status();
  EXPECT_TRUE(absl::StartsWith(a.status().message(), "x.npy: ")) << a.status();
  EXPECT_THAT(std::string(a.status().message()), HasSubstr(part));
}

TEST(NpyTest, ReadsFloat32) {
  absl::StatusOr<NpyArray> a =
      ParseNpy(Npy(Dict("<f4", "(2, 3)"), Bytes<float>({1, 2, 3, 4, 5, -6.5f})), "x.npy");
  ASSERT_THAT(a, IsOk());
  EXPECT_THAT(a->shape, ElementsAre(2, 3));
  EXPECT_FALSE(a->is_uint8);
  EXPECT_THAT(a->values, ElementsAre(1, 2, 3, 4, 5, -6.5f));
  EXPECT_TRUE(a->bytes.empty());
  EXPECT_EQ(a->NumElements(), 6);
}

TEST(NpyTest, NarrowsFloat64) {
  const double big = 1e300;
  absl::StatusOr<NpyArray> a =
      ParseNpy(Npy(Dict("<f8", "(4,)"), Bytes<double>({0.25, -3, big, -big})), "x.npy");
  ASSERT_THAT(a, IsOk());
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_THAT(a->values, ElementsAre(0.25f, -3.0f, inf, -inf));
}

TEST(NpyTest, ConvertsEachIntegerType) {
  const std::vector<float> want = {-128, 0, 127};
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"|i1", Bytes<int8_t>({-128, 0, 127})},
      {"<i2", Bytes<int16_t>({-128, 0, 127})},
      {"<i4", Bytes<int32_t>({-128, 0, 127})},
      {"<i8", Bytes<int64_t>({-128, 0, 127})},
  };
  for (const auto& [descr, data] : cases) {
    absl::StatusOr<NpyArray> a = ParseNpy(Npy(Dict(descr, "(3,)"), data), "x.npy");
    ASSERT_THAT(a, IsOk()) << descr;
    EXPECT_EQ(a->values, want) << descr;
  }
}

TEST(NpyTest, IntegersUpTo2To24AreExact) {
  const int64_t limit = int64_t{1} << 24;
  absl::StatusOr<NpyArray> a =
      ParseNpy(Npy(Dict("<i8", "(2,)"), Bytes<int64_t>({limit, -limit})), "x.npy");
  ASSERT_THAT(a, IsOk());
  EXPECT_THAT(a->values, ElementsAre(16777216.0f, -16777216.0f));
}

TEST(NpyTest, KeepsUint8AndBoolAsBytes) {
  absl::StatusOr<NpyArray> u =
      ParseNpy(Npy(Dict("|u1", "(2, 2)"), Bytes<uint8_t>({0, 7, 200, 255})), "x.npy");
  ASSERT_THAT(u, IsOk());
  EXPECT_TRUE(u->is_uint8);
  EXPECT_THAT(u->bytes, ElementsAre(0, 7, 200, 255));
  EXPECT_TRUE(u->values.empty());
  absl::StatusOr<NpyArray> b =
      ParseNpy(Npy(Dict("|b1", "(3,)"), Bytes<uint8_t>({1, 0, 1})), "x.npy");
  ASSERT_THAT(b, IsOk());
  EXPECT_TRUE(b->is_uint8);
  EXPECT_THAT(b->bytes, ElementsAre(1, 0, 1));
}

TEST(NpyTest, NativeByteOrderIsLittleEndian) {
  absl::StatusOr<NpyArray> a = ParseNpy(Npy(Dict("=f4", "(1,)"), Bytes<float>({2.5f})), "x.npy");
  ASSERT_THAT(a, IsOk());
  EXPECT_THAT(a->values, ElementsAre(2.5f));
  EXPECT_THAT(ParseNpy(Npy(Dict("=i2", "(1,)"), Bytes<int16_t>({-2})), "x.npy"), IsOk());
}

TEST(NpyTest, ReadsVersion2And3Headers) {
  for (int major : {2, 3}) {
    absl::StatusOr<NpyArray> a =
        ParseNpy(Npy(Dict("<f4", "(2,)"), Bytes<float>({1, 2}), major), "x.npy");
    ASSERT_THAT(a, IsOk()) << major;
    EXPECT_THAT(a->values, ElementsAre(1, 2));
  }
}

TEST(NpyTest, ReadsZeroOneAndThreeDimensionalShapes) {
  absl::StatusOr<NpyArray> scalar = ParseNpy(Npy(Dict("<f4", "()"), Bytes<float>({7})), "x.npy");
  ASSERT_THAT(scalar, IsOk());
  EXPECT_TRUE(scalar->shape.empty());
  EXPECT_EQ(scalar->NumElements(), 1);
  EXPECT_THAT(scalar->values, ElementsAre(7));

  absl::StatusOr<NpyArray> vector =
      ParseNpy(Npy(Dict("<f4", "(3,)"), Bytes<float>({1, 2, 3})), "x.npy");
  ASSERT_THAT(vector, IsOk());
  EXPECT_THAT(vector->shape, ElementsAre(3));

  std::vector<uint8_t> cube(24);
  for (size_t i = 0; i < cube.size(); ++i) cube[i] = static_cast<uint8_t>(i);
  absl::StatusOr<NpyArray> c = ParseNpy(Npy(Dict("|u1", "(2, 3, 4)"), Bytes(cube)), "x.npy");
  ASSERT_THAT(c, IsOk());
  EXPECT_THAT(c->shape, ElementsAre(2, 3, 4));
  EXPECT_EQ(c->bytes, cube);

  absl::StatusOr<NpyArray> empty = ParseNpy(Npy(Dict("<f4", "(0, 3)"), ""), "x.npy");
  ASSERT_THAT(empty, IsOk());
  EXPECT_EQ(empty->NumElements(), 0);
}

TEST(NpyTest, AcceptsEveryDictSpelling) {
  const std::string data = Bytes<float>({1, 2});
  for (const std::string& dict : {
           std::string("{'shape': (2,), 'descr': '<f4', 'fortran_order': False}"),
           std::string("{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,)}"),
           std::string("{'descr':'<f4','fortran_order':False,'shape':(2,),}"),
           std::string("{ 'descr' : '<f4' , 'fortran_order' : False , 'shape' : ( 1 , 2 , ) }"),
           std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }"),
       }) {
    absl::StatusOr<NpyArray> a = ParseNpy(Npy(dict, data), "x.npy");
    ASSERT_THAT(a, IsOk()) << dict;
    EXPECT_EQ(a->NumElements(), 2) << dict;
  }
}

TEST(NpyTest, RefusesBadMagicAndVersion) {
  const std::string good = Npy(Dict("<f4", "(1,)"), Bytes<float>({1}));
  ExpectRefused("", absl::StatusCode::kInvalidArgument, "not a .npy file");
  ExpectRefused("PK\x03\x04 a zip file", absl::StatusCode::kInvalidArgument, "not a .npy file");
  std::string v4 = good;
  v4[6] = 4;
  ExpectRefused(v4, absl::StatusCode::kInvalidArgument, "version 4.0 is not supported");
  std::string v11 = good;
  v11[7] = 1;
  ExpectRefused(v11, absl::StatusCode::kInvalidArgument, "version 1.1 is not supported");
}

TEST(NpyTest, TruncatedFileIsDataLoss) {
  const std::string good = Npy(Dict("<f4", "(2,)"), Bytes<float>({1, 2}));
  ExpectRefused(good.substr(0, 7), absl::StatusCode::kDataLoss, "truncated after the .npy magic");
  ExpectRefused(good.substr(0, 9), absl::StatusCode::kDataLoss, "header length");
  ExpectRefused(good.substr(0, 40), absl::StatusCode::kDataLoss,
                "too short for its 118-byte .npy header");
  ExpectRefused(good.substr(0, good.size() - 1), absl::StatusCode::kDataLoss,
                "data is 7 bytes, want 8 for shape (2,) of '<f4'");
}

TEST(NpyTest, ExtraBytesAreDataLoss) {
  ExpectRefused(Npy(Dict("<f4", "(2, 1)"), Bytes<float>({1, 2, 3})), absl::StatusCode::kDataLoss,
                "data is 12 bytes, want 8 for shape (2, 1)");
  ExpectRefused(Npy(Dict("<f4", "()"), ""), absl::StatusCode::kDataLoss, "data is 0 bytes, want 4");
}

TEST(NpyTest, RefusesFortranOrder) {
  ExpectRefused(Npy(Dict("<f4", "(1, 2)", "True"), Bytes<float>({1, 2})),
                absl::StatusCode::kInvalidArgument, "np.ascontiguousarray");
}

TEST(NpyTest, RefusesBigEndian) {
  ExpectRefused(Npy(Dict(">f4", "(1,)"), Bytes<float>({1})), absl::StatusCode::kInvalidArgument,
                "dtype '>f4' is big-endian");
  ExpectRefused(Npy(Dict(">i8", "(1,)"), Bytes<int64_t>({1})), absl::StatusCode::kInvalidArgument,
                "a.astype('<i8')");
}

TEST(NpyTest, RefusesUnknownDtypes) {
  for (const char* descr : {"<f2", "<c8", "<u4", "<U3", "|O", "|S5", "<M8[ns]", "|f4", "", "f4"}) {
    ExpectRefused(Npy(Dict(descr, "(1,)"), "1234"), absl::StatusCode::kInvalidArgument,
                  absl::StrCat("dtype '", descr, "' is not supported"));
  }
  ExpectRefused(Npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", "1234"),
                absl::StatusCode::kInvalidArgument, "structured");
}

TEST(NpyTest, RefusesHeaderOverTheLimit) {
  std::string file("\x93NUMPY\x02\x00", 8);
  const uint32_t length = kMaxNpyHeaderBytes + 1;
  file.append(reinterpret_cast<const char*>(&length), 4);
  file += Dict("<f4", "(1,)");
  file.append(length - Dict("<f4", "(1,)").size() - 1, ' ');
  file += "\n1234";
  ExpectRefused(file, absl::StatusCode::kInvalidArgument, "over the limit of 65536");
  std::string huge("\x93NUMPY\x02\x00\xff\xff\xff\xff", 12);
  ExpectRefused(huge, absl::StatusCode::kInvalidArgument, "header is 4294967295 bytes");
}

TEST(NpyTest, RefusesOverflowingShapes) {
  ExpectRefused(Npy(Dict("<f4", "(1099511627776, 1099511627776)"), ""),
                absl::StatusCode::kInvalidArgument, "over the limit of 4294967296 bytes");
  ExpectRefused(Npy(Dict("<f4", "(0, 4294967296)"), ""), absl::StatusCode::kInvalidArgument,
                "over the limit");
  ExpectRefused(Npy(Dict("<f4", "(99999999999999999999,)"), ""), absl::StatusCode::kInvalidArgument,
                "does not fit 64 bits");
  ExpectRefused(Npy(Dict("<f4", "(-1,)"), ""), absl::StatusCode::kInvalidArgument,
                "negative dimension");
  std::string deep = "(";
  for (int i = 0; i < 65; ++i) deep += "1,";
  ExpectRefused(Npy(Dict("<f4", deep + ")"), "1234"), absl::StatusCode::kInvalidArgument,
                "more than 64 dimensions");
}

TEST(NpyTest, RefusesIntegersBeyond2To24NamingTheElement) {
  const int64_t over = (int64_t{1} << 24) + 1;
  ExpectRefused(Npy(Dict("<i8", "(3,)"), Bytes<int64_t>({0, 1, over})),
                absl::StatusCode::kInvalidArgument, "integer element 2 is 16777217, beyond 2^24");
  ExpectRefused(Npy(Dict("<i4", "(2,)"), Bytes<int32_t>({-static_cast<int32_t>(over), 0})),
                absl::StatusCode::kInvalidArgument, "element 0 is -16777217");
  ExpectRefused(Npy(Dict("<i8", "(1,)"), Bytes<int64_t>({std::numeric_limits<int64_t>::min()})),
                absl::StatusCode::kInvalidArgument, "element 0");
}

TEST(NpyTest, RefusesBoolBytesOtherThanZeroAndOne) {
  ExpectRefused(Npy(Dict("|b1", "(2,)"), Bytes<uint8_t>({1, 2})),
                absl::StatusCode::kInvalidArgument, "bool element 1 is 2");
}

TEST(NpyTest, RefusesMissingDuplicateAndUnknownKeys) {
  const std::string data = Bytes<float>({1});
  ExpectRefused(Npy("{'descr': '<f4', 'shape': (1,), }", data), absl::StatusCode::kInvalidArgument,
                "missing key 'fortran_order'");
  ExpectRefused(Npy("{}", data), absl::StatusCode::kInvalidArgument, "missing key 'descr'");
  ExpectRefused(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'shape': (1,)}", data),
                absl::StatusCode::kInvalidArgument, "key 'shape' appears twice");
  ExpectRefused(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", data),
                absl::StatusCode::kInvalidArgument, "unknown key 'x'");
}

TEST(NpyTest, RefusesBadHeaderSyntax) {
  const std::string data = Bytes<float>({1});
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{'descr': '<f4', 'fortran_order': false, 'shape': (1,)}", "expected True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1)}", "trailing comma"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", "expected '('"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", "expected '}'"},
      {"{'descr' '<f4', 'fortran_order': False, 'shape': (1,)}", "expected ':'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", "after the closing '}'"},
      {"{'descr': '<f4', 'fortran_order': False 'shape': (1,)}", "expected '}'"},
      {"{'descr': '<f\\4', 'fortran_order': False, 'shape': (1,)}", "escapes"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "expected '}'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,),, }", "expected a quoted string"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (,)}", "expected a dimension"},
      {"{'descr: '<f4', 'fortran_order': False, 'shape': (1,)}", "unknown key"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x}", "unterminated string"},
  };
  for (const auto& [dict, part] : cases) {
    SCOPED_TRACE(dict);
    ExpectRefused(Npy(dict, data), absl::StatusCode::kInvalidArgument, part);
  }
  std::string no_newline = Npy(Dict("<f4", "(1,)"), data);
  no_newline[no_newline.size() - data.size() - 1] = ' ';
  ExpectRefused(no_newline, absl::StatusCode::kInvalidArgument, "does not end with a newline");
}

TEST(NpyTest, ReadsAFileAndNamesMissingOnes) {
  testing::TempDir dir;
  const std::string path = dir.File("a.npy");
  std::ofstream(path, std::ios::binary) << Npy(Dict("<f4", "(2,)"), Bytes<float>({3, 4}));
  absl::StatusOr<NpyArray> a = ReadNpy(path);
  ASSERT_THAT(a, IsOk());
  EXPECT_THAT(a->values, ElementsAre(3, 4));

  std::ofstream(path, std::ios::binary) << "not numpy";
  EXPECT_THAT(ReadNpy(path),
              StatusIs(absl::StatusCode::kInvalidArgument, path + ": not a .npy file"));
  EXPECT_THAT(ReadNpy(dir.File("missing.npy")),
              StatusIs(absl::StatusCode::kNotFound, dir.File("missing.npy") + ": cannot read"));
}

TEST(NpyTest, RefusesAnOversizedFileBeforeReadingIt) {
  testing::TempDir dir;
  const std::string path = dir.File("big.npy");
  std::ofstream(path, std::ios::binary) << Npy(Dict("<f4", "(1,)"), Bytes<float>({1}));
  // Sparse: no disk space is used, and the size check comes before any read.
  if (::truncate(path.c_str(), static_cast<off_t>(kMaxNpyBytes + kMaxNpyHeaderBytes + 13)) != 0) {
    GTEST_SKIP() << "cannot make a sparse file under " << dir.path();
  }
  EXPECT_THAT(ReadNpy(path), StatusIs(absl::StatusCode::kFailedPrecondition, path));
}

// Real numpy output, when the system Python has numpy (Debian python3-numpy).
TEST(NpyTest, ReadsWhatNumpyWrites) {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 cannot import numpy";
  }
  testing::TempDir dir;
  const std::string script =
      absl::StrCat("import numpy as np; d = '", dir.path(), "'; ",
                   "np.save(d + '/f.npy', (np.arange(6, dtype=np.float32) - 2.5).reshape(2, 3)); ",
                   "np.save(d + '/i.npy', np.array([-7, 0, 2**24], dtype=np.int64)); ",
                   "np.save(d + '/u.npy', np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10)");
  ASSERT_EQ(std::system(absl::StrCat("/usr/bin/python3 -c \"", script, "\"").c_str()), 0);

  absl::StatusOr<NpyArray> f = ReadNpy(dir.File("f.npy"));
  ASSERT_THAT(f, IsOk());
  EXPECT_THAT(f->shape, ElementsAre(2, 3));
  EXPECT_THAT(f->values, ElementsAre(-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f));

  absl::StatusOr<NpyArray> i = ReadNpy(dir.File("i.npy"));
  ASSERT_THAT(i, IsOk());
  EXPECT_THAT(i->shape, ElementsAre(3));
  EXPECT_THAT(i->values, ElementsAre(-7, 0, 16777216));

  absl::StatusOr<NpyArray> u = ReadNpy(dir.File("u.npy"));
  ASSERT_THAT(u, IsOk());
  EXPECT_THAT(u->shape, ElementsAre(2, 3, 4));
  ASSERT_EQ(u->bytes.size(), 24u);
  for (size_t k = 0; k < 24; ++k) EXPECT_EQ(u->bytes[k], k * 10) << k;
}

}  // namespace
}  // namespace fedge::data
