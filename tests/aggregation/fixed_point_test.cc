#include "aggregation/fixed_point.h"

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace fedge::aggregation {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using absl::StatusCode;

// Sums encoded inputs mod 2^32, as secure aggregation does.
std::vector<uint32_t> Sum(const std::vector<std::vector<uint32_t>>& inputs) {
  std::vector<uint32_t> sum(inputs[0].size(), 0);
  for (const auto& in : inputs) {
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += in[i];
  }
  return sum;
}

TEST(FixedPointTest, ScaleLeavesRoomForEveryClient) {
  auto c = MakeFixedPointConfig(100, 0.5f, 1000);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->scale, std::floor(2147483647.0 / 100));  // max(clip, 1) = 1
  c = MakeFixedPointConfig(10, 4.0f, 1);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->scale, std::floor(2147483647.0 / 40));
}

TEST(FixedPointTest, WeightedMeanRoundTripsWithinRoundingError) {
  const uint32_t n = 50;
  auto c = MakeFixedPointConfig(n, 1.0f, 600);
  ASSERT_THAT(c, IsOk());
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::uniform_int_distribution<uint64_t> examples(1, 600);
  const size_t d = 1000;
  std::vector<std::vector<uint32_t>> encoded;
  std::vector<double> want(d, 0);
  double total = 0;
  for (uint32_t k = 0; k < n; ++k) {
    std::vector<float> delta(d);
    for (float& x : delta) x = value(gen);
    const uint64_t w = examples(gen);
    std::vector<uint32_t> out(d + 1);
    size_t clipped = 99;
    ASSERT_THAT(EncodeFixedPoint(delta, w, *c, absl::MakeSpan(out), &clipped), IsOk());
    EXPECT_EQ(clipped, 0u);
    encoded.push_back(out);
    for (size_t i = 0; i < d; ++i) want[i] += w / 600.0 * delta[i];
    total += w / 600.0;
  }
  std::vector<float> mean(d);
  auto weight = DecodeFixedPointMean(Sum(encoded), *c, absl::MakeSpan(mean));
  ASSERT_THAT(weight, IsOk());
  EXPECT_NEAR(*weight, total, n / c->scale);
  // Each client rounds by at most 0.5 / scale per word.
  for (size_t i = 0; i < d; ++i) EXPECT_NEAR(mean[i], want[i] / total, 1e-5) << i;
}

TEST(FixedPointTest, ClipsAndCounts) {
  auto c = MakeFixedPointConfig(4, 0.5f, 10);
  ASSERT_THAT(c, IsOk());
  const std::vector<float> delta = {0.25f, 3.0f, -7.0f, -0.5f, 0.5f};
  std::vector<uint32_t> out(6);
  size_t clipped = 0;
  ASSERT_THAT(EncodeFixedPoint(delta, 20, *c, absl::MakeSpan(out), &clipped), IsOk());
  EXPECT_EQ(clipped, 2u);
  std::vector<float> mean(5);
  ASSERT_THAT(DecodeFixedPointMean(out, *c, absl::MakeSpan(mean)), IsOk());
  EXPECT_NEAR(mean[1], 0.5f, 1e-6);
  EXPECT_NEAR(mean[2], -0.5f, 1e-6);
  EXPECT_NEAR(mean[0], 0.25f, 1e-6);
  ASSERT_THAT(EncodeFixedPoint(delta, 20, *c, absl::MakeSpan(out), nullptr), IsOk());
}

// n clients at max weight, all at +clip (or all at -clip): the true sum is
// the extreme the scale was chosen for and must not wrap. Checked for clips
// around 1 where rounding could push a word past the bound.
TEST(FixedPointTest, NoWrapWithEveryClientAtTheClip) {
  for (uint32_t n : {1u, 3u, 7u, 1000u}) {
    for (float clip : {0.3f, 1.0f, 1.5f, 3.7f}) {
      auto c = MakeFixedPointConfig(n, clip, 5);
      ASSERT_THAT(c, IsOk());
      for (float sign : {1.0f, -1.0f}) {
        std::vector<uint32_t> out(2);
        ASSERT_THAT(EncodeFixedPoint({sign * 100.0f}, 5, *c, absl::MakeSpan(out), nullptr),
                    IsOk());
        std::vector<uint32_t> sum(2, 0);
        int64_t exact = 0;
        for (uint32_t k = 0; k < n; ++k) {
          sum[0] += out[0];
          sum[1] += out[1];
          exact += static_cast<int32_t>(out[0]);
        }
        EXPECT_LE(std::llabs(exact), int64_t{2147483647}) << n << " " << clip;
        std::vector<float> mean(1);
        auto weight = DecodeFixedPointMean(sum, *c, absl::MakeSpan(mean));
        ASSERT_THAT(weight, IsOk());
        EXPECT_NEAR(mean[0], sign * clip, 1e-4 * clip) << n << " " << clip;
        EXPECT_NEAR(*weight, n, 1e-3 * n);
      }
    }
  }
}

