#include "privacy/rdp_accountant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/little_endian.h"
#include "base/status_macros.h"

namespace fedge::privacy {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// Orders above this would make the series below run for millions of terms.
constexpr double kMaxOrder = 1e6;
// The fractional series stops once a term is below exp(-kSeriesLogTolerance)
// of the sum (~1e-14); the bound on the rest is then added (see LogAFraction).
constexpr double kSeriesLogTolerance = 32;
// A safety stop; the series above reach their tolerance long before.
constexpr int64_t kMaxSeriesTerms = 2'000'000;

// log(exp(a) + exp(b)).
double LogAdd(double a, double b) {
  if (a < b) std::swap(a, b);
  if (b == -kInf || a == kInf) return a;
  return a + std::log1p(std::exp(b - a));
}

// log(exp(a) - exp(b)) for a >= b.
double LogSub(double a, double b) {
  if (b == -kInf) return a;
  if (a <= b) return -kInf;
  const double d = b - a;
  // log1p(-exp(d)) loses digits as d -> 0 and log(-expm1(d)) as d -> -inf
  // (Mächler 2012, "Accurately computing log(1 - exp(-|a|))").
  return a + (d > -M_LN2 ? std::log(-std::expm1(d)) : std::log1p(-std::exp(d)));
}

// A sum of terms of either sign, held as sign * exp(log_abs) so that terms
// of any magnitude add without overflow.
class SignedLogSum {
 public:
  void Add(double log_term, bool negative) {
    if (log_term == -kInf) return;
    const int sign = negative ? -1 : 1;
    if (sign_ == 0 || sign == sign_) {
      log_abs_ = LogAdd(log_abs_, log_term);
      sign_ = sign;
    } else if (log_term > log_abs_) {
      log_abs_ = LogSub(log_term, log_abs_);
      sign_ = sign;
    } else {
      log_abs_ = LogSub(log_abs_, log_term);
      if (log_abs_ == -kInf) sign_ = 0;
    }
  }
  double log_abs() const { return log_abs_; }
  int sign() const { return sign_; }

