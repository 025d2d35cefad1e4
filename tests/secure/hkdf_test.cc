#include "secure/hkdf.h"

#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/secure/fake_random.h"
#include "tests/testing/status_matchers.h"

namespace fedge::secure {
namespace {

using ::fedge::secure::testing::FromHex;
using ::fedge::secure::testing::ToHex;
using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

const std::vector<uint8_t> kIkm(22, 0x0b);

// RFC 5869 appendix A.1 (test case 1).
TEST(HkdfSha256Test, MatchesRfc5869TestCase1) {
  auto okm = HkdfSha256(FromHex("000102030405060708090a0b0c"), kIkm,
                        FromHex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_THAT(okm, IsOk());
  EXPECT_EQ(ToHex(okm->span()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
            "34007208d5b887185865");
}

// RFC 5869 appendix A.3 (test case 3): empty salt and info.
TEST(HkdfSha256Test, MatchesRfc5869TestCase3) {
  auto okm = HkdfSha256({}, kIkm, {}, 42);
  ASSERT_THAT(okm, IsOk());
  EXPECT_EQ(ToHex(okm->span()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
            "9d201395faa4b61a96c8");
}

TEST(HkdfSha256Test, InfoSeparatesOutputs) {
  const std::vector<uint8_t> a = {'a'};
  const std::vector<uint8_t> b = {'b'};
  auto first = HkdfSha256({}, kIkm, a, 32);
  auto second = HkdfSha256({}, kIkm, b, 32);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_FALSE(first->Equals(second->span()));
}

TEST(HkdfSha256Test, OutputLengthIsBounded) {
  EXPECT_THAT(HkdfSha256({}, kIkm, {}, 0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(HkdfSha256({}, kIkm, {}, kHkdfSha256MaxLength + 1),
              StatusIs(absl::StatusCode::kInvalidArgument, "8161"));
  auto longest = HkdfSha256({}, kIkm, {}, kHkdfSha256MaxLength);
  ASSERT_THAT(longest, IsOk());
  EXPECT_EQ(longest->size(), kHkdfSha256MaxLength);
}

TEST(HkdfSha256Test, EmptyInputKeyingMaterialIsInvalidArgument) {
  EXPECT_THAT(HkdfSha256({}, {}, {}, 32), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace fedge::secure
