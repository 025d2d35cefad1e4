#include "privacy/rdp_accountant.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace fedge::privacy {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double Rdp(double q, double z, double alpha) {
  absl::StatusOr<double> r = SampledGaussianRdp(q, z, alpha);
  EXPECT_THAT(r, IsOk()) << "q=" << q << " z=" << z << " alpha=" << alpha;
  return r.ok() ? *r : kNaN;
}

double LogAddExp(double a, double b) {
  const double m = std::max(a, b);
  return m + std::log(std::exp(a - m) + std::exp(b - m));
}

// log of the integral of exp(log_f(x)) by composite Simpson on a grid fine
// enough (h = z/64) that it is exact to rounding for these Gaussian-shaped
// integrands; the maximum is factored out so nothing overflows.
template <typename LogF>
double LogSimpson(LogF log_f, double lo, double hi, double h) {
  int64_t n = static_cast<int64_t>(std::ceil((hi - lo) / h));
  n += n % 2;
  h = (hi - lo) / static_cast<double>(n);
  std::vector<double> logs(static_cast<size_t>(n + 1));
  for (int64_t k = 0; k <= n; ++k) logs[static_cast<size_t>(k)] = log_f(lo + h * k);
  const double top = *std::max_element(logs.begin(), logs.end());
  double sum = 0;
  for (int64_t k = 0; k <= n; ++k) {
    const double w = (k == 0 || k == n) ? 1 : (k % 2 == 1 ? 4 : 2);
    sum += w * std::exp(logs[static_cast<size_t>(k)] - top);
  }
  return top + std::log(sum * h / 3);
}

// The Rényi divergences of the sampled Gaussian by quadrature, straight from
// the definition: mu0 = N(0, z^2), mu = (1-q) N(0, z^2) + q N(1, z^2),
//   forward:  D(mu || mu0) = log(int mu0 (mu/mu0)^alpha) / (alpha - 1),
//   backward: D(mu0 || mu) = log(int mu (mu0/mu)^alpha) / (alpha - 1).
struct Divergences {
  double forward;
  double backward;
};

Divergences QuadratureRdp(double q, double z, double alpha) {
  const double log_norm = -0.5 * std::log(2 * M_PI) - std::log(z);
  auto log_mu0 = [&](double x) { return log_norm - x * x / (2 * z * z); };
  // log(mu / mu0) = log(1 - q + q exp((2x - 1) / (2 z^2))).
  auto log_ratio = [&](double x) {
    return LogAddExp(std::log1p(-q), std::log(q) + (2 * x - 1) / (2 * z * z));
  };
  // The forward integrand peaks near 0 and (for large alpha) near alpha.
  const double lo = -16 * z;
  const double hi = alpha + 16 * z + 1;
  const double h = z / 64;
  const double forward = LogSimpson(
      [&](double x) { return log_mu0(x) + alpha * log_ratio(x); }, lo, hi, h);
  const double backward = LogSimpson(
      [&](double x) { return log_mu0(x) + (1 - alpha) * log_ratio(x); }, lo, hi, h);
  return {forward / (alpha - 1), backward / (alpha - 1)};
}

TEST(SampledGaussianRdpTest, WithoutSamplingItIsTheGaussianMechanismsAlphaOverTwoZSquared) {
  for (double z : {0.5, 1.1, 4.0}) {
    for (double alpha : {1.25, 1.5, 2.0, 3.75, 10.0, 64.0, 100.5}) {
      EXPECT_DOUBLE_EQ(Rdp(1, z, alpha), alpha / (2 * z * z)) << z << " " << alpha;
    }
  }
}

TEST(SampledGaussianRdpTest, ZeroSamplingRateCostsNothing) {
  EXPECT_EQ(Rdp(0, 0.3, 2), 0);
  EXPECT_EQ(Rdp(0, 0.3, 7.5), 0);
}

// The series (integer and fractional) against the integral they expand.
// Mironov, Talwar and Zhang 2019 show the forward divergence is the larger
// for the sampled Gaussian, so it is the RDP; the quadrature checks that too.
TEST(SampledGaussianRdpTest, MatchesNumericalIntegrationOfTheRenyiDivergence) {
  for (double q : {0.01, 0.1, 0.5}) {
    for (double z : {0.8, 1.1, 2.0, 5.0}) {
      for (double alpha : {1.5, 2.0, 3.5, 8.0, 11.75, 20.0, 20.5}) {
        const Divergences want = QuadratureRdp(q, z, alpha);
        const double got = Rdp(q, z, alpha);
        EXPECT_NEAR(got, want.forward, 1e-6 * want.forward + 1e-13)
            << "q=" << q << " z=" << z << " alpha=" << alpha;
        EXPECT_LE(want.backward, want.forward * (1 + 1e-9))
            << "q=" << q << " z=" << z << " alpha=" << alpha;
      }
    }
  }
}