 private:
  double log_abs_ = -kInf;
  int sign_ = 0;
};

// log(erfc(x)), also far in the upper tail where erfc underflows.
double LogErfc(double x) {
  if (x < 25) return std::log(std::erfc(x));
  // erfc(x) = exp(-x^2) / (x sqrt(pi)) * (1 - t + 3t^2 - 15t^3 + ...), t =
  // 1/(2x^2); at x >= 25 the first omitted term (17!! t^9) is below 1e-21.
  const double t = 1 / (2 * x * x);
  double series = 1;
  for (int k = 8; k >= 1; --k) series = 1 - (2 * k - 1) * t * series;
  return -x * x - std::log(x) - 0.5 * std::log(M_PI) + std::log(series);
}

// log(expm1(x)) for x > 0 without overflow.
double LogExpm1(double x) {
  return x > 1 ? x + std::log1p(-std::exp(-x)) : std::log(std::expm1(x));
}

// log(A_alpha) for integer alpha (Mironov et al. 2019, Section 3), the
// binomial expansion of E_mu0[(1 - q + q mu1/mu0)^alpha]:
//   A = sum_{i=0}^{alpha} C(alpha, i) (1-q)^(alpha-i) q^i exp((i^2 - i) / (2 sigma^2)),
// mu0 = N(0, sigma^2), mu1 = N(1, sigma^2).
// The i = 0 and 1 terms have exp(...) = 1 and the binomial weights sum to 1,
// so A = 1 + sum_{i>=2} C(alpha, i) (1-q)^(alpha-i) q^i expm1(...): summing
// the excess keeps its digits when A is close to 1 (small q, large sigma),
// where log(A) itself is tiny.
double LogAInteger(double q, double sigma, int64_t alpha) {
  const double log_q = std::log(q);
  const double log_1mq = std::log1p(-q);
  const double two_var = 2 * sigma * sigma;
  double log_excess = -kInf;
  double log_coef = std::log(static_cast<double>(alpha));  // log C(alpha, 1)
  for (int64_t i = 2; i <= alpha; ++i) {
    // Built up term by term: lgamma would be as accurate, but glibc's writes
    // the global signgam, a data race between threads.
    log_coef += std::log(static_cast<double>(alpha - i + 1)) - std::log(static_cast<double>(i));
    const double di = static_cast<double>(i);
    const double log_term = log_coef + di * log_q + static_cast<double>(alpha - i) * log_1mq +
                            LogExpm1((di * di - di) / two_var);
    log_excess = LogAdd(log_excess, log_term);
  }
  return LogAdd(0.0, log_excess);
}

// log(A_alpha) for fractional alpha (Mironov et al. 2019, Section 3.3). With
// z0 = sigma^2 log(1/q - 1) + 1/2 the point where q mu1 = (1-q) mu0, A splits
// into two convergent binomial series (x < z0 and x > z0), s = sqrt(2) sigma:
//   A0 = sum_i C(alpha, i) (1-q)^(alpha-i) q^i e^((i^2 - i)/(2 sigma^2)) erfc((i - z0)/s)/2
//   A1 = sum_i C(alpha, i) q^(alpha-i) (1-q)^i e^((j^2 - j)/(2 sigma^2)) erfc((z0 - j)/s)/2,
// j = alpha - i. C(alpha, i) turns negative and alternates in sign once
// i > alpha + 1; both series' terms then shrink monotonically (the Gaussian
// factors cancel up to a Mills ratio, leaving |C(alpha, i)| ~ i^(-alpha-1)),
// so the rest after a term is at most that term. The loop runs past
// alpha + 1 until a term is negligible and then adds that bound: truncation
// rounds A up, never down. Floating point leaves an absolute error of ~1e-16
// in log(A), which is all that remains for RDP values below ~1e-10.
double LogAFraction(double q, double sigma, double alpha) {
  const double log_q = std::log(q);
  const double log_1mq = std::log1p(-q);
  const double two_var = 2 * sigma * sigma;
  const double erfc_scale = std::sqrt(2.0) * sigma;
  const double z0 = sigma * sigma * (log_1mq - log_q) + 0.5;
  const double log_half = -M_LN2;
  SignedLogSum sum;
  double log_coef = 0;    // log |C(alpha, i)|
  bool negative = false;  // C(alpha, i) < 0
  double log_last = 0;    // the larger of the last two terms
  for (int64_t i = 0; i < kMaxSeriesTerms; ++i) {
    const double di = static_cast<double>(i);
    if (i > 0) {
      const double factor = (alpha - di + 1) / di;
      log_coef += std::log(std::fabs(factor));
      if (factor < 0) negative = !negative;
    }
    const double j = alpha - di;
    const double log_s0 = log_coef + di * log_q + j * log_1mq + (di * di - di) / two_var +
                          log_half + LogErfc((di - z0) / erfc_scale);
    const double log_s1 = log_coef + j * log_q + di * log_1mq + (j * j - j) / two_var +
                          log_half + LogErfc((z0 - j) / erfc_scale);
    sum.Add(log_s0, negative);
    sum.Add(log_s1, negative);
    log_last = std::max(log_s0, log_s1);
    if (di > alpha + 1 && log_last < sum.log_abs() - kSeriesLogTolerance) break;
  }
  // The two tails are each at most the last term of their series.
  sum.Add(log_last + M_LN2, /*negative=*/false);
  return sum.sign() > 0 ? sum.log_abs() : 0.0;
}

absl::Status CheckOrder(double alpha) {
  if (!(alpha > 1) || !(alpha <= kMaxOrder)) {
    return absl::InvalidArgumentError(
        absl::StrCat("RDP order ", alpha, " is not in (1, ", kMaxOrder, "]"));
  }
  return absl::OkStatus();
}

absl::Status CheckDelta(double delta) {
  if (!(delta > 0 && delta < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("delta ", delta, " is not in (0, 1)"));
  }
  return absl::OkStatus();
}

absl::Status CheckRdpValue(double order, double value) {
  if (std::isnan(value) || value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("RDP value ", value, " at order ", order, " is negative or NaN"));
  }
  return absl::OkStatus();
}

// Saved state: "FRDP", u32 version, u64 steps, u32 n, n x (f64 order, f64 rdp).
constexpr char kMagic[4] = {'F', 'R', 'D', 'P'};
constexpr uint32_t kStateVersion = 1;
constexpr size_t kStateHeader = 4 + 4 + 8 + 4;

uint64_t DoubleBits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits;
}

double BitsDouble(uint64_t bits) {
  double v;
  std::memcpy(&v, &bits, sizeof(v));
  return v;
}

}  // namespace

std::vector<double> DefaultRdpOrders() {
  std::vector<double> orders;
  for (int k = 5; k < 48; ++k) orders.push_back(0.25 * k);  // 1.25 .. 11.75
  for (int a = 12; a <= 64; ++a) orders.push_back(a);
  for (double a : {80, 96, 128, 256, 512}) orders.push_back(a);
  return orders;
}

