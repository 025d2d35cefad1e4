#include "secure/aead.h"

#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/secure/fake_random.h"
#include "tests/testing/status_matchers.h"

namespace fedge::secure {
namespace {

using ::fedge::secure::testing::FailingRandom;
using ::fedge::secure::testing::FromHex;
using ::fedge::secure::testing::SeededRandom;
using ::fedge::secure::testing::ToHex;
using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

struct GcmVector {
  const char* name;
  const char* key;
  const char* nonce;
  const char* plaintext;
  const char* associated_data;
  const char* ciphertext;
  const char* tag;
};

// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", appendix B,
// test cases 13-16 (the AES-256 cases with 96-bit IVs).
constexpr char kKey15[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const GcmVector kVectors[] = {
    {"Test Case 13", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"Test Case 14", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "00000000000000000000000000000000", "",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"Test Case 15", kKey15, "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"Test Case 16", kKey15, "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

Aes256Gcm MakeAead(uint64_t seed) {
  SeededRandom random(seed);
  std::vector<uint8_t> key(kAes256GcmKeySize);
  EXPECT_THAT(random.Fill(absl::MakeSpan(key)), IsOk());
  auto aead = Aes256Gcm::Create(key);
  EXPECT_THAT(aead, IsOk());
  return std::move(aead).value();
}

TEST(AeadTest, MatchesGcmSpecTestCases13To16) {
  for (const GcmVector& v : kVectors) {
    SCOPED_TRACE(v.name);
    auto aead = Aes256Gcm::Create(FromHex(v.key));
    ASSERT_THAT(aead, IsOk());
    auto sealed = aead->SealWithNonceForTesting(FromHex(v.nonce), FromHex(v.plaintext),
                                                FromHex(v.associated_data));
    ASSERT_THAT(sealed, IsOk());
    EXPECT_EQ(ToHex(*sealed), std::string(v.nonce) + v.ciphertext + v.tag);

    auto opened = aead->Open(*sealed, FromHex(v.associated_data));
    ASSERT_THAT(opened, IsOk());
    EXPECT_EQ(ToHex(opened->span()), v.plaintext);
  }
}

TEST(AeadTest, RoundTripsWithAssociatedData) {
  Aes256Gcm aead = MakeAead(1);
  SeededRandom random(2);
  const std::vector<uint8_t> ad = Bytes("round 7, from client 3 to client 5");
  for (size_t length : {0, 1, 15, 16, 17, 1000}) {
    std::vector<uint8_t> plaintext(length);
    ASSERT_THAT(random.Fill(absl::MakeSpan(plaintext)), IsOk());
    auto sealed = aead.Seal(plaintext, ad, random);
    ASSERT_THAT(sealed, IsOk());
    EXPECT_EQ(sealed->size(), length + kAes256GcmOverhead);
    auto opened = aead.Open(*sealed, ad);
    ASSERT_THAT(opened, IsOk());
    EXPECT_TRUE(opened->Equals(plaintext)) << "length " << length;
  }
}

TEST(AeadTest, EachSealDrawsAFreshNonce) {
  Aes256Gcm aead = MakeAead(1);
  const std::vector<uint8_t> plaintext = Bytes("same message");
  auto a = aead.Seal(plaintext, {}, SecureRandom::Default());
  auto b = aead.Seal(plaintext, {}, SecureRandom::Default());
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_NE(*a, *b);
}

TEST(AeadTest, EverySingleBitFlipIsDataLoss) {
  Aes256Gcm aead = MakeAead(1);
  SeededRandom random(3);
  const std::vector<uint8_t> ad = Bytes("header");
  auto sealed = aead.Seal(Bytes("a share of client 12's mask seed"), ad, random);
  ASSERT_THAT(sealed, IsOk());
  std::vector<uint8_t> bytes = *sealed;
  for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    bytes[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_THAT(aead.Open(bytes, ad), StatusIs(absl::StatusCode::kDataLoss)) << "bit " << bit;
    bytes[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  }
  EXPECT_THAT(aead.Open(bytes, ad), IsOk());
}

TEST(AeadTest, WrongAssociatedDataOrKeyIsDataLoss) {
  Aes256Gcm aead = MakeAead(1);
  SeededRandom random(4);
  auto sealed = aead.Seal(Bytes("payload"), Bytes("client 3"), random);
  ASSERT_THAT(sealed, IsOk());
  EXPECT_THAT(aead.Open(*sealed, Bytes("client 4")), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(aead.Open(*sealed, {}), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(MakeAead(2).Open(*sealed, Bytes("client 3")),
              StatusIs(absl::StatusCode::kDataLoss));
}

TEST(AeadTest, ShortOrTruncatedInputIsRejected) {
  Aes256Gcm aead = MakeAead(1);
  for (size_t length = 0; length < kAes256GcmOverhead; ++length) {
    EXPECT_THAT(aead.Open(std::vector<uint8_t>(length, 0xab), {}),
                StatusIs(absl::StatusCode::kInvalidArgument, "shorter than nonce + tag"))
        << "length " << length;
  }
  SeededRandom random(5);
  auto sealed = aead.Seal(Bytes("0123456789"), {}, random);
  ASSERT_THAT(sealed, IsOk());
  for (size_t keep = 0; keep < sealed->size(); ++keep) {
    std::vector<uint8_t> truncated(sealed->begin(), sealed->begin() + keep);
    auto opened = aead.Open(truncated, {});
    EXPECT_FALSE(opened.ok()) << "kept " << keep << " bytes";
    EXPECT_THAT(opened.status().code(),
                ::testing::AnyOf(absl::StatusCode::kInvalidArgument, absl::StatusCode::kDataLoss));
  }
}

TEST(AeadTest, GarbageIsRejectedWithoutCrashing) {
  Aes256Gcm aead = MakeAead(1);
  std::mt19937 rng(6);
  for (int i = 0; i < 500; ++i) {
    std::vector<uint8_t> garbage(rng() % 100);
    for (uint8_t& b : garbage) b = static_cast<uint8_t>(rng());
    EXPECT_FALSE(aead.Open(garbage, garbage).ok());
  }
}

TEST(AeadTest, BadKeyOrNonceLengthIsInvalidArgument) {
  EXPECT_THAT(Aes256Gcm::Create(std::vector<uint8_t>(16)),
              StatusIs(absl::StatusCode::kInvalidArgument, "16 bytes"));
  EXPECT_THAT(Aes256Gcm::Create({}), StatusIs(absl::StatusCode::kInvalidArgument));
  Aes256Gcm aead = MakeAead(1);
  EXPECT_THAT(aead.SealWithNonceForTesting(std::vector<uint8_t>(16), {}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, "nonce"));
}

TEST(AeadTest, SealReportsAFailingRandomSource) {
  Aes256Gcm aead = MakeAead(1);
  FailingRandom random;
  EXPECT_THAT(aead.Seal(Bytes("x"), {}, random), StatusIs(absl::StatusCode::kInternal));
}

}  // namespace
}  // namespace fedge::secure
