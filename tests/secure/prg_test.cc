#include "secure/prg.h"

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

std::vector<uint8_t> Seed(uint8_t fill) { return std::vector<uint8_t>(AesCtrPrng::kSeedSize, fill); }

std::vector<uint8_t> Stream(AesCtrPrng& prng, size_t n) {
  std::vector<uint8_t> out(n);
  EXPECT_THAT(prng.Fill(absl::MakeSpan(out)), IsOk());
  return out;
}

// NIST SP 800-38A appendix F.5.5, CTR-AES256.Encrypt: keystream XOR
// plaintext must give the published ciphertext.
TEST(PrgTest, MatchesNistSp800_38aF55) {
  auto prng = AesCtrPrng::CreateWithCounterForTesting(
      FromHex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"),
      FromHex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"));
  ASSERT_THAT(prng, IsOk());
  const std::vector<uint8_t> plaintext = FromHex(
      "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
      "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
  std::vector<uint8_t> ciphertext = Stream(*prng, plaintext.size());
  for (size_t i = 0; i < plaintext.size(); ++i) ciphertext[i] ^= plaintext[i];
  EXPECT_EQ(ToHex(ciphertext),
            "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
            "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6");
}

TEST(PrgTest, StartsAtTheZeroCounterBlock) {
  auto prng = AesCtrPrng::Create(Seed(7));
  auto explicit_zero = AesCtrPrng::CreateWithCounterForTesting(Seed(7), std::vector<uint8_t>(16));
  ASSERT_THAT(prng, IsOk());
  ASSERT_THAT(explicit_zero, IsOk());
  EXPECT_EQ(Stream(*prng, 100), Stream(*explicit_zero, 100));
}

TEST(PrgTest, SameSeedGivesTheSameStream) {
  auto a = AesCtrPrng::Create(Seed(1));
  auto b = AesCtrPrng::Create(Seed(1));
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(Stream(*a, 4096), Stream(*b, 4096));
}

TEST(PrgTest, DifferentSeedsGiveDifferentStreams) {
  std::vector<uint8_t> other = Seed(1);
  other[31] ^= 1;
  auto a = AesCtrPrng::Create(Seed(1));
  auto b = AesCtrPrng::Create(other);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_NE(Stream(*a, 64), Stream(*b, 64));
}

TEST(PrgTest, StreamDoesNotDependOnHowItIsRequested) {
  auto whole = AesCtrPrng::Create(Seed(3));
  auto pieces = AesCtrPrng::Create(Seed(3));
  ASSERT_THAT(whole, IsOk());
  ASSERT_THAT(pieces, IsOk());
  // Crosses block boundaries and the 16 KiB internal chunk.
  const size_t total = 3 * 16384 + 77;
  const std::vector<uint8_t> expected = Stream(*whole, total);
  std::vector<uint8_t> got;
  for (size_t n : {3, 13, 1, 16384, 5, 20000, 12000}) {
    const std::vector<uint8_t> part = Stream(*pieces, n);
    got.insert(got.end(), part.begin(), part.end());
  }
  const std::vector<uint8_t> rest = Stream(*pieces, total - got.size());
  got.insert(got.end(), rest.begin(), rest.end());
  EXPECT_EQ(got, expected);
}

TEST(PrgTest, WordsAreTheByteStreamReadLittleEndian) {
  auto bytes = AesCtrPrng::Create(Seed(4));
  auto words = AesCtrPrng::Create(Seed(4));
  ASSERT_THAT(bytes, IsOk());
  ASSERT_THAT(words, IsOk());
  const std::vector<uint8_t> b = Stream(*bytes, 4 * 1000);
  std::vector<uint32_t> w(1000);
  ASSERT_THAT(words->Fill(absl::MakeSpan(w)), IsOk());
  for (size_t i = 0; i < w.size(); ++i) {
    const uint32_t expected = b[4 * i] | (b[4 * i + 1] << 8) | (b[4 * i + 2] << 16) |
                              (static_cast<uint32_t>(b[4 * i + 3]) << 24);
    ASSERT_EQ(w[i], expected) << "word " << i;
  }
}

TEST(PrgTest, WrongSeedOrCounterLengthIsInvalidArgument) {
  EXPECT_THAT(AesCtrPrng::Create(std::vector<uint8_t>(16)),
              StatusIs(absl::StatusCode::kInvalidArgument, "16 bytes"));
  EXPECT_THAT(AesCtrPrng::Create({}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(AesCtrPrng::CreateWithCounterForTesting(Seed(0), std::vector<uint8_t>(12)),
              StatusIs(absl::StatusCode::kInvalidArgument, "counter"));
}

}  // namespace
}  // namespace fedge::secure