absl::StatusOr<double> SampledGaussianRdp(double q, double noise_multiplier, double alpha) {
  if (!(q >= 0 && q <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampled Gaussian: sampling rate q = ", q, " is not in [0, 1]"));
  }
  if (!(noise_multiplier > 0) || !std::isfinite(noise_multiplier)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampled Gaussian: noise multiplier ", noise_multiplier, " is not positive and finite"));
  }
  FEDGE_RETURN_IF_ERROR(CheckOrder(alpha));
  if (q == 0) return 0.0;
  if (q == 1) return alpha / (2 * noise_multiplier * noise_multiplier);
  const double log_a = alpha == std::floor(alpha)
                           ? LogAInteger(q, noise_multiplier, static_cast<int64_t>(alpha))
                           : LogAFraction(q, noise_multiplier, alpha);
  // A >= 1 in exact arithmetic (a Rényi divergence is >= 0).
  return std::max(0.0, log_a / (alpha - 1));
}

absl::StatusOr<PrivacySpent> EpsilonFromRdp(absl::Span<const double> orders,
                                            absl::Span<const double> rdp, double delta) {
  if (orders.size() != rdp.size() || orders.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("epsilon from RDP: ", orders.size(),
                                                   " orders and ", rdp.size(), " RDP values"));
  }
  FEDGE_RETURN_IF_ERROR(CheckDelta(delta));
  // Below this RDP (hence KL divergence) total variation is <= delta.
  const double kl_zero = -std::log1p(-delta * delta);
  PrivacySpent best{kInf, orders[0]};
  for (size_t i = 0; i < orders.size(); ++i) {
    const double a = orders[i];
    const double r = rdp[i];
    FEDGE_RETURN_IF_ERROR(CheckOrder(a));
    FEDGE_RETURN_IF_ERROR(CheckRdpValue(a, r));
    double eps = kInf;
    if (r < kl_zero) {
      eps = 0;
    } else if (r < kInf) {
      eps = std::max(0.0, r + std::log1p(-1 / a) - (std::log(delta) + std::log(a)) / (a - 1));
    }
    if (eps < best.epsilon) best = {eps, a};
  }
  return best;
}

RdpAccountant::RdpAccountant(std::vector<double> orders)
    : orders_(std::move(orders)), rdp_(orders_.size(), 0.0) {}

absl::StatusOr<std::vector<double>> RdpAccountant::Curve(double q, double noise_multiplier,
                                                         uint64_t steps) const {
  if (orders_.empty()) return absl::InvalidArgumentError("RDP accountant has no orders");
  std::vector<double> curve(orders_.size());
  for (size_t i = 0; i < orders_.size(); ++i) {
    FEDGE_ASSIGN_OR_RETURN(const double one, SampledGaussianRdp(q, noise_multiplier, orders_[i]));
    // 0 steps of an infinite RDP is no privacy loss, not NaN.
    curve[i] = steps == 0 ? 0.0 : one * static_cast<double>(steps);
  }
  return curve;
}

absl::Status RdpAccountant::Compose(double q, double noise_multiplier, uint64_t steps) {
  FEDGE_ASSIGN_OR_RETURN(const std::vector<double> curve, Curve(q, noise_multiplier, steps));
  if (steps > std::numeric_limits<uint64_t>::max() - steps_) {
    return absl::InvalidArgumentError(
        absl::StrCat("RDP accountant: ", steps, " more steps overflow the count ", steps_));
  }
  for (size_t i = 0; i < rdp_.size(); ++i) rdp_[i] += curve[i];
  steps_ += steps;
  return absl::OkStatus();
}

absl::Status RdpAccountant::ComposeRdp(absl::Span<const double> rdp) {
  if (rdp.size() != orders_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("RDP accountant tracks ", orders_.size(),
                                                   " orders, got a curve of ", rdp.size()));
  }
  for (size_t i = 0; i < rdp.size(); ++i) {
    FEDGE_RETURN_IF_ERROR(CheckOrder(orders_[i]));
    FEDGE_RETURN_IF_ERROR(CheckRdpValue(orders_[i], rdp[i]));
  }
  for (size_t i = 0; i < rdp.size(); ++i) rdp_[i] += rdp[i];
  return absl::OkStatus();
}

absl::StatusOr<PrivacySpent> RdpAccountant::Epsilon(double delta) const {
  return EpsilonFromRdp(orders_, rdp_, delta);
}

absl::StatusOr<PrivacySpent> RdpAccountant::EpsilonAfter(double q, double noise_multiplier,
                                                         uint64_t steps, double delta) const {
  FEDGE_ASSIGN_OR_RETURN(std::vector<double> curve, Curve(q, noise_multiplier, steps));
  for (size_t i = 0; i < curve.size(); ++i) curve[i] += rdp_[i];
  return EpsilonFromRdp(orders_, curve, delta);
}

