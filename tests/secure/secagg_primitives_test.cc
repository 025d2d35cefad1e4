// The primitives added for SecAgg: HKDF with a fixed salt, X25519 agreement
// with context reuse, Shamir sharing at chosen points and cached
// reconstruction. Each is checked against a known answer or against the
// slower reference it replaces.

#include <algorithm>
#include <random>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "secure/hkdf.h"
#include "secure/shamir.h"
#include "secure/x25519.h"
#include "tests/secure/fake_random.h"
#include "tests/testing/status_matchers.h"

namespace fedge::secure {
namespace {

using ::fedge::secure::testing::FromHex;
using ::fedge::secure::testing::SeededRandom;
using ::fedge::secure::testing::ToHex;
using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

std::vector<uint8_t> Bytes(size_t n, uint8_t first) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(first + i);
  return v;
}

// RFC 5869 A.1 (short salt) and A.2 (80-byte salt, hashed by HMAC first).
TEST(HkdfSha256WithSaltTest, MatchesRfc5869TestCases1And2) {
  auto one = HkdfSha256WithSalt::Create(FromHex("000102030405060708090a0b0c"));
  ASSERT_THAT(one, IsOk());
  std::vector<uint8_t> okm(42);
  ASSERT_THAT(one->Derive(std::vector<uint8_t>(22, 0x0b), FromHex("f0f1f2f3f4f5f6f7f8f9"),
                          absl::MakeSpan(okm)),
              IsOk());
  EXPECT_EQ(ToHex(okm), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                        "34007208d5b887185865");

  auto two = HkdfSha256WithSalt::Create(Bytes(80, 0x60));
  ASSERT_THAT(two, IsOk());
  okm.resize(82);
  ASSERT_THAT(two->Derive(Bytes(80, 0x00), Bytes(80, 0xb0), absl::MakeSpan(okm)), IsOk());
  EXPECT_EQ(ToHex(okm), "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
                        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
                        "cc30c58179ec3e87c14c01d5c1f3434f1d87");
}

TEST(HkdfSha256WithSaltTest, AgreesWithHkdfSha256) {
  SeededRandom random(5);
  for (size_t salt_len : {0, 16, 32, 64, 65}) {
    std::vector<uint8_t> salt(salt_len);
    ASSERT_THAT(random.Fill(absl::MakeSpan(salt)), IsOk());
    auto hkdf = HkdfSha256WithSalt::Create(salt);
    ASSERT_THAT(hkdf, IsOk());
    for (size_t len : {1, 16, 32, 33, 100}) {
      std::vector<uint8_t> ikm(32), info(26), okm(len);
      ASSERT_THAT(random.Fill(absl::MakeSpan(ikm)), IsOk());
      ASSERT_THAT(random.Fill(absl::MakeSpan(info)), IsOk());
      auto want = HkdfSha256(salt, ikm, info, len);
      ASSERT_THAT(want, IsOk());
      ASSERT_THAT(hkdf->Derive(ikm, info, absl::MakeSpan(okm)), IsOk());
      EXPECT_EQ(ToHex(okm), ToHex(want->span())) << "salt " << salt_len << ", length " << len;
    }
  }
}

TEST(HkdfSha256WithSaltTest, BadLengthsAreInvalidArgument) {
  auto hkdf = HkdfSha256WithSalt::Create({});
  ASSERT_THAT(hkdf, IsOk());
  std::vector<uint8_t> out(32);
  EXPECT_THAT(hkdf->Derive({}, {}, absl::MakeSpan(out)), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(hkdf->Derive(out, {}, absl::Span<uint8_t>()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// One agreement object used with many peers in a row must give each peer's
// own secret (the peer key object is rewritten in place between calls).
TEST(X25519AgreementTest, MatchesSharedSecretAcrossManyPeers) {
  SeededRandom random(11);
  auto mine = X25519KeyPair::Create(random);
  ASSERT_THAT(mine, IsOk());
  auto agreement = X25519Agreement::Create(*mine);
  ASSERT_THAT(agreement, IsOk());
  std::vector<uint8_t> out(kX25519KeySize);
  for (int i = 0; i < 8; ++i) {
    auto peer = X25519KeyPair::Create(random);
    ASSERT_THAT(peer, IsOk());
    auto want = mine->SharedSecret(peer->public_key());
    ASSERT_THAT(want, IsOk());
    ASSERT_THAT(agreement->SharedSecret(peer->public_key(), absl::MakeSpan(out)), IsOk());
    EXPECT_EQ(ToHex(out), ToHex(want->span())) << "peer " << i;
  }
  // A low-order point is refused and does not poison the next call.
  EXPECT_THAT(agreement->SharedSecret(std::vector<uint8_t>(32, 0), absl::MakeSpan(out)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  auto peer = X25519KeyPair::Create(random);
  ASSERT_THAT(peer, IsOk());
  auto want = mine->SharedSecret(peer->public_key());
  ASSERT_THAT(agreement->SharedSecret(peer->public_key(), absl::MakeSpan(out)), IsOk());
  EXPECT_EQ(ToHex(out), ToHex(want->span()));
}

TEST(X25519AgreementTest, MatchesRfc7748) {
  auto alice = X25519KeyPair::FromPrivateKey(
      FromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  ASSERT_THAT(alice, IsOk());
  auto agreement = X25519Agreement::Create(*alice);
  ASSERT_THAT(agreement, IsOk());
  std::vector<uint8_t> out(32);
  ASSERT_THAT(agreement->SharedSecret(
                  FromHex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"),
                  absl::MakeSpan(out)),
              IsOk());
  EXPECT_EQ(ToHex(out), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
}

// Shares at scattered points: every one lies on the polynomial (the
// reference reconstruction with all shares checks consistency), and any t
// reconstruct the secret.
TEST(ShamirSplitAtTest, SharesAtChosenPointsReconstruct) {
  SeededRandom random(3);
  std::vector<uint8_t> secret(32);
  ASSERT_THAT(random.Fill(absl::MakeSpan(secret)), IsOk());
  const std::vector<uint32_t> xs = {907, 3, 44, 12000, 5, 61, 250};
  auto shares = ShamirSplitAt(secret, 4, xs, random);
  ASSERT_THAT(shares, IsOk());
  ASSERT_EQ(shares->size(), xs.size());
  for (size_t i = 0; i < xs.size(); ++i) EXPECT_EQ((*shares)[i].x, xs[i]);
  auto all = ShamirReconstruct(*shares, 4, secret.size());
  ASSERT_THAT(all, IsOk());
  EXPECT_TRUE(all->Equals(secret));
  std::vector<ShamirShare> some = {(*shares)[6], (*shares)[1], (*shares)[3], (*shares)[4]};
  auto from_four = ShamirReconstruct(some, 4, secret.size());
  ASSERT_THAT(from_four, IsOk());
  EXPECT_TRUE(from_four->Equals(secret));
  some.pop_back();
  EXPECT_THAT(ShamirReconstruct(some, 4, secret.size()),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(ShamirSplitAtTest, RejectsZeroAndRepeatedPoints) {
  SeededRandom random(3);
  const std::vector<uint8_t> secret(32, 1);
  EXPECT_THAT(ShamirSplitAt(secret, 2, std::vector<uint32_t>{1, 0, 3}, random),
              StatusIs(absl::StatusCode::kInvalidArgument, "x = 0"));
  EXPECT_THAT(ShamirSplitAt(secret, 2, std::vector<uint32_t>{1, 3, 3}, random),
              StatusIs(absl::StatusCode::kInvalidArgument, "twice"));
  EXPECT_THAT(ShamirSplitAt(secret, 4, std::vector<uint32_t>{1, 2, 3}, random),
              StatusIs(absl::StatusCode::kInvalidArgument, "threshold"));
}

// The cached coefficients give what the reference O(t^2) path gives, for many
// secrets and random holder subsets.
TEST(ShamirReconstructorTest, AgreesWithShamirReconstruct) {
  SeededRandom random(8);
  std::mt19937_64 pick(8);
  const int t = 7;
  std::vector<uint32_t> points(20);
  for (uint32_t i = 0; i < points.size(); ++i) points[i] = 3 * i + 1;
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<uint8_t> secret(32);
    ASSERT_THAT(random.Fill(absl::MakeSpan(secret)), IsOk());
    auto shares = ShamirSplitAt(secret, t, points, random);
    ASSERT_THAT(shares, IsOk());
    std::shuffle(shares->begin(), shares->end(), pick);
    shares->resize(t);
    std::vector<uint32_t> xs;
    std::vector<absl::Span<const uint64_t>> ys;
    for (const ShamirShare& s : *shares) {
      xs.push_back(s.x);
      ys.push_back(s.y);
    }
    auto reconstructor = ShamirReconstructor::Create(xs);
    ASSERT_THAT(reconstructor, IsOk());
    auto fast = reconstructor->Reconstruct(ys, secret.size());
    auto reference = ShamirReconstruct(*shares, t, secret.size());
    ASSERT_THAT(fast, IsOk());
    ASSERT_THAT(reference, IsOk());
    EXPECT_TRUE(fast->Equals(secret));
    EXPECT_TRUE(reference->Equals(secret));
  }
}

TEST(ShamirReconstructorTest, MalformedInputIsAnErrorNotACrash) {
  EXPECT_THAT(ShamirReconstructor::Create({}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ShamirReconstructor::Create(std::vector<uint32_t>{2, 2}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  auto r = ShamirReconstructor::Create(std::vector<uint32_t>{1, 2});
  ASSERT_THAT(r, IsOk());
  const std::vector<uint64_t> good(5, 1), short_share(4, 1), big(5, kShamirPrime);
  EXPECT_THAT(r->Reconstruct({absl::MakeConstSpan(good)}, 32),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(r->Reconstruct({absl::MakeConstSpan(good), absl::MakeConstSpan(short_share)}, 32),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(r->Reconstruct({absl::MakeConstSpan(good), absl::MakeConstSpan(big)}, 32),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Random values almost surely decode to an out-of-range chunk.
  const std::vector<uint64_t> junk_a = {kShamirPrime - 1, 5, 6, 7, 8};
  const std::vector<uint64_t> junk_b = {12345, kShamirPrime - 2, 1, 1, 1};
  EXPECT_THAT(r->Reconstruct({absl::MakeConstSpan(junk_a), absl::MakeConstSpan(junk_b)}, 32),
              StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace fedge::secure
