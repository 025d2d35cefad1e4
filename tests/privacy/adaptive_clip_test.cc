#include "privacy/adaptive_clip.h"

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "privacy/noise.h"
#include "tests/testing/status_matchers.h"

namespace fedge::privacy {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

AdaptiveClipConfig NoiselessConfig() {
  AdaptiveClipConfig config;
  config.initial_clip = 1.0;
  config.target_quantile = 0.5;
  config.learning_rate = 0.2;
  config.count_noise_stddev = 0;
  return config;
}

TEST(AdaptiveClipTest, GeometricUpdateMatchesHandComputedValues) {
  AdaptiveClip clip(NoiselessConfig());
  std::unique_ptr<RandomBits> bits = RandomBits::Seeded(1);
  EXPECT_EQ(clip.clip(), 1.0);
  // 8 of 10 unclipped: b = 0.8, C = exp(-0.2 * 0.3).
  EXPECT_DOUBLE_EQ(clip.Update(8, 10, *bits), 0.9417645335842487);
  // 2 of 10: b = 0.2, C *= exp(+0.06), back to 1.
  EXPECT_DOUBLE_EQ(clip.Update(2, 10, *bits), 1.0);
  // All unclipped: b = 1, C *= exp(-0.1).
  EXPECT_DOUBLE_EQ(clip.Update(10, 10, *bits), 0.9048374180359595);
  EXPECT_EQ(clip.rounds(), 3u);
}

TEST(AdaptiveClipTest, ExpectedCohortIsTheDenominatorOfTheCenteredCount) {
  std::unique_ptr<RandomBits> bits = RandomBits::Seeded(1);
  AdaptiveClip clip(NoiselessConfig());
  // 3 of 4 that arrived, 5 expected: b = (3 - 4/2) / 5 + 1/2 = 0.7.
  EXPECT_DOUBLE_EQ(clip.Update(3, 4, 5, *bits), 0.9607894391523232);
  AdaptiveClip low(NoiselessConfig());
  // (0 - 10/2) / 4 + 1/2 < 0: clamped to b = 0, C *= exp(0.1).
  EXPECT_DOUBLE_EQ(low.Update(0, 10, 4, *bits), 1.1051709180756477);
}

TEST(AdaptiveClipTest, OutOfRangeCountsAreClampedAndNoCohortChangesNothing) {
  std::unique_ptr<RandomBits> bits = RandomBits::Seeded(1);
  AdaptiveClip clip(NoiselessConfig());
  EXPECT_DOUBLE_EQ(clip.Update(12, 10, *bits), 0.9048374180359595);  // as 10 of 10
  AdaptiveClip none(NoiselessConfig());
  EXPECT_EQ(none.Update(0, 0, *bits), 1.0);
  EXPECT_EQ(none.Update(3, 4, kNaN, *bits), 1.0);
  EXPECT_EQ(none.rounds(), 0u);
}

TEST(AdaptiveClipTest, CountNoiseHasTheConfiguredStddev) {
  AdaptiveClipConfig config = NoiselessConfig();
  config.count_noise_stddev = 1;
  std::unique_ptr<RandomBits> bits = RandomBits::Seeded(4);
  const int trials = 20000;
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < trials; ++i) {
    AdaptiveClip clip(config);
    // b = gamma - log(C) / eta; with 5 of 10 its noise is N(0, 1) / 10.
    const double b = 0.5 - std::log(clip.Update(5, 10, *bits)) / 0.2;
    sum += b;
    sum_sq += b * b;
  }
  const double mean = sum / trials;
  const double sd = std::sqrt(sum_sq / trials - mean * mean);
  EXPECT_NEAR(mean, 0.5, 5 * 0.1 / std::sqrt(trials));
  EXPECT_NEAR(sd, 0.1, 0.003);
}

// Norms uniform in [0, 10]: the gamma quantile is 10 gamma. With the paper's
// settings (eta 0.2, sigma_b = m / 20) C climbs from 0.1 and settles there.
TEST(AdaptiveClipTest, ConvergesToTheTargetQuantileOfTheNorms) {
  for (double gamma : {0.5, 0.8}) {
    AdaptiveClipConfig config;
    config.initial_clip = 0.1;
    config.target_quantile = gamma;
    config.learning_rate = 0.2;
    const int cohort = 100;
    config.count_noise_stddev = cohort / 20.0;
    absl::StatusOr<std::unique_ptr<AdaptiveClip>> clip = AdaptiveClip::Create(config);
    ASSERT_THAT(clip, IsOk());
    std::unique_ptr<RandomBits> bits = RandomBits::Seeded(17);
    double late_sum = 0;
    const int rounds = 400, late = 200;
    for (int round = 0; round < rounds; ++round) {
      int unclipped = 0;
      for (int i = 0; i < cohort; ++i) unclipped += 10 * bits->Uniform01() <= (*clip)->clip();
      (*clip)->Update(unclipped, cohort, *bits);
      if (round >= rounds - late) late_sum += (*clip)->clip();
    }
    EXPECT_NEAR(late_sum / late, 10 * gamma, 0.25) << gamma;
    EXPECT_NEAR((*clip)->clip(), 10 * gamma, 1.0) << gamma;
  }
}

