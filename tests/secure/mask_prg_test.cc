#include "secure/mask_prg.h"

#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/secure/fake_random.h"
#include "tests/testing/status_matchers.h"

namespace fedge::secure {
namespace {

using ::fedge::secure::testing::FromHex;
using ::fedge::secure::testing::SeededRandom;
using ::fedge::secure::testing::ToHex;
using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

std::vector<bool> Implementations() {
  std::vector<bool> impls = {false};
  if (MaskPrgHasVaes()) impls.push_back(true);
  return impls;
}

std::vector<uint32_t> RandomWords(size_t n, uint64_t seed) {
  std::vector<uint32_t> w(n);
  SeededRandom random(seed);
  EXPECT_THAT(random.Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(w.data()), n * 4)), IsOk());
  return w;
}

// NIST SP 800-38A appendix F.5.1, CTR-AES128.Encrypt: keystream XOR plaintext
// gives the published ciphertext, in both implementations.
TEST(MaskPrgTest, MatchesNistSp800_38aF51) {
  const std::vector<uint8_t> key = FromHex("2b7e151628aed2a6abf7158809cf4f3c");
  const std::vector<uint8_t> counter = FromHex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
  const std::vector<uint8_t> plaintext = FromHex(
      "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
      "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
  for (bool vaes : Implementations()) {
    std::vector<uint8_t> stream(plaintext.size());
    ASSERT_THAT(internal::MaskKeystreamForTesting(key, counter, vaes, absl::MakeSpan(stream)),
                IsOk());
    for (size_t i = 0; i < stream.size(); ++i) stream[i] ^= plaintext[i];
    EXPECT_EQ(ToHex(stream),
              "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
              "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee")
        << "vaes=" << vaes;
  }
}

// The vectorised path must agree with OpenSSL for every length (main loop,
// block tail, partial block) and across a carry out of the low 64 counter bits.
TEST(MaskPrgTest, VaesPathMatchesOpenSsl) {
  if (!MaskPrgHasVaes()) GTEST_SKIP() << "no VAES on this CPU";
  const std::vector<uint8_t> key = FromHex("000102030405060708090a0b0c0d0e0f");
  for (const char* counter_hex : {"00000000000000000000000000000000",
                                  "0000000000000000fffffffffffffff0",
                                  "fffffffffffffffffffffffffffffffe"}) {
    const std::vector<uint8_t> counter = FromHex(counter_hex);
    for (size_t n : {0, 1, 3, 4, 5, 63, 64, 65, 127, 128, 1000, 4097}) {
      std::vector<uint8_t> a(n), b(n);
      ASSERT_THAT(internal::MaskKeystreamForTesting(key, counter, false, absl::MakeSpan(a)),
                  IsOk());
      ASSERT_THAT(internal::MaskKeystreamForTesting(key, counter, true, absl::MakeSpan(b)),
                  IsOk());
      EXPECT_EQ(a, b) << "counter " << counter_hex << ", " << n << " bytes";
    }
  }
  for (size_t words : {1, 17, 64, 100003}) {
    for (MaskSign sign : {MaskSign::kAdd, MaskSign::kSubtract}) {
      std::vector<uint32_t> x = RandomWords(words, words);
      std::vector<uint32_t> y = x;
      ASSERT_THAT(internal::AddMaskForTesting(key, sign, false, absl::MakeSpan(x)), IsOk());
      ASSERT_THAT(internal::AddMaskForTesting(key, sign, true, absl::MakeSpan(y)), IsOk());
      EXPECT_EQ(x, y) << words << " words";
    }
  }
}

TEST(MaskPrgTest, SubtractUndoesAdd) {
  const std::vector<uint8_t> key(kMaskKeySize, 7);
  const std::vector<uint32_t> original = RandomWords(5000, 1);
  std::vector<uint32_t> x = original;
  ASSERT_THAT(AddMask(key, MaskSign::kAdd, absl::MakeSpan(x)), IsOk());
  EXPECT_NE(x, original);
  ASSERT_THAT(AddMask(key, MaskSign::kSubtract, absl::MakeSpan(x)), IsOk());
  EXPECT_EQ(x, original);
}

TEST(MaskPrgTest, AddsTheKeystreamAsLittleEndianWords) {
  const std::vector<uint8_t> key(kMaskKeySize, 3);
  std::vector<uint8_t> stream(64);
  ASSERT_THAT(internal::MaskKeystreamForTesting(key, std::vector<uint8_t>(16), false,
                                                absl::MakeSpan(stream)),
              IsOk());
  std::vector<uint32_t> x(16, 5);
  ASSERT_THAT(AddMask(key, MaskSign::kAdd, absl::MakeSpan(x)), IsOk());
  for (size_t i = 0; i < 16; ++i) {
    const uint32_t word = stream[4 * i] | (uint32_t{stream[4 * i + 1]} << 8) |
                          (uint32_t{stream[4 * i + 2]} << 16) | (uint32_t{stream[4 * i + 3]} << 24);
    EXPECT_EQ(x[i], word + 5) << i;
  }
}

TEST(MaskPrgTest, WrongKeySizeIsInvalidArgument) {
  std::vector<uint32_t> x(4);
  EXPECT_THAT(AddMask(std::vector<uint8_t>(32), MaskSign::kAdd, absl::MakeSpan(x)),
              StatusIs(absl::StatusCode::kInvalidArgument, "16"));
}

}  // namespace
}  // namespace fedge::secure
