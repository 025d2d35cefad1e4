#include "secure/x25519.h"

#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/secure/fake_random.h"
#include "tests/testing/status_matchers.h"

namespace fedge::secure {
namespace {

using ::fedge::secure::testing::CountingRandom;
using ::fedge::secure::testing::FailingRandom;
using ::fedge::secure::testing::FromHex;
using ::fedge::secure::testing::ToHex;
using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

// RFC 7748 section 6.1.
constexpr char kAlicePrivate[] =
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
constexpr char kAlicePublic[] =
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
constexpr char kBobPrivate[] =
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
constexpr char kBobPublic[] =
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
constexpr char kShared[] = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

TEST(X25519Test, MatchesRfc7748AliceAndBob) {
  auto alice = X25519KeyPair::FromPrivateKey(FromHex(kAlicePrivate));
  auto bob = X25519KeyPair::FromPrivateKey(FromHex(kBobPrivate));
  ASSERT_THAT(alice, IsOk());
  ASSERT_THAT(bob, IsOk());
  EXPECT_EQ(ToHex(alice->public_key()), kAlicePublic);
  EXPECT_EQ(ToHex(bob->public_key()), kBobPublic);

  auto alice_secret = alice->SharedSecret(FromHex(kBobPublic));
  auto bob_secret = bob->SharedSecret(FromHex(kAlicePublic));
  ASSERT_THAT(alice_secret, IsOk());
  ASSERT_THAT(bob_secret, IsOk());
  EXPECT_EQ(ToHex(alice_secret->span()), kShared);
  EXPECT_EQ(ToHex(bob_secret->span()), kShared);
}

TEST(X25519Test, ExportsThePrivateKeyItWasBuiltFrom) {
  auto alice = X25519KeyPair::FromPrivateKey(FromHex(kAlicePrivate));
  ASSERT_THAT(alice, IsOk());
  auto exported = alice->ExportPrivateKey();
  ASSERT_THAT(exported, IsOk());
  EXPECT_EQ(ToHex(exported->span()), kAlicePrivate);
}

TEST(X25519Test, CreateTakesThePrivateKeyFromTheRandomSource) {
  CountingRandom random;
  auto pair = X25519KeyPair::Create(random);
  ASSERT_THAT(pair, IsOk());
  std::vector<uint8_t> expected(32);
  for (int i = 0; i < 32; ++i) expected[i] = static_cast<uint8_t>(i + 1);
  auto exported = pair->ExportPrivateKey();
  ASSERT_THAT(exported, IsOk());
  EXPECT_TRUE(exported->Equals(expected));
  auto same = X25519KeyPair::FromPrivateKey(expected);
  ASSERT_THAT(same, IsOk());
  EXPECT_EQ(pair->public_key(), same->public_key());
}

TEST(X25519Test, FreshKeyPairsAgreeOnASecret) {
  auto a = X25519KeyPair::Create(SecureRandom::Default());
  auto b = X25519KeyPair::Create(SecureRandom::Default());
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_NE(a->public_key(), b->public_key());
  auto ab = a->SharedSecret(b->public_key());
  auto ba = b->SharedSecret(a->public_key());
  ASSERT_THAT(ab, IsOk());
  ASSERT_THAT(ba, IsOk());
  EXPECT_TRUE(ab->Equals(ba->span()));
}

TEST(X25519Test, WrongKeyLengthsAreInvalidArgument) {
  EXPECT_THAT(X25519KeyPair::FromPrivateKey(std::vector<uint8_t>(31)),
              StatusIs(absl::StatusCode::kInvalidArgument, "31 bytes"));
  EXPECT_THAT(X25519KeyPair::FromPrivateKey(std::vector<uint8_t>()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  auto alice = X25519KeyPair::FromPrivateKey(FromHex(kAlicePrivate));
  ASSERT_THAT(alice, IsOk());
  EXPECT_THAT(alice->SharedSecret(std::vector<uint8_t>(33, 9)),
              StatusIs(absl::StatusCode::kInvalidArgument, "33 bytes"));
  EXPECT_THAT(alice->SharedSecret({}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(X25519Test, LowOrderPeerKeysAreInvalidArgument) {
  auto alice = X25519KeyPair::FromPrivateKey(FromHex(kAlicePrivate));
  ASSERT_THAT(alice, IsOk());
  std::vector<uint8_t> zero(32, 0);  // u = 0, order 2
  std::vector<uint8_t> one(32, 0);   // u = 1, order 4
  one[0] = 1;
  // A point of order 8 (from the low-order lists of libsodium and RFC 7748 errata).
  std::vector<uint8_t> order8 =
      FromHex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800");
  for (const auto& point : {zero, one, order8}) {
    EXPECT_THAT(alice->SharedSecret(point), StatusIs(absl::StatusCode::kInvalidArgument))
        << ToHex(point);
  }
}

TEST(X25519Test, CreateReportsAFailingRandomSource) {
  FailingRandom random;
  EXPECT_THAT(X25519KeyPair::Create(random), StatusIs(absl::StatusCode::kInternal));
}

}  // namespace
}  // namespace fedge::secure