// A smaller ring: sums taken mod 2^bits (as SecAgg with word_bits does) and
// read back sign-extended never wrap, even with every client at the clip.
TEST(FixedPointTest, SmallRingsDoNotWrapWithEveryClientAtTheClip) {
  for (uint32_t bits : {8u, 12u, 16u, 24u}) {
    for (uint32_t n : {1u, 3u, 10u, 100u}) {
      auto c = MakeFixedPointConfig(n, 0.7f, 5, bits);
      if (n * 1.0 > std::ldexp(1.0, bits - 1) - 1) {
        EXPECT_THAT(c, StatusIs(StatusCode::kInvalidArgument, "leave no precision"));
        continue;
      }
      ASSERT_THAT(c, IsOk());
      EXPECT_EQ(c->bits, bits);
      for (float sign : {1.0f, -1.0f}) {
        std::vector<uint32_t> sum(2, 0);
        for (uint32_t k = 0; k < n; ++k) {
          std::vector<uint32_t> out(2);
          ASSERT_THAT(EncodeFixedPoint({sign * 100.0f}, 5, *c, absl::MakeSpan(out), nullptr, k),
                      IsOk());
          sum[0] += out[0];
          sum[1] += out[1];
        }
        const uint32_t mask = (uint32_t{1} << bits) - 1;
        for (uint32_t& w : sum) w &= mask;  // what the secure sum yields
        std::vector<float> mean(1);
        auto weight = DecodeFixedPointMean(sum, *c, absl::MakeSpan(mean));
        ASSERT_THAT(weight, IsOk()) << bits << " " << n;
        // The clip is the largest value; the rounding is at most a unit.
        EXPECT_NEAR(mean[0], sign * 0.7f, 1.0 / c->scale + 1e-6) << bits << " " << n;
      }
    }
  }
  EXPECT_THAT(MakeFixedPointConfig(3, 1.0f, 5, 7), StatusIs(StatusCode::kInvalidArgument, "bits"));
  EXPECT_THAT(MakeFixedPointConfig(3, 1.0f, 5, 33), StatusIs(StatusCode::kInvalidArgument, "bits"));
}

// Below 32 bits the encoder rounds stochastically: averaged over many
// clients the mean is unbiased, where round-to-nearest at 8 bits would be off
// by up to half a unit in every coordinate.
TEST(FixedPointTest, SmallRingRoundingIsUnbiased) {
  auto c = MakeFixedPointConfig(1, 1.0f, 1, 8);  // scale 127
  ASSERT_THAT(c, IsOk());
  const std::vector<float> x = {0.3f / 127, 2.45f / 127, -5.8f / 127};
  const int trials = 20000;
  std::vector<double> mean(x.size(), 0);
  for (int t = 0; t < trials; ++t) {
    std::vector<uint32_t> out(x.size() + 1);
    ASSERT_THAT(EncodeFixedPoint(x, 1, *c, absl::MakeSpan(out), nullptr, 100 + t), IsOk());
    ASSERT_EQ(RingToSigned(out.back(), 8), 127);
    for (size_t i = 0; i < x.size(); ++i) mean[i] += RingToSigned(out[i], 8) / c->scale / trials;
  }
  for (size_t i = 0; i < x.size(); ++i) {
    // Standard error of a unit coin over 20,000 trials is below 0.0036 units.
    EXPECT_NEAR(mean[i], x[i], 0.02 / c->scale) << i;
    EXPECT_GT(std::fabs(std::round(x[i] * c->scale) / c->scale - x[i]), 0.15 / c->scale) << i;
  }
}

TEST(FixedPointTest, RingToSignedSignExtends) {
  EXPECT_EQ(RingToSigned(0xffffu, 16), -1);
  EXPECT_EQ(RingToSigned(0x7fffu, 16), 32767);
  EXPECT_EQ(RingToSigned(0x8000u, 16), -32768);
  EXPECT_EQ(RingToSigned(0x1ffffu, 16), -1);  // bits above the ring are ignored
  EXPECT_EQ(RingToSigned(0xffffffffu, 32), -1);
}

TEST(FixedPointTest, WeightsAreCappedAndNormalised) {
  auto c = MakeFixedPointConfig(2, 1.0f, 100);
  ASSERT_THAT(c, IsOk());
  std::vector<uint32_t> a(2), b(2);
  ASSERT_THAT(EncodeFixedPoint({1.0f}, 1000, *c, absl::MakeSpan(a), nullptr), IsOk());
  ASSERT_THAT(EncodeFixedPoint({0.0f}, 100, *c, absl::MakeSpan(b), nullptr), IsOk());
  std::vector<float> mean(1);
  auto weight = DecodeFixedPointMean(Sum({a, b}), *c, absl::MakeSpan(mean));
  ASSERT_THAT(weight, IsOk());
  EXPECT_NEAR(*weight, 2.0, 1e-6);  // both capped at max_weight
  EXPECT_NEAR(mean[0], 0.5f, 1e-6);
}

