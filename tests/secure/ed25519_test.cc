#include "secure/ed25519.h"

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
using ::fedge::secure::testing::ToHex;
using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

struct Rfc8032Vector {
  const char* name;
  const char* secret_key;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032 section 7.1, TEST 1 (empty message) and TEST 2 (one byte).
const Rfc8032Vector kVectors[] = {
    {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
};

TEST(Ed25519Test, MatchesRfc8032Vectors) {
  for (const Rfc8032Vector& v : kVectors) {
    SCOPED_TRACE(v.name);
    auto key = Ed25519SigningKey::FromSeed(FromHex(v.secret_key));
    ASSERT_THAT(key, IsOk());
    EXPECT_EQ(ToHex(key->public_key()), v.public_key);
    const std::vector<uint8_t> message = FromHex(v.message);
    auto signature = key->Sign(message);
    ASSERT_THAT(signature, IsOk());
    EXPECT_EQ(ToHex(*signature), v.signature);

    auto verifier = Ed25519VerifyingKey::Create(FromHex(v.public_key));
    ASSERT_THAT(verifier, IsOk());
    EXPECT_THAT(verifier->Verify(message, FromHex(v.signature)), IsOk());
  }
}

TEST(Ed25519Test, TamperedMessageIsUnauthenticated) {
  const Rfc8032Vector& v = kVectors[1];
  auto verifier = Ed25519VerifyingKey::Create(FromHex(v.public_key));
  ASSERT_THAT(verifier, IsOk());
  const std::vector<uint8_t> signature = FromHex(v.signature);
  EXPECT_THAT(verifier->Verify(FromHex("73"), signature),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(verifier->Verify({}, signature), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(verifier->Verify(FromHex("7200"), signature),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(Ed25519Test, EverySingleBitFlipOfTheSignatureIsUnauthenticated) {
  const Rfc8032Vector& v = kVectors[1];
  auto verifier = Ed25519VerifyingKey::Create(FromHex(v.public_key));
  ASSERT_THAT(verifier, IsOk());
  const std::vector<uint8_t> message = FromHex(v.message);
  std::vector<uint8_t> signature = FromHex(v.signature);
  for (size_t bit = 0; bit < signature.size() * 8; ++bit) {
    signature[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_THAT(verifier->Verify(message, signature),
                StatusIs(absl::StatusCode::kUnauthenticated))
        << "bit " << bit;
    signature[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  }
  EXPECT_THAT(verifier->Verify(message, signature), IsOk());
}

TEST(Ed25519Test, SignatureUnderAnotherKeyIsUnauthenticated) {
  auto other = Ed25519VerifyingKey::Create(FromHex(kVectors[0].public_key));
  ASSERT_THAT(other, IsOk());
  EXPECT_THAT(other->Verify(FromHex(kVectors[1].message), FromHex(kVectors[1].signature)),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(Ed25519Test, WrongLengthsAreInvalidArgument) {
  EXPECT_THAT(Ed25519SigningKey::FromSeed(std::vector<uint8_t>(31)),
              StatusIs(absl::StatusCode::kInvalidArgument, "31 bytes"));
  EXPECT_THAT(Ed25519VerifyingKey::Create(std::vector<uint8_t>(33)),
              StatusIs(absl::StatusCode::kInvalidArgument, "33 bytes"));
  auto verifier = Ed25519VerifyingKey::Create(FromHex(kVectors[1].public_key));
  ASSERT_THAT(verifier, IsOk());
  std::vector<uint8_t> signature = FromHex(kVectors[1].signature);
  signature.pop_back();
  EXPECT_THAT(verifier->Verify(FromHex("72"), signature),
              StatusIs(absl::StatusCode::kInvalidArgument, "63 bytes"));
  EXPECT_THAT(verifier->Verify(FromHex("72"), {}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(Ed25519Test, PublicKeyThatIsNotAPointVerifiesNothing) {
  // y = 2^255 - 1 is not a canonical field element, so not a valid encoding.
  auto verifier = Ed25519VerifyingKey::Create(std::vector<uint8_t>(32, 0xff));
  ASSERT_THAT(verifier, IsOk());
  EXPECT_THAT(verifier->Verify(FromHex("72"), FromHex(kVectors[1].signature)),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(Ed25519Test, FreshKeySignsAndVerifies) {
  auto key = Ed25519SigningKey::Create(SecureRandom::Default());
  ASSERT_THAT(key, IsOk());
  const std::string text = "round 7: surviving clients 1, 2, 5";
  const std::vector<uint8_t> message(text.begin(), text.end());
  auto signature = key->Sign(message);
  ASSERT_THAT(signature, IsOk());
  auto verifier = Ed25519VerifyingKey::Create(key->public_key());
  ASSERT_THAT(verifier, IsOk());
  EXPECT_THAT(verifier->Verify(message, *signature), IsOk());
}

TEST(Ed25519Test, CreateReportsAFailingRandomSource) {
  FailingRandom random;
  EXPECT_THAT(Ed25519SigningKey::Create(random), StatusIs(absl::StatusCode::kInternal));
}

}  // namespace
}  // namespace fedge::secure
