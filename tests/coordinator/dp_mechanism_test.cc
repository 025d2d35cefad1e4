// The coordinator's differential privacy (coordinator/dp_mechanism.h): the
// noise it adds, the clip it applies, the budget it enforces, the state it
// checkpoints and the flag combinations it refuses.

#include "coordinator/dp_mechanism.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "privacy/rdp_accountant.h"
#include "tests/testing/status_matchers.h"

namespace fedge::coordinator {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::HasSubstr;
using protocol::PrivacyMode;

std::vector<std::string> Peers(int n) {
  std::vector<std::string> peers;
  for (int i = 0; i < n; ++i) peers.push_back("peer-" + std::to_string(i));
  return peers;
}

std::unique_ptr<DpMechanism> Make(PrivacyOptions o) {
  absl::StatusOr<std::unique_ptr<DpMechanism>> m = DpMechanism::Create(o);
  EXPECT_THAT(m, IsOk());
  return m.ok() ? *std::move(m) : nullptr;
}

PrivacyOptions Central(double z, double clip) {
  PrivacyOptions o;
  o.mode = PrivacyMode::kCentral;
  o.noise_multiplier = z;
  o.clip = clip;
  o.noise_seed = 7;
  return o;
}

// The noised estimate is (sum + N(0, (z C)^2)) / (q N): with a zero sum its
// standard deviation over 200,000 coordinates must be z C / (q N) to 2 %
// (a noise off by 10 % fails), its mean 0 within 5 standard errors.
TEST(DpMechanismTest, CentralNoiseHasTheConfiguredStandardDeviation) {
  std::unique_ptr<DpMechanism> dp = Make(Central(1.3, 0.2));
  const std::vector<std::string> cohort = dp->SampleCohort(Peers(100), 10);
  std::vector<float> mean(200000, 0.0f);
  PrivacyFigures f;
  ASSERT_THAT(dp->FinishRound(absl::MakeSpan(mean), cohort.size(), &f), IsOk());
  double sum = 0, sum2 = 0;
  for (float v : mean) {
    sum += v;
    sum2 += double{v} * v;
  }
  const double n = static_cast<double>(mean.size());
  const double want = 1.3 * 0.2 / 10.0;
  EXPECT_NEAR(std::sqrt(sum2 / n - (sum / n) * (sum / n)), want, 0.02 * want);
  EXPECT_NEAR(sum / n, 0.0, 5 * want / std::sqrt(n));
  EXPECT_DOUBLE_EQ(f.noise_stddev, 1.3 * 0.2);
  EXPECT_DOUBLE_EQ(f.sampling_rate, 0.1);
  EXPECT_TRUE(std::isinf(f.epsilon_coordinator));  // central: the coordinator sees updates
}

// Without noise in the way (a huge sum), the estimate is the sum over the
// expected cohort, not over those who reported.
TEST(DpMechanismTest, TheDenominatorIsTheExpectedCohort) {
  std::unique_ptr<DpMechanism> dp = Make(Central(1e-9, 1.0));
  dp->SampleCohort(Peers(40), 8);  // q = 0.2, expected cohort 8
  std::vector<float> mean = {2.0f, -4.0f};  // the mean of 3 reports
  PrivacyFigures f;
  ASSERT_THAT(dp->FinishRound(absl::MakeSpan(mean), 3, &f), IsOk());
  EXPECT_NEAR(mean[0], 2.0 * 3 / 8, 1e-6);
  EXPECT_NEAR(mean[1], -4.0 * 3 / 8, 1e-6);
}

TEST(DpMechanismTest, PoissonSamplingHasTheExpectedRate) {
  std::unique_ptr<DpMechanism> dp = Make(Central(1.0, 1.0));
  size_t total = 0;
  for (int round = 0; round < 200; ++round) total += dp->SampleCohort(Peers(1000), 50).size();
  // 200 rounds x 1000 x Bernoulli(0.05): mean 10,000, stddev ~97.
  EXPECT_NEAR(static_cast<double>(total), 10000.0, 500.0);
}

// Every contribution is bounded: the clip covers every coordinate.
TEST(DpMechanismTest, ClipBoundsEveryContribution) {
  std::unique_ptr<DpMechanism> dp = Make(Central(1.0, 0.5));
  dp->SampleCohort(Peers(4), 4);
  std::vector<float> big = {30.0f, -40.0f, 0.0f};  // norm 50
  EXPECT_NEAR(dp->ClipUpdate(absl::MakeSpan(big)), 50.0, 1e-9);
  EXPECT_NEAR(std::hypot(big[0], big[1]), 0.5, 1e-6);
  std::vector<float> small = {0.1f, 0.2f};
  dp->ClipUpdate(absl::MakeSpan(small));
  EXPECT_EQ(small, (std::vector<float>{0.1f, 0.2f}));
  std::vector<float> mean(2, 0.0f);
  PrivacyFigures f;
  ASSERT_THAT(dp->FinishRound(absl::MakeSpan(mean), 2, &f), IsOk());
  EXPECT_EQ(f.clipped, 1u);
}

// The run stops before the round that would take epsilon past the target:
// every round it runs keeps epsilon within it, and one more would not.
TEST(DpMechanismTest, BudgetStopsBeforeTheRoundThatWouldExceedIt) {
  PrivacyOptions o = Central(1.0, 1.0);
  o.target_epsilon = 4.0;
  std::unique_ptr<DpMechanism> dp = Make(o);
  int rounds = 0;
  std::optional<std::string> why;
  for (; rounds < 1000; ++rounds) {
    dp->SampleCohort(Peers(100), 10);
    why = dp->BudgetExhausted();
    if (why.has_value()) break;
    std::vector<float> mean(4, 0.0f);
    PrivacyFigures f;
    ASSERT_THAT(dp->FinishRound(absl::MakeSpan(mean), 10, &f), IsOk());
    EXPECT_LE(f.epsilon, 4.0);
  }
  ASSERT_TRUE(why.has_value());
  EXPECT_THAT(*why, HasSubstr("--dp_target_epsilon=4"));
  // Independently: compose round by round with the accountant itself.
  privacy::RdpAccountant a;
  int allowed = 0;
  while (true) {
    ASSERT_THAT(a.Compose(0.1, 1.0), IsOk());
    absl::StatusOr<privacy::PrivacySpent> e = a.Epsilon(1e-5);
    ASSERT_THAT(e, IsOk());
    if (e->epsilon > 4.0) break;
    ++allowed;
  }
  EXPECT_EQ(rounds, allowed);
  EXPECT_GT(rounds, 10);
}

// Adaptive clipping (Andrew et al. 2021) through the mechanism: with norms
// uniform in [0, 10] the clip settles at their median, 5, from 0.1.
TEST(DpMechanismTest, AdaptiveClipSettlesAtTheTargetQuantile) {
  PrivacyOptions o = Central(1.0, 0.1);
  o.adaptive_clip = true;
  o.target_quantile = 0.5;
  o.clip_learning_rate = 0.2;  // count noise: max(100 / 20, 1) = 5
  std::unique_ptr<DpMechanism> dp = Make(o);
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<float> norm(0.0f, 10.0f);
  double late_sum = 0;
  for (int round = 0; round < 300; ++round) {
    const size_t n = dp->SampleCohort(Peers(100), 100).size();
    for (size_t i = 0; i < n; ++i) {
      std::vector<float> u = {norm(rng), 0.0f};
      dp->ClipUpdate(absl::MakeSpan(u));
    }
    std::vector<float> mean(2, 0.0f);
    PrivacyFigures f;
    ASSERT_THAT(dp->FinishRound(absl::MakeSpan(mean), n, &f), IsOk());
    // z_delta for z = 1, sigma_b = 5: (1 - 1/100)^(-1/2).
    EXPECT_NEAR(f.noise_stddev, f.clip / std::sqrt(1.0 - 0.01), 1e-9);
    if (round >= 200) late_sum += dp->clip();
  }
  EXPECT_NEAR(late_sum / 100, 5.0, 0.5);
}

TEST(DpMechanismTest, LocalAndDistributedReportEpsilonAgainstTheCoordinator) {
  PrivacyOptions o = Central(2.0, 1.0);
  o.mode = PrivacyMode::kLocal;
  std::unique_ptr<DpMechanism> dp = Make(o);
  dp->SampleCohort(Peers(100), 10);
  protocol::TrainingConfig task;
  dp->ConfigureTask(&task);
  EXPECT_EQ(task.privacy.mode, PrivacyMode::kLocal);
  EXPECT_FLOAT_EQ(task.privacy.clip, 1.0f);
  EXPECT_DOUBLE_EQ(task.privacy.noise_stddev, 2.0);
  // The coordinator does not clip a noised update again: its norm is
  // mostly the device's noise.
  std::vector<float> noised = {30.0f, -40.0f, 0.0f};
  EXPECT_NEAR(dp->ClipUpdate(absl::MakeSpan(noised)), 50.0, 1e-9);
  EXPECT_EQ(noised, (std::vector<float>{30.0f, -40.0f, 0.0f}));
  std::vector<float> mean(3, 0.0f);
  PrivacyFigures f;
  ASSERT_THAT(dp->FinishRound(absl::MakeSpan(mean), 9, &f), IsOk());
  EXPECT_EQ(mean, std::vector<float>(3, 0.0f));  // local: the devices added the noise
  EXPECT_DOUBLE_EQ(f.noise_stddev, 2.0 * 3.0);   // sqrt(9) devices' noise in the sum
  // Against the coordinator, which knows who was sampled: no amplification.
  privacy::RdpAccountant unsampled;
  ASSERT_THAT(unsampled.Compose(1.0, 2.0), IsOk());
  EXPECT_NEAR(f.epsilon_coordinator, unsampled.Epsilon(1e-5)->epsilon, 1e-12);
  EXPECT_LT(f.epsilon, f.epsilon_coordinator);
}

TEST(DpMechanismTest, StateRoundTripsAndMismatchesAreRefused) {
  std::unique_ptr<DpMechanism> a = Make(Central(1.1, 1.0));
  for (int i = 0; i < 3; ++i) {
    a->SampleCohort(Peers(50), 5);
    std::vector<float> mean(2, 0.0f);
    PrivacyFigures f;
    ASSERT_THAT(a->FinishRound(absl::MakeSpan(mean), 5, &f), IsOk());
  }
  const std::string state = a->SaveState();
  std::unique_ptr<DpMechanism> b = Make(Central(1.1, 1.0));
  ASSERT_THAT(b->RestoreState(state), IsOk());
  EXPECT_DOUBLE_EQ(*b->Epsilon(), *a->Epsilon());
  EXPECT_GT(*b->Epsilon(), 0);

  PrivacyOptions local = Central(1.1, 1.0);
  local.mode = PrivacyMode::kLocal;
  EXPECT_THAT(Make(local)->RestoreState(state),
              StatusIs(absl::StatusCode::kInvalidArgument, "--dp=central"));
  PrivacyOptions adaptive = Central(1.1, 1.0);
  adaptive.adaptive_clip = true;
  EXPECT_THAT(Make(adaptive)->RestoreState(state),
              StatusIs(absl::StatusCode::kInvalidArgument, "--dp_adaptive_clip"));
  EXPECT_THAT(b->RestoreState(state.substr(0, state.size() - 3)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(b->RestoreState("nonsense"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_DOUBLE_EQ(*b->Epsilon(), *a->Epsilon());  // a refused state changed nothing
}

TEST(DpMechanismTest, ImpossibleCombinationsAreRefusedNamingTheFlags) {
  PrivacyOptions o = Central(1.0, 1.0);
  o.mode = PrivacyMode::kDistributed;
  EXPECT_THAT(ValidatePrivacyOptions(o, /*secure=*/false, false, false),
              StatusIs(absl::StatusCode::kInvalidArgument, "--secure"));
  EXPECT_THAT(ValidatePrivacyOptions(Central(1.0, 1.0), /*secure=*/true, false, false),
              StatusIs(absl::StatusCode::kInvalidArgument, "--dp=distributed"));
  o = Central(1.0, 1.0);
  o.mode = PrivacyMode::kLocal;
  o.adaptive_clip = true;
  EXPECT_THAT(ValidatePrivacyOptions(o, false, false, false),
              StatusIs(absl::StatusCode::kInvalidArgument, "--dp_adaptive_clip"));
  o = Central(1.0, 1.0);
  o.adaptive_clip = true;
  o.clip_count_stddev = 0.4;  // at or below z / 2: the count would spend everything
  EXPECT_THAT(ValidatePrivacyOptions(o, false, false, false),
              StatusIs(absl::StatusCode::kInvalidArgument, "--dp_clip_count_stddev=0.4"));
  EXPECT_THAT(ValidatePrivacyOptions(Central(1.0, 1.0), false, /*buffers=*/true, false),
              StatusIs(absl::StatusCode::kInvalidArgument, "robust rules"));
  EXPECT_THAT(ValidatePrivacyOptions(Central(1.0, 1.0), false, false, /*control=*/true),
              StatusIs(absl::StatusCode::kInvalidArgument, "SCAFFOLD"));
  EXPECT_THAT(ValidatePrivacyOptions(Central(0.0, 1.0), false, false, false),
              StatusIs(absl::StatusCode::kInvalidArgument, "--dp_noise_multiplier"));
  EXPECT_THAT(ValidatePrivacyOptions(Central(1.0, -1.0), false, false, false),
              StatusIs(absl::StatusCode::kInvalidArgument, "--dp_clip"));
  o = Central(1.0, 1.0);
  o.delta = 1.0;
  EXPECT_THAT(ValidatePrivacyOptions(o, false, false, false),
              StatusIs(absl::StatusCode::kInvalidArgument, "--dp_delta"));
  PrivacyOptions off;
  EXPECT_THAT(ValidatePrivacyOptions(off, true, true, true), IsOk());
  absl::StatusOr<std::unique_ptr<DpMechanism>> none = DpMechanism::Create(off);
  ASSERT_THAT(none, IsOk());
  EXPECT_EQ(*none, nullptr);
}

}  // namespace
}  // namespace fedge::coordinator