std::string RdpAccountant::SaveState() const {
  std::string out(kMagic, sizeof(kMagic));
  AppendLe(kStateVersion, 4, &out);
  AppendLe(steps_, 8, &out);
  AppendLe(orders_.size(), 4, &out);
  for (size_t i = 0; i < orders_.size(); ++i) {
    AppendLe(DoubleBits(orders_[i]), 8, &out);
    AppendLe(DoubleBits(rdp_[i]), 8, &out);
  }
  return out;
}

absl::Status RdpAccountant::RestoreState(absl::string_view state) {
  if (state.size() < kStateHeader || std::memcmp(state.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RDP accountant state: ", state.size(), " bytes without the FRDP header"));
  }
  const uint64_t version = GetLe(state.data() + 4, 4);
  if (version != kStateVersion) {
    return absl::InvalidArgumentError(absl::StrCat("RDP accountant state: version ", version,
                                                   ", this build reads ", kStateVersion));
  }
  const uint64_t count = GetLe(state.data() + 16, 4);
  if (count != orders_.size() || state.size() != kStateHeader + 16 * count) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RDP accountant state: ", state.size(), " bytes holding ", count,
        " orders; this accountant tracks ", orders_.size(), " (",
        kStateHeader + 16 * orders_.size(), " bytes)"));
  }
  std::vector<double> rdp(count);
  const char* p = state.data() + kStateHeader;
  for (size_t i = 0; i < count; ++i, p += 16) {
    const uint64_t order_bits = GetLe(p, 8);
    if (order_bits != DoubleBits(orders_[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("RDP accountant state: order ", i, " is ", BitsDouble(order_bits),
                       ", this accountant's is ", orders_[i]));
    }
    rdp[i] = BitsDouble(GetLe(p + 8, 8));
    FEDGE_RETURN_IF_ERROR(CheckRdpValue(orders_[i], rdp[i]));
  }
  steps_ = GetLe(state.data() + 8, 8);
  rdp_ = std::move(rdp);
  return absl::OkStatus();
}

absl::StatusOr<double> NoiseMultiplierForBudget(double q, uint64_t steps, double target_epsilon,
                                                double delta) {
  if (!(q > 0 && q <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("noise for budget: sampling rate q = ", q, " is not in (0, 1]"));
  }
  if (steps == 0) return absl::InvalidArgumentError("noise for budget: 0 steps");
  if (!(target_epsilon > 0) || !std::isfinite(target_epsilon)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "noise for budget: target epsilon ", target_epsilon, " is not positive and finite"));
  }
  FEDGE_RETURN_IF_ERROR(CheckDelta(delta));
  constexpr double kMinZ = 1e-3;
  constexpr double kMaxZ = 1000;
  constexpr double kRelativeTolerance = 1e-4;
  const RdpAccountant accountant;
  // Epsilon falls as z grows (every order's RDP does), so bisection applies.
  auto meets = [&](double z) -> absl::StatusOr<bool> {
    FEDGE_ASSIGN_OR_RETURN(const PrivacySpent spent,
                           accountant.EpsilonAfter(q, z, steps, delta));
    return spent.epsilon <= target_epsilon;
  };
  // Bracket from z = 1 outwards: lo misses the target, hi meets it.
  double lo = 1;
  double hi = 1;
  FEDGE_ASSIGN_OR_RETURN(bool ok, meets(1));
  if (ok) {
    while (true) {
      lo = std::max(hi / 2, kMinZ);
      FEDGE_ASSIGN_OR_RETURN(ok, meets(lo));
      if (!ok) break;
      if (lo == kMinZ) return kMinZ;
      hi = lo;
    }
  } else {
    while (true) {
      hi = std::min(lo * 2, kMaxZ);
      FEDGE_ASSIGN_OR_RETURN(ok, meets(hi));
      if (ok) break;
      if (hi == kMaxZ) {
        return absl::InvalidArgumentError(absl::StrCat(
            "noise for budget: even noise multiplier ", kMaxZ, " exceeds epsilon ",
            target_epsilon, " at delta ", delta, " over ", steps, " steps at q = ", q));
      }
      lo = hi;
    }
  }
  while (hi - lo > kRelativeTolerance * hi) {
    const double mid = 0.5 * (lo + hi);
    FEDGE_ASSIGN_OR_RETURN(ok, meets(mid));
    if (ok) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

}  // namespace fedge::privacy
