#include "secure/shamir.h"

#include <algorithm>
#include <random>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/secure/fake_random.h"
#include "tests/testing/status_matchers.h"

namespace fedge::secure {
namespace {

using ::fedge::secure::testing::CountingRandom;
using ::fedge::secure::testing::FailingRandom;
using ::fedge::secure::testing::SeededRandom;
using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

std::vector<uint8_t> RandomSecret(size_t length, uint64_t seed) {
  std::vector<uint8_t> secret(length);
  SeededRandom random(seed);
  EXPECT_THAT(random.Fill(absl::MakeSpan(secret)), IsOk());
  return secret;
}

std::vector<ShamirShare> Split(absl::Span<const uint8_t> secret, int t, int n) {
  SeededRandom random(99);
  auto shares = ShamirSplit(secret, t, n, random);
  EXPECT_THAT(shares, IsOk());
  return shares.ok() ? std::move(shares).value() : std::vector<ShamirShare>();
}

std::vector<ShamirShare> Pick(const std::vector<ShamirShare>& shares,
                              const std::vector<size_t>& indices) {
  std::vector<ShamirShare> out;
  for (size_t i : indices) out.push_back(shares[i]);
  return out;
}

TEST(ShamirTest, SharesAreEvaluationsOfOnePolynomialPerChunk) {
  // CountingRandom yields bytes 1..8, so the degree-1 coefficient of the only
  // chunk is 0x0807060504030201 (< p). With secret chunk s = 2^56 - 1:
  // y(x) = s + a x mod (2^61 - 1); x = 4, 5 wrap around the modulus.
  CountingRandom random;
  const std::vector<uint8_t> secret(7, 0xff);
  auto shares = ShamirSplit(secret, 2, 5, random);
  ASSERT_THAT(shares, IsOk());
  ASSERT_EQ(shares->size(), 5u);
  const unsigned __int128 s = (uint64_t{1} << 56) - 1;
  const unsigned __int128 a = 0x0807060504030201;
  for (uint32_t x = 1; x <= 5; ++x) {
    const ShamirShare& share = (*shares)[x - 1];
    EXPECT_EQ(share.x, x);
    ASSERT_EQ(share.y.size(), 1u);
    EXPECT_EQ(share.y[0], static_cast<uint64_t>((s + a * x) % kShamirPrime)) << "x " << x;
  }
}

TEST(ShamirTest, AnyThresholdOfSharesReconstructs) {
  const std::vector<uint8_t> secret = RandomSecret(32, 1);
  const std::vector<ShamirShare> shares = Split(secret, 3, 5);
  ASSERT_EQ(shares.size(), 5u);
  for (const ShamirShare& share : shares) EXPECT_EQ(share.y.size(), ShamirChunkCount(32));
  int subsets = 0;
  for (size_t a = 0; a < 5; ++a) {
    for (size_t b = a + 1; b < 5; ++b) {
      for (size_t c = b + 1; c < 5; ++c) {
        for (const auto& order : {std::vector<size_t>{a, b, c}, std::vector<size_t>{c, a, b}}) {
          auto got = ShamirReconstruct(Pick(shares, order), 3, 32);
          ASSERT_THAT(got, IsOk());
          EXPECT_TRUE(got->Equals(secret));
        }
        ++subsets;
      }
    }
  }
  EXPECT_EQ(subsets, 10);
  auto all = ShamirReconstruct(shares, 3, 32);
  ASSERT_THAT(all, IsOk());
  EXPECT_TRUE(all->Equals(secret));
}

TEST(ShamirTest, ReconstructFailsWithTooFewShares) {
  const std::vector<ShamirShare> shares = Split(RandomSecret(32, 2), 3, 5);
  EXPECT_THAT(ShamirReconstruct(Pick(shares, {0, 4}), 3, 32),
              StatusIs(absl::StatusCode::kFailedPrecondition, "2 shares, need 3"));
  EXPECT_THAT(ShamirReconstruct({}, 3, 32), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(ShamirTest, MalformedSharesAreInvalidArgument) {
  const std::vector<ShamirShare> shares = Split(RandomSecret(32, 3), 3, 5);

  std::vector<ShamirShare> zero_x = Pick(shares, {0, 1, 2});
  zero_x[1].x = 0;
  EXPECT_THAT(ShamirReconstruct(zero_x, 3, 32),
              StatusIs(absl::StatusCode::kInvalidArgument, "x = 0"));

  EXPECT_THAT(ShamirReconstruct(Pick(shares, {0, 1, 1}), 3, 32),
              StatusIs(absl::StatusCode::kInvalidArgument, "two shares with x=2"));

  std::vector<ShamirShare> out_of_field = Pick(shares, {0, 1, 2});
  out_of_field[2].y[3] = kShamirPrime;
  EXPECT_THAT(ShamirReconstruct(out_of_field, 3, 32),
              StatusIs(absl::StatusCode::kInvalidArgument, "outside the field"));

  std::vector<ShamirShare> short_share = Pick(shares, {0, 1, 2});
  short_share[0].y.pop_back();
  EXPECT_THAT(ShamirReconstruct(short_share, 3, 32),
              StatusIs(absl::StatusCode::kInvalidArgument, "4 values, want 5"));

  // A secret length with another chunk count than the shares carry.
  EXPECT_THAT(ShamirReconstruct(Pick(shares, {0, 1, 2}), 3, 36),
              StatusIs(absl::StatusCode::kInvalidArgument));

  EXPECT_THAT(ShamirReconstruct(shares, 0, 32), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ShamirReconstruct(shares, 3, 0), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ShamirTest, CorruptedShareAmongExtraSharesIsDataLoss) {
  const std::vector<ShamirShare> shares = Split(RandomSecret(32, 4), 3, 5);
  for (size_t victim = 0; victim < 4; ++victim) {
    std::vector<ShamirShare> corrupted = Pick(shares, {0, 1, 2, 3});
    corrupted[victim].y[2] = (corrupted[victim].y[2] + 1) % kShamirPrime;
    EXPECT_THAT(ShamirReconstruct(corrupted, 3, 32),
                StatusIs(absl::StatusCode::kDataLoss, "inconsistent"))
        << "victim " << victim;
  }
}

TEST(ShamirTest, CorruptedShareWithExactlyThresholdNeverYieldsTheSecretOrCrashes) {
  const std::vector<uint8_t> secret = RandomSecret(32, 5);
  const std::vector<ShamirShare> shares = Split(secret, 3, 5);
  std::mt19937_64 rng(5);
  int detected = 0;
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<ShamirShare> corrupted = Pick(shares, {0, 2, 4});
    ShamirShare& victim = corrupted[rng() % 3];
    uint64_t& value = victim.y[rng() % victim.y.size()];
    value = (value + 1 + rng() % (kShamirPrime - 1)) % kShamirPrime;  // any other value
    auto got = ShamirReconstruct(corrupted, 3, 32);
    if (got.ok()) {
      EXPECT_FALSE(got->Equals(secret));
    } else {
      EXPECT_THAT(got, StatusIs(absl::StatusCode::kDataLoss, "out of range"));
      ++detected;
    }
  }
  // A random error lands a 7-byte chunk out of range with probability ~31/32.
  EXPECT_GT(detected, 150);
}

TEST(ShamirTest, RandomizedRoundTrips) {
  std::mt19937_64 rng(2017);
  for (int trial = 0; trial < 300; ++trial) {
    const size_t length = 1 + rng() % 70;
    const int n = 1 + static_cast<int>(rng() % 12);
    const int t = 1 + static_cast<int>(rng() % n);
    const std::vector<uint8_t> secret = RandomSecret(length, rng());
    SeededRandom random(rng());
    auto shares = ShamirSplit(secret, t, n, random);
    ASSERT_THAT(shares, IsOk());
    std::shuffle(shares->begin(), shares->end(), rng);
    const size_t keep = t + rng() % (n - t + 1);
    shares->resize(keep);
    auto got = ShamirReconstruct(*shares, t, length);
    ASSERT_THAT(got, IsOk()) << "trial " << trial << ": " << t << " of " << n << ", keep "
                             << keep << ", " << length << " bytes";
    EXPECT_TRUE(got->Equals(secret)) << "trial " << trial;
  }
}

TEST(ShamirTest, ExtremeByteValuesRoundTrip) {
  for (uint8_t fill : {0x00, 0xff}) {
    const std::vector<uint8_t> secret(33, fill);
    auto got = ShamirReconstruct(Split(secret, 4, 7), 4, 33);
    ASSERT_THAT(got, IsOk());
    EXPECT_TRUE(got->Equals(secret));
  }
}

TEST(ShamirTest, SplitRejectsBadParameters) {
  SeededRandom random(1);
  const std::vector<uint8_t> secret = RandomSecret(32, 6);
  EXPECT_THAT(ShamirSplit({}, 2, 3, random), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ShamirSplit(secret, 0, 3, random), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ShamirSplit(secret, 4, 3, random), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ShamirSplit(secret, -1, -1, random), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ShamirSplit(secret, 2, kShamirMaxShares + 1, random),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ShamirTest, SplitReportsAFailingRandomSource) {
  FailingRandom random;
  EXPECT_THAT(ShamirSplit(RandomSecret(32, 7), 2, 3, random),
              StatusIs(absl::StatusCode::kInternal));
}

}  // namespace
}  // namespace fedge::secure