TEST(AdaptiveClipTest, SaveStateRoundTripsAndRejectsBadState) {
  AdaptiveClip clip(NoiselessConfig());
  std::unique_ptr<RandomBits> bits = RandomBits::Seeded(1);
  clip.Update(9, 10, *bits);
  clip.Update(7, 10, *bits);
  const std::string state = clip.SaveState();
  AdaptiveClip restored(NoiselessConfig());
  ASSERT_THAT(restored.RestoreState(state), IsOk());
  EXPECT_EQ(restored.clip(), clip.clip());
  EXPECT_EQ(restored.rounds(), 2u);
  EXPECT_EQ(restored.SaveState(), state);

  AdaptiveClip other(NoiselessConfig());
  for (size_t n = 0; n < state.size(); ++n) {
    EXPECT_THAT(other.RestoreState(state.substr(0, n)),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_THAT(other.RestoreState(state + "x"), StatusIs(absl::StatusCode::kInvalidArgument));
  std::string magic = state;
  magic[1] = 'X';
  EXPECT_THAT(other.RestoreState(magic), StatusIs(absl::StatusCode::kInvalidArgument));
  std::string version = state;
  version[4] = 9;
  EXPECT_THAT(other.RestoreState(version),
              StatusIs(absl::StatusCode::kInvalidArgument, "version 9"));
  std::string negative = state;
  negative[15] = static_cast<char>(negative[15] | 0x80);  // the clip's sign bit
  EXPECT_THAT(other.RestoreState(negative),
              StatusIs(absl::StatusCode::kInvalidArgument, "not positive"));
  EXPECT_EQ(other.clip(), 1.0);
  EXPECT_EQ(other.rounds(), 0u);
}

TEST(AdaptiveClipTest, ConfigOutOfRangeIsInvalidArgument) {
  EXPECT_THAT(ValidateAdaptiveClipConfig(AdaptiveClipConfig{}), IsOk());
  AdaptiveClipConfig c;
  c.initial_clip = 0;
  EXPECT_THAT(AdaptiveClip::Create(c),
              StatusIs(absl::StatusCode::kInvalidArgument, "initial clip 0"));
  c = {};
  c.target_quantile = 1.5;
  EXPECT_THAT(ValidateAdaptiveClipConfig(c),
              StatusIs(absl::StatusCode::kInvalidArgument, "target quantile 1.5"));
  c = {};
  c.learning_rate = -0.1;
  EXPECT_THAT(ValidateAdaptiveClipConfig(c),
              StatusIs(absl::StatusCode::kInvalidArgument, "learning rate -0.1"));
  c = {};
  c.count_noise_stddev = kNaN;
  EXPECT_THAT(ValidateAdaptiveClipConfig(c),
              StatusIs(absl::StatusCode::kInvalidArgument, "count noise stddev"));
}

TEST(UpdateNoiseMultiplierTest, SplitsTheTotalNoiseAsTheoremOneSays) {
  absl::StatusOr<double> z_delta = UpdateNoiseMultiplier(1.0, 5.0);
  ASSERT_THAT(z_delta, IsOk());
  EXPECT_DOUBLE_EQ(*z_delta, 1.005037815259212);  // (1 - 1/100)^(-1/2)
  absl::StatusOr<double> tight = UpdateNoiseMultiplier(2.0, 1.5);
  ASSERT_THAT(tight, IsOk());
  EXPECT_DOUBLE_EQ(*tight, 2.6832815729997477);  // (1/4 - 1/9)^(-1/2)
  for (double z : {0.5, 1.1, 3.0}) {
    for (double sigma_b : {0.3, 2.0, 50.0}) {
      if (sigma_b <= z / 2) continue;
      absl::StatusOr<double> zd = UpdateNoiseMultiplier(z, sigma_b);
      ASSERT_THAT(zd, IsOk());
      // Composing the two back gives the total.
      EXPECT_NEAR(1 / (*zd * *zd) + 1 / (4 * sigma_b * sigma_b), 1 / (z * z), 1e-12 / (z * z));
      EXPECT_GT(*zd, z);
    }
  }
}

TEST(UpdateNoiseMultiplierTest, TooLittleCountNoiseIsInvalidArgumentNamingBoth) {
  EXPECT_THAT(UpdateNoiseMultiplier(1.0, 0.5),
              StatusIs(absl::StatusCode::kInvalidArgument, "count noise stddev 0.5"));
  EXPECT_THAT(UpdateNoiseMultiplier(1.0, 0.4),
              StatusIs(absl::StatusCode::kInvalidArgument, "total noise multiplier 1"));
  EXPECT_THAT(UpdateNoiseMultiplier(1.0, 0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(UpdateNoiseMultiplier(1.0, kNaN), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(UpdateNoiseMultiplier(0, 5), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(UpdateNoiseMultiplier(std::numeric_limits<double>::infinity(), 5),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace fedge::privacy