// A Rényi divergence does not decrease with the order; a wrong series term
// or stopping rule shows up as a dip between neighbouring orders.
TEST(SampledGaussianRdpTest, GrowsWithTheOrderAcrossIntegerAndFractionalOrders) {
  for (double q : {0.001, 0.05, 0.5, 0.9}) {
    for (double z : {0.7, 1.0, 3.0, 20.0}) {
      double previous = 0;
      for (double alpha : DefaultRdpOrders()) {
        const double r = Rdp(q, z, alpha);
        EXPECT_GE(r, previous * (1 - 1e-10)) << "q=" << q << " z=" << z << " alpha=" << alpha;
        previous = r;
      }
    }
  }
}

TEST(SampledGaussianRdpTest, BadArgumentsAreInvalidArgumentNamingTheValue) {
  EXPECT_THAT(SampledGaussianRdp(-0.1, 1, 2),
              StatusIs(absl::StatusCode::kInvalidArgument, "q = -0.1"));
  EXPECT_THAT(SampledGaussianRdp(1.5, 1, 2),
              StatusIs(absl::StatusCode::kInvalidArgument, "q = 1.5"));
  EXPECT_THAT(SampledGaussianRdp(kNaN, 1, 2), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SampledGaussianRdp(0.1, 0, 2),
              StatusIs(absl::StatusCode::kInvalidArgument, "noise multiplier 0"));
  EXPECT_THAT(SampledGaussianRdp(0.1, -1, 2), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SampledGaussianRdp(0.1, kInf, 2), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SampledGaussianRdp(0.1, kNaN, 2), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SampledGaussianRdp(0.1, 1, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, "order 1 "));
  EXPECT_THAT(SampledGaussianRdp(0.1, 1, 0.5), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SampledGaussianRdp(0.1, 1, kNaN), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SampledGaussianRdp(0.1, 1, kInf), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SampledGaussianRdp(0.1, 1, 2e6), StatusIs(absl::StatusCode::kInvalidArgument));
  // q = 0 and q = 1 are checked like any other.
  EXPECT_THAT(SampledGaussianRdp(0, 1, 0.5), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SampledGaussianRdp(1, 0, 2), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DefaultRdpOrdersTest, AreSortedAboveOneFromFineToCoarse) {
  const std::vector<double> orders = DefaultRdpOrders();
  ASSERT_EQ(orders.size(), 101u);
  EXPECT_EQ(orders.front(), 1.25);
  EXPECT_EQ(orders[1], 1.5);
  EXPECT_EQ(orders.back(), 512);
  EXPECT_TRUE(std::is_sorted(orders.begin(), orders.end()));
  EXPECT_NE(std::find(orders.begin(), orders.end(), 11.75), orders.end());
  for (double a = 12; a <= 64; ++a) {
    EXPECT_NE(std::find(orders.begin(), orders.end(), a), orders.end()) << a;
  }
}

double ImprovedConversion(double rdp, double a, double delta) {
  return rdp + std::log((a - 1) / a) - (std::log(delta) + std::log(a)) / (a - 1);
}

double MironovConversion(double rdp, double a, double delta) {
  return rdp + std::log(1 / delta) / (a - 1);
}

TEST(EpsilonFromRdpTest, TakesTheBestOrderUnderTheImprovedConversion) {
  const std::vector<double> orders = {2, 8, 32};
  const std::vector<double> rdp = {0.1, 0.5, 3.0};
  absl::StatusOr<PrivacySpent> spent = EpsilonFromRdp(orders, rdp, 1e-5);
  ASSERT_THAT(spent, IsOk());
  double want = kInf, want_order = 0;
  for (size_t i = 0; i < orders.size(); ++i) {
    const double e = ImprovedConversion(rdp[i], orders[i], 1e-5);
    if (e < want) {
      want = e;
      want_order = orders[i];
    }
    // Always below Mironov 2017's conversion.
    EXPECT_LT(e, MironovConversion(rdp[i], orders[i], 1e-5));
  }
  EXPECT_DOUBLE_EQ(spent->epsilon, want);
  EXPECT_EQ(spent->order, want_order);
  EXPECT_EQ(want_order, 8);
}

TEST(EpsilonFromRdpTest, ClampsAtZeroAndSkipsInfiniteOrders) {
  // Nothing composed: epsilon 0 (Bretagnolle-Huber), not the conversion's
  // positive offset.
  absl::StatusOr<PrivacySpent> none = EpsilonFromRdp(std::vector<double>{2, 64},
                                                     std::vector<double>{0, 0}, 1e-5);
  ASSERT_THAT(none, IsOk());
  EXPECT_EQ(none->epsilon, 0);
  absl::StatusOr<PrivacySpent> tiny = EpsilonFromRdp(std::vector<double>{512},
                                                     std::vector<double>{1e-4}, 0.5);
  ASSERT_THAT(tiny, IsOk());
  EXPECT_EQ(tiny->epsilon, 0);  // the formula is negative here
  absl::StatusOr<PrivacySpent> mixed = EpsilonFromRdp(std::vector<double>{2, 4},
                                                      std::vector<double>{kInf, 1.0}, 1e-5);
  ASSERT_THAT(mixed, IsOk());
  EXPECT_EQ(mixed->order, 4);
  EXPECT_DOUBLE_EQ(mixed->epsilon, ImprovedConversion(1.0, 4, 1e-5));
  absl::StatusOr<PrivacySpent> all_inf = EpsilonFromRdp(std::vector<double>{2},
                                                        std::vector<double>{kInf}, 1e-5);
  ASSERT_THAT(all_inf, IsOk());
  EXPECT_EQ(all_inf->epsilon, kInf);
}

TEST(EpsilonFromRdpTest, BadArgumentsAreInvalidArgument) {
  const std::vector<double> two = {2, 3};
  EXPECT_THAT(EpsilonFromRdp(two, std::vector<double>{1}, 1e-5),
              StatusIs(absl::StatusCode::kInvalidArgument, "2 orders and 1 RDP values"));
  EXPECT_THAT(EpsilonFromRdp({}, {}, 1e-5), StatusIs(absl::StatusCode::kInvalidArgument));
  for (double delta : {0.0, 1.0, -1e-5, kNaN}) {
    EXPECT_THAT(EpsilonFromRdp(two, two, delta),
                StatusIs(absl::StatusCode::kInvalidArgument, "delta"));
  }
  EXPECT_THAT(EpsilonFromRdp(two, std::vector<double>{1, -0.5}, 1e-5),
              StatusIs(absl::StatusCode::kInvalidArgument, "-0.5 at order 3"));
  EXPECT_THAT(EpsilonFromRdp(two, std::vector<double>{kNaN, 1}, 1e-5),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(EpsilonFromRdp(std::vector<double>{1, 2}, two, 1e-5),
              StatusIs(absl::StatusCode::kInvalidArgument, "order 1 "));
}

// TF Privacy's MNIST DP-SGD tutorial: 60000 examples, batch 256, noise 1.1,
// 60 epochs = ceil(60 * 60000 / 256) = 14063 steps, delta 1e-5. Its README
// reports eps = 3.01 (Mironov's conversion, orders 1.1, 1.2, ..., 10.9,
// 12..63). The figures below were computed independently with mpmath at 40
// digits (integer orders: the binomial sum; fractional: adaptive quadrature
// of the divergence integral): with TF Privacy's current orders (1.25 ...
// 4.5, 5..63, 128, 256, 512) Mironov's conversion gives 3.009211 and the
// improved one 2.597080 (order 8), which is also the default orders' figure;
// TF's old orders with Mironov's conversion give 3.008381 (order 8.8).
TEST(RdpAccountantTest, MnistDpSgdTutorialMatchesTheReferenceFigures) {
  const double q = 256.0 / 60000;
  const uint64_t steps = 14063;
  std::vector<double> tf_orders = {1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5};
  for (int a = 5; a < 64; ++a) tf_orders.push_back(a);
  for (double a : {128, 256, 512}) tf_orders.push_back(a);
  RdpAccountant tf(tf_orders);
  ASSERT_THAT(tf.Compose(q, 1.1, steps), IsOk());
  absl::StatusOr<PrivacySpent> spent = tf.Epsilon(1e-5);
  ASSERT_THAT(spent, IsOk());
  EXPECT_NEAR(spent->epsilon, 2.597080, 2e-6);
  EXPECT_EQ(spent->order, 8);
  double mironov = kInf;
  for (size_t i = 0; i < tf_orders.size(); ++i) {
    mironov = std::min(mironov, MironovConversion(tf.rdp()[i], tf_orders[i], 1e-5));
  }
  EXPECT_NEAR(mironov, 3.009211, 2e-6);

  std::vector<double> old_orders;
  for (int x = 1; x < 100; ++x) old_orders.push_back(1 + x / 10.0);
  for (int a = 12; a < 64; ++a) old_orders.push_back(a);
  RdpAccountant old(old_orders);
  ASSERT_THAT(old.Compose(q, 1.1, steps), IsOk());
  double old_eps = kInf;
  for (size_t i = 0; i < old_orders.size(); ++i) {
    old_eps = std::min(old_eps, MironovConversion(old.rdp()[i], old_orders[i], 1e-5));
  }
  EXPECT_NEAR(old_eps, 3.008381, 2e-6);
  EXPECT_EQ(std::round(old_eps * 100) / 100, 3.01);  // the README's figure

  RdpAccountant ours;
  ASSERT_THAT(ours.Compose(q, 1.1, steps), IsOk());
  absl::StatusOr<PrivacySpent> default_spent = ours.Epsilon(1e-5);
  ASSERT_THAT(default_spent, IsOk());
  EXPECT_NEAR(default_spent->epsilon, 2.597080, 2e-6);
}

// q = 0.1, z = 1, 50 steps, delta = 1e-5 over the integer orders 2..32, with
// the binomial sum written out directly in double (the orders stop at 32 so
// exp((i^2 - i)/2) stays finite). mpmath gives 6.021492 (order 4); the
// default orders, a superset, reach 5.889561 (order 3.75).
TEST(RdpAccountantTest, SmallRunMatchesADirectBinomialSum) {
  const double q = 0.1, z = 1.0, delta = 1e-5;
  const int steps = 50;
  std::vector<double> orders;
  double want = kInf;
  for (int a = 2; a <= 32; ++a) {
    orders.push_back(a);
    double binomial = 1, sum = 0;
    for (int i = 0; i <= a; ++i) {
      if (i > 0) binomial = binomial * (a - i + 1) / i;
      sum += binomial * std::pow(1 - q, a - i) * std::pow(q, i) *
             std::exp((i * i - i) / (2 * z * z));
    }
    want = std::min(want, ImprovedConversion(steps * std::log(sum) / (a - 1), a, delta));
  }
  RdpAccountant integer(orders);
  ASSERT_THAT(integer.Compose(q, z, steps), IsOk());
  absl::StatusOr<PrivacySpent> spent = integer.Epsilon(delta);
  ASSERT_THAT(spent, IsOk());
  EXPECT_NEAR(spent->epsilon, want, 1e-9 * want);
  EXPECT_NEAR(spent->epsilon, 6.021492, 2e-6);
  EXPECT_EQ(spent->order, 4);

  RdpAccountant defaults;
  ASSERT_THAT(defaults.Compose(q, z, steps), IsOk());
  absl::StatusOr<PrivacySpent> finer = defaults.Epsilon(delta);
  ASSERT_THAT(finer, IsOk());
  EXPECT_NEAR(finer->epsilon, 5.889561, 2e-6);
  EXPECT_EQ(finer->order, 3.75);
}

TEST(RdpAccountantTest, CompositionAddsCurvesAndCountsSteps) {
  RdpAccountant a;
  ASSERT_THAT(a.Compose(0.05, 1.3, 3), IsOk());
  ASSERT_THAT(a.Compose(0.2, 2.0), IsOk());
  EXPECT_EQ(a.steps(), 4u);
  for (size_t i = 0; i < a.orders().size(); ++i) {
    const double alpha = a.orders()[i];
    const double want = 3 * Rdp(0.05, 1.3, alpha) + Rdp(0.2, 2.0, alpha);
    EXPECT_NEAR(a.rdp()[i], want, 1e-12 * want) << alpha;
  }
  // A raw curve adds order by order and is no step.
  std::vector<double> extra(a.orders().size());
  for (size_t i = 0; i < extra.size(); ++i) extra[i] = 0.01 * a.orders()[i];
  const std::vector<double> before = a.rdp();
  ASSERT_THAT(a.ComposeRdp(extra), IsOk());
  EXPECT_EQ(a.steps(), 4u);
  for (size_t i = 0; i < extra.size(); ++i) EXPECT_EQ(a.rdp()[i], before[i] + extra[i]);

  RdpAccountant three;
  RdpAccountant six;
  ASSERT_THAT(three.Compose(0.05, 1.3, 3), IsOk());
  ASSERT_THAT(six.Compose(0.05, 1.3, 6), IsOk());
  for (size_t i = 0; i < three.rdp().size(); ++i) {
    EXPECT_NEAR(six.rdp()[i], 2 * three.rdp()[i], 1e-12 * six.rdp()[i]);
  }
  EXPECT_GT(six.Epsilon(1e-5)->epsilon, three.Epsilon(1e-5)->epsilon);
}

TEST(RdpAccountantTest, EpsilonAfterPredictsWithoutComposing) {
  RdpAccountant a;
  ASSERT_THAT(a.Compose(0.01, 1.0, 100), IsOk());
  const std::vector<double> curve = a.rdp();
  absl::StatusOr<PrivacySpent> predicted = a.EpsilonAfter(0.01, 1.0, 50, 1e-5);
  ASSERT_THAT(predicted, IsOk());
  EXPECT_EQ(a.rdp(), curve);
  EXPECT_EQ(a.steps(), 100u);
  ASSERT_THAT(a.Compose(0.01, 1.0, 50), IsOk());
  absl::StatusOr<PrivacySpent> actual = a.Epsilon(1e-5);
  ASSERT_THAT(actual, IsOk());
  EXPECT_NEAR(predicted->epsilon, actual->epsilon, 1e-12);
  EXPECT_EQ(predicted->order, actual->order);
}

TEST(RdpAccountantTest, BadArgumentsLeaveTheStateUntouched) {
  RdpAccountant a;
  ASSERT_THAT(a.Compose(0.1, 1.0, 2), IsOk());
  const std::string state = a.SaveState();
  EXPECT_THAT(a.Compose(1.5, 1.0), StatusIs(absl::StatusCode::kInvalidArgument, "q = 1.5"));
  EXPECT_THAT(a.Compose(0.1, 0.0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(a.ComposeRdp(std::vector<double>(3, 1.0)),
              StatusIs(absl::StatusCode::kInvalidArgument, "curve of 3"));
  std::vector<double> negative(a.orders().size(), 0.1);
  negative[7] = -1;
  EXPECT_THAT(a.ComposeRdp(negative), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(a.Epsilon(0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(a.EpsilonAfter(0.1, -1, 1, 1e-5), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(a.SaveState(), state);

  RdpAccountant bad_orders(std::vector<double>{2, 0.5});
  EXPECT_THAT(bad_orders.Compose(0.1, 1.0),
              StatusIs(absl::StatusCode::kInvalidArgument, "order 0.5"));
  EXPECT_THAT(bad_orders.Epsilon(1e-5), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(bad_orders.steps(), 0u);
}

TEST(RdpAccountantTest, SaveStateRoundTripsExactly) {
  RdpAccountant a;
  ASSERT_THAT(a.Compose(0.02, 0.9, 123), IsOk());
  std::vector<double> with_inf(a.orders().size(), 0.0);
  with_inf.back() = kInf;
  ASSERT_THAT(a.ComposeRdp(with_inf), IsOk());
  RdpAccountant b;
  ASSERT_THAT(b.RestoreState(a.SaveState()), IsOk());
  EXPECT_EQ(b.steps(), 123u);
  EXPECT_EQ(b.rdp(), a.rdp());  // bit for bit
  EXPECT_EQ(b.SaveState(), a.SaveState());
  EXPECT_EQ(b.Epsilon(1e-6)->epsilon, a.Epsilon(1e-6)->epsilon);
}

TEST(RdpAccountantTest, RestoreRejectsTruncatedCorruptedOrForeignState) {
  RdpAccountant a;
  ASSERT_THAT(a.Compose(0.02, 0.9, 10), IsOk());
  const std::string good = a.SaveState();
  RdpAccountant b;
  ASSERT_THAT(b.Compose(0.5, 3.0), IsOk());
  const std::string b_before = b.SaveState();
  auto rejected = [&](const std::string& state) {
    const absl::Status s = b.RestoreState(state);
    return s.code() == absl::StatusCode::kInvalidArgument && b.SaveState() == b_before;
  };
  for (size_t n = 0; n < good.size(); ++n) EXPECT_TRUE(rejected(good.substr(0, n))) << n;
  EXPECT_TRUE(rejected(good + "x"));
  std::string magic = good;
  magic[0] = 'X';
  EXPECT_TRUE(rejected(magic));
  std::string version = good;
  version[4] = 2;
  EXPECT_TRUE(rejected(version));
  std::string count = good;
  count[16] = static_cast<char>(count[16] + 1);
  EXPECT_TRUE(rejected(count));
  std::string order = good;
  order[20 + 16 * 5] ^= 1;  // the low bit of the sixth order
  EXPECT_TRUE(rejected(order));
  EXPECT_THAT(b.RestoreState(order), StatusIs(absl::StatusCode::kInvalidArgument, "order 5"));
  std::string negative = good;
  negative[20 + 16 * 5 + 8 + 7] |= static_cast<char>(0x80);  // the sign bit of its RDP
  EXPECT_TRUE(rejected(negative));
  std::string nan = good;
  for (int k = 0; k < 8; ++k) nan[20 + 8 + k] = static_cast<char>(0xff);
  EXPECT_TRUE(rejected(nan));
  // Another accountant's orders.
  RdpAccountant other(std::vector<double>{2, 3, 4});
  ASSERT_THAT(other.Compose(0.1, 1.0), IsOk());
  EXPECT_TRUE(rejected(other.SaveState()));
  EXPECT_THAT(other.RestoreState(good), StatusIs(absl::StatusCode::kInvalidArgument,
                                                 "this accountant tracks 3"));
}

TEST(NoiseMultiplierForBudgetTest, MeetsTheTargetAndOnePercentLessDoesNot) {
  struct Case {
    double q;
    uint64_t steps;
    double epsilon;
    double delta;
  };
  for (const Case& c : {Case{0.01, 1000, 1.0, 1e-5}, Case{256.0 / 60000, 14063, 3.0, 1e-5},
                        Case{1.0, 10, 5.0, 1e-6}, Case{0.3, 50, 8.0, 1e-5}}) {
    absl::StatusOr<double> z = NoiseMultiplierForBudget(c.q, c.steps, c.epsilon, c.delta);
    ASSERT_THAT(z, IsOk()) << c.q;
    RdpAccountant at(DefaultRdpOrders());
    EXPECT_LE(at.EpsilonAfter(c.q, *z, c.steps, c.delta)->epsilon, c.epsilon) << c.q;
    EXPECT_GT(at.EpsilonAfter(c.q, 0.99 * *z, c.steps, c.delta)->epsilon, c.epsilon) << c.q;
  }
  // The MNIST tutorial's 1.1 gives 2.60, so epsilon 2.6 needs a little less.
  absl::StatusOr<double> mnist = NoiseMultiplierForBudget(256.0 / 60000, 14063, 2.6, 1e-5);
  ASSERT_THAT(mnist, IsOk());
  EXPECT_LT(*mnist, 1.1);
  EXPECT_GT(*mnist, 1.09);
}

TEST(NoiseMultiplierForBudgetTest, UnreachableOrBadTargetsAreInvalidArgument) {
  EXPECT_THAT(NoiseMultiplierForBudget(1.0, 1000000, 0.01, 1e-5),
              StatusIs(absl::StatusCode::kInvalidArgument, "even noise multiplier 1000"));
  EXPECT_THAT(NoiseMultiplierForBudget(0, 10, 1, 1e-5),
              StatusIs(absl::StatusCode::kInvalidArgument, "q = 0"));
  EXPECT_THAT(NoiseMultiplierForBudget(0.1, 0, 1, 1e-5),
              StatusIs(absl::StatusCode::kInvalidArgument, "0 steps"));
  EXPECT_THAT(NoiseMultiplierForBudget(0.1, 10, 0, 1e-5),
              StatusIs(absl::StatusCode::kInvalidArgument, "target epsilon 0"));
  EXPECT_THAT(NoiseMultiplierForBudget(0.1, 10, kInf, 1e-5),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(NoiseMultiplierForBudget(0.1, 10, 1, 1.0),
              StatusIs(absl::StatusCode::kInvalidArgument, "delta"));
}

}  // namespace
}  // namespace fedge::privacy