TEST(FixedPointTest, ErrorsSayWhatIsWrong) {
  EXPECT_THAT(MakeFixedPointConfig(0, 1.0f, 1), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(MakeFixedPointConfig(2, 0.0f, 1), StatusIs(StatusCode::kInvalidArgument, "clip"));
  EXPECT_THAT(MakeFixedPointConfig(2, std::numeric_limits<float>::infinity(), 1),
              StatusIs(StatusCode::kInvalidArgument, "clip"));
  EXPECT_THAT(MakeFixedPointConfig(2, std::nanf(""), 1), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(MakeFixedPointConfig(2, 1.0f, 0), StatusIs(StatusCode::kInvalidArgument, "max_weight"));
  EXPECT_THAT(MakeFixedPointConfig(4000000000u, 1e9f, 1), StatusIs(StatusCode::kInvalidArgument));

  auto c = MakeFixedPointConfig(2, 1.0f, 10);
  ASSERT_THAT(c, IsOk());
  std::vector<uint32_t> out(3);
  EXPECT_THAT(EncodeFixedPoint({1.0f}, 1, *c, absl::MakeSpan(out), nullptr),
              StatusIs(StatusCode::kInvalidArgument, "values + 1"));
  EXPECT_THAT(EncodeFixedPoint({1.0f, NAN}, 1, *c, absl::MakeSpan(out), nullptr),
              StatusIs(StatusCode::kInvalidArgument, "delta[1]"));
  EXPECT_THAT(EncodeFixedPoint({1.0f, 2.0f}, 0, *c, absl::MakeSpan(out), nullptr),
              StatusIs(StatusCode::kInvalidArgument, "weight"));
  FixedPointConfig broken = *c;
  broken.scale = 0;
  EXPECT_THAT(EncodeFixedPoint({1.0f, 2.0f}, 1, broken, absl::MakeSpan(out), nullptr),
              StatusIs(StatusCode::kInvalidArgument, "scale"));

  std::vector<float> mean(2);
  EXPECT_THAT(DecodeFixedPointMean(std::vector<uint32_t>{1, 2, 0}, *c, absl::MakeSpan(mean)),
              StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(DecodeFixedPointMean(std::vector<uint32_t>{1, 2, 0x80000000u}, *c,
                                   absl::MakeSpan(mean)),
              StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(DecodeFixedPointMean(std::vector<uint32_t>{1, 2}, *c, absl::MakeSpan(mean)),
              StatusIs(StatusCode::kInvalidArgument));
}

// SCAFFOLD's control-variate changes ride in the same SecAgg input,
// unweighted: the decoded mean is the plain mean over clients, within the
// rounding bound, and clipped values count.
TEST(FixedPointTest, UnweightedSectionRoundTripsToThePlainMean) {
  const uint32_t n = 40;
  auto c = MakeFixedPointConfig(n, 1.0f, 600);
  ASSERT_THAT(c, IsOk());
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  const size_t d = 500;
  std::vector<std::vector<uint32_t>> encoded;
  std::vector<double> want(d, 0);
  for (uint32_t k = 0; k < n; ++k) {
    std::vector<float> values(d);
    for (float& x : values) x = value(gen);
    std::vector<uint32_t> out(d);
    size_t clipped = 0;
    ASSERT_THAT(EncodeFixedPointValues(values, *c, absl::MakeSpan(out), &clipped), IsOk());
    EXPECT_EQ(clipped, 0u);
    encoded.push_back(out);
    for (size_t i = 0; i < d; ++i) want[i] += values[i] / n;
  }
  std::vector<float> mean(d);
  ASSERT_THAT(DecodeFixedPointValuesMean(Sum(encoded), *c, n, absl::MakeSpan(mean)), IsOk());
  for (size_t i = 0; i < d; ++i) {
    EXPECT_NEAR(mean[i], want[i], 0.5 / c->scale + 1e-7) << i;
  }

  // Out of range: clipped to +-clip, counted on top of what was counted.
  std::vector<uint32_t> out(2);
  size_t clipped = 3;
  ASSERT_THAT(EncodeFixedPointValues({2.5f, -7.0f}, *c, absl::MakeSpan(out), &clipped), IsOk());
  EXPECT_EQ(clipped, 5u);
  ASSERT_THAT(DecodeFixedPointValuesMean(out, *c, 1, absl::MakeSpan(mean).first(2)), IsOk());
  EXPECT_NEAR(mean[0], 1.0, 1e-8);
  EXPECT_NEAR(mean[1], -1.0, 1e-8);

  EXPECT_THAT(EncodeFixedPointValues({1.0f, NAN}, *c, absl::MakeSpan(out), nullptr),
              StatusIs(StatusCode::kInvalidArgument, "values[1]"));
  EXPECT_THAT(EncodeFixedPointValues({1.0f}, *c, absl::MakeSpan(out), nullptr),
              StatusIs(StatusCode::kInvalidArgument, "1 values"));
  EXPECT_THAT(DecodeFixedPointValuesMean(out, *c, 0, absl::MakeSpan(mean).first(2)),
              StatusIs(StatusCode::kFailedPrecondition, "0 clients"));
}

}  // namespace
}  // namespace fedge::aggregation
