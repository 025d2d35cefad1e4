#include "coordinator/dp_mechanism.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "aggregation/norm_bound.h"
#include "privacy/adaptive_clip.h"
#include "base/little_endian.h"
#include "base/status_macros.h"

namespace fedge::coordinator {
namespace {

using protocol::PrivacyMode;

constexpr char kStateMagic[4] = {'F', 'D', 'P', '1'};

bool Positive(double v) { return std::isfinite(v) && v > 0; }

void PutString(absl::string_view s, std::string* out) {
  AppendLe(s.size(), 8, out);
  out->append(s.data(), s.size());
}

absl::Status GetString(absl::string_view* in, std::string* s) {
  uint64_t n = 0;
  if (in->size() < 8) return absl::InvalidArgumentError("privacy state truncated");
  n = GetLe(in->data(), 8);
  in->remove_prefix(8);
  if (n > in->size()) return absl::InvalidArgumentError("privacy state truncated");
  s->assign(in->data(), n);
  in->remove_prefix(n);
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidatePrivacyOptions(const PrivacyOptions& o, bool secure, bool strategy_buffers,
                                    bool strategy_control_variates) {
  if (o.mode == PrivacyMode::kOff) return absl::OkStatus();
  const std::string mode = protocol::PrivacyModeName(o.mode);
  if (!Positive(o.noise_multiplier)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--dp_noise_multiplier must be > 0, got ", o.noise_multiplier));
  }
  if (!Positive(o.clip)) {
    return absl::InvalidArgumentError(absl::StrCat("--dp_clip must be > 0, got ", o.clip));
  }
  if (!(o.delta > 0 && o.delta < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("--dp_delta must be in (0, 1), got ", o.delta));
  }
  if (!(o.target_epsilon >= 0) || !std::isfinite(o.target_epsilon)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--dp_target_epsilon must be 0 (no budget) or positive, got ", o.target_epsilon));
  }
  if (o.mode == PrivacyMode::kDistributed && !secure) {
    return absl::InvalidArgumentError(
        "--dp=distributed needs secure aggregation (--secure or --secure=plus): the noise "
        "shares only add up to the full noise in the secure sum");
  }
  if (o.mode == PrivacyMode::kCentral && secure) {
    return absl::InvalidArgumentError(
        "--dp=central cannot run with --secure: the coordinator must see each update to clip "
        "it; use --dp=distributed with secure aggregation");
  }
  if (o.adaptive_clip) {
    if (o.mode != PrivacyMode::kCentral) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--dp_adaptive_clip works with --dp=central only (got --dp=", mode, ")"));
    }
    if (!(o.target_quantile > 0 && o.target_quantile < 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--dp_target_quantile must be in (0, 1), got ", o.target_quantile));
    }
    if (!Positive(o.clip_learning_rate)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--dp_clip_learning_rate must be > 0, got ", o.clip_learning_rate));
    }
    if (o.clip_count_stddev >= 0) {
      if (absl::Status s = privacy::UpdateNoiseMultiplier(o.noise_multiplier, o.clip_count_stddev)
                               .status();
          !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--dp_clip_count_stddev=", o.clip_count_stddev, " with --dp_noise_multiplier=",
            o.noise_multiplier, ": ", s.message(), " (-1 picks max(expected cohort / 20, z))"));
      }
    } else if (o.clip_count_stddev != -1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--dp_clip_count_stddev must be -1 (automatic) or > --dp_noise_multiplier / 2, got ",
          o.clip_count_stddev));
    }
  }
  if (strategy_buffers || strategy_control_variates) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--dp=", mode, " needs a strategy that averages updates (fedavg, fedavgm, fedadam, "
        "fedyogi, fedadagrad, fedprox, fedbn): robust rules and SCAFFOLD's control variates "
        "have no bounded per-client sensitivity to calibrate the noise to"));
  }
  return absl::OkStatus();
}

DpMechanism::DpMechanism(const PrivacyOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<DpMechanism>> DpMechanism::Create(const PrivacyOptions& options) {
  if (options.mode == PrivacyMode::kOff) return std::unique_ptr<DpMechanism>();
  FEDGE_RETURN_IF_ERROR(ValidatePrivacyOptions(options, options.mode == PrivacyMode::kDistributed,
                                               false, false));
  std::unique_ptr<DpMechanism> m(new DpMechanism(options));
  m->update_noise_multiplier_ = options.noise_multiplier;
  m->bits_ = options.noise_seed != 0 ? privacy::RandomBits::Seeded(options.noise_seed)
                                     : privacy::RandomBits::Crypto();
  if (options.adaptive_clip) {
    privacy::AdaptiveClipConfig c;
    c.initial_clip = options.clip;
    c.target_quantile = options.target_quantile;
    c.learning_rate = options.clip_learning_rate;
    // The count noise depends on the expected cohort, known at the first
    // round; FinishRound sets it then.
    c.count_noise_stddev = 0;
    m->adaptive_ = std::make_unique<privacy::AdaptiveClip>(c);
  }
  return m;
}

std::vector<std::string> DpMechanism::SampleCohort(const std::vector<std::string>& selectable,
                                                   size_t target) {
  q_ = selectable.empty()
           ? 1.0
           : std::min(1.0, static_cast<double>(target) / static_cast<double>(selectable.size()));
  expected_cohort_ = std::max(1.0, q_ * static_cast<double>(selectable.size()));
  below_clip_ = 0;
  clipped_ = 0;
  std::vector<std::string> cohort;
  for (const std::string& peer : selectable) {
    if (bits_->Uniform01() < q_) cohort.push_back(peer);
  }
  return cohort;
}

std::optional<std::string> DpMechanism::BudgetExhausted() const {
  if (options_.target_epsilon <= 0) return std::nullopt;
  absl::StatusOr<privacy::PrivacySpent> next =
      accountant_.EpsilonAfter(q_, options_.noise_multiplier, 1, options_.delta);
  if (!next.ok()) return absl::StrCat("privacy accountant: ", next.status().message());
  if (next->epsilon <= options_.target_epsilon) return std::nullopt;
  absl::StatusOr<privacy::PrivacySpent> now = accountant_.Epsilon(options_.delta);
  return absl::StrFormat(
      "privacy budget: epsilon %.4g after %d rounds; one more round (q %.4g, z %.4g) would "
      "reach %.4g, over --dp_target_epsilon=%g (delta %g)",
      now.ok() ? now->epsilon : 0.0, accountant_.steps(), q_, options_.noise_multiplier,
      next->epsilon, options_.target_epsilon, options_.delta);
}

void DpMechanism::ConfigureTask(protocol::TrainingConfig* config) const {
  config->privacy.mode = options_.mode;
  if (options_.mode == PrivacyMode::kLocal) {
    config->privacy.clip = static_cast<float>(clip());
    config->privacy.noise_stddev = options_.noise_multiplier * clip();
  }
}

double DpMechanism::ClipUpdate(absl::Span<float> delta) {
  // Every coordinate counts toward the sensitivity: buffers (BatchNorm
  // statistics) leave the device too.
  const double c = clip();
  if (options_.mode != PrivacyMode::kCentral) {
    // Local DP: the device clipped before its noise; the noised update's
    // norm is mostly noise, and clipping it again would only destroy it.
    double sum = 0;
    for (float v : delta) sum += static_cast<double>(v) * v;
    return std::sqrt(sum);
  }
  const double norm =
      aggregation::ClipNorm(delta, {{0, static_cast<uint64_t>(delta.size())}}, c);
  if (norm <= c) {
    ++below_clip_;
  } else {
    ++clipped_;
  }
  return norm;
}

absl::Status DpMechanism::FinishRound(absl::Span<float> mean, size_t contributors,
                                      PrivacyFigures* figures) {
  const double c = clip();
  const double n = static_cast<double>(contributors);
  double sum_noise = 0;
  switch (options_.mode) {
    case PrivacyMode::kCentral:
      if (adaptive_) FEDGE_RETURN_IF_ERROR(SetCountNoise());
      sum_noise = update_noise_multiplier_ * c;
      break;
    case PrivacyMode::kLocal:
      sum_noise = options_.noise_multiplier * c * std::sqrt(n);
      break;
    case PrivacyMode::kDistributed:
      sum_noise = options_.noise_multiplier * c;  // at least; more when more survive
      break;
    case PrivacyMode::kOff:
      return absl::FailedPreconditionError("differential privacy is off");
  }
  // mean * n is the sum of the clipped updates; the fixed denominator (the
  // expected cohort) keeps one client's presence from changing the scale.
  const float to_sum = static_cast<float>(n);
  for (float& v : mean) v *= to_sum;
  if (options_.mode == PrivacyMode::kCentral) {
    privacy::AddGaussianNoise(mean, sum_noise, *bits_);
  }
  const float inv = static_cast<float>(1.0 / expected_cohort_);
  for (float& v : mean) v *= inv;

  figures->clip = c;
  figures->noise_stddev = sum_noise;
  figures->clipped = clipped_;
  if (adaptive_) {
    // Over the public expected cohort, not the realised count (the paper's
    // estimator for Poisson sampling; the sensitivity stays 1/2).
    adaptive_->Update(below_clip_, n, expected_cohort_, *bits_);
  }
  return Charge(figures);
}

absl::Status DpMechanism::SetCountNoise() {
  // The paper's sigma_b = m / 20, but never at or below z / 2, where the
  // count alone would spend the whole budget (z itself costs the updates a
  // z_delta of 1.15 z).
  const double count_stddev = options_.clip_count_stddev >= 0
                                  ? options_.clip_count_stddev
                                  : std::max(expected_cohort_ / 20.0, options_.noise_multiplier);
  // Theorem 1 of Andrew et al.: the count's noise and the sum's share one
  // budget; the sum gets z_delta where z^-2 = z_delta^-2 + (2 sigma_b)^-2.
  FEDGE_ASSIGN_OR_RETURN(update_noise_multiplier_,
                         privacy::UpdateNoiseMultiplier(options_.noise_multiplier, count_stddev));
  if (adaptive_->config().count_noise_stddev != count_stddev) {
    privacy::AdaptiveClipConfig c = adaptive_->config();
    c.count_noise_stddev = count_stddev;
    const std::string state = adaptive_->SaveState();
    adaptive_ = std::make_unique<privacy::AdaptiveClip>(c);
    FEDGE_RETURN_IF_ERROR(adaptive_->RestoreState(state));  // keeps C and the round count
  }
  return absl::OkStatus();
}

absl::Status DpMechanism::ChargeFailedRound(PrivacyFigures* figures) {
  figures->clip = clip();
  return Charge(figures);
}

absl::Status DpMechanism::Charge(PrivacyFigures* figures) {
  FEDGE_RETURN_IF_ERROR(accountant_.Compose(q_, options_.noise_multiplier));
  if (options_.mode != PrivacyMode::kCentral) {
    FEDGE_RETURN_IF_ERROR(coordinator_accountant_.Compose(1.0, options_.noise_multiplier));
  }
  FEDGE_ASSIGN_OR_RETURN(privacy::PrivacySpent spent, accountant_.Epsilon(options_.delta));
  figures->epsilon = spent.epsilon;
  figures->delta = options_.delta;
  figures->sampling_rate = q_;
  figures->epsilon_coordinator = std::numeric_limits<double>::infinity();
  if (options_.mode != PrivacyMode::kCentral) {
    FEDGE_ASSIGN_OR_RETURN(privacy::PrivacySpent c, coordinator_accountant_.Epsilon(options_.delta));
    figures->epsilon_coordinator = c.epsilon;
  }
  return absl::OkStatus();
}

absl::StatusOr<double> DpMechanism::Epsilon() const {
  FEDGE_ASSIGN_OR_RETURN(privacy::PrivacySpent spent, accountant_.Epsilon(options_.delta));
  return spent.epsilon;
}

std::string DpMechanism::SaveState() const {
  std::string out(kStateMagic, sizeof(kStateMagic));
  out.push_back(static_cast<char>(options_.mode));
  PutString(accountant_.SaveState(), &out);
  PutString(coordinator_accountant_.SaveState(), &out);
  PutString(adaptive_ ? adaptive_->SaveState() : std::string(), &out);
  return out;
}

absl::Status DpMechanism::RestoreState(absl::string_view state) {
  if (state.size() < sizeof(kStateMagic) + 1 ||
      std::memcmp(state.data(), kStateMagic, sizeof(kStateMagic)) != 0) {
    return absl::InvalidArgumentError("privacy state: bad magic (not written by this build?)");
  }
  if (static_cast<uint8_t>(state[4]) != static_cast<uint8_t>(options_.mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "privacy state was written with --dp=",
        protocol::PrivacyModeName(static_cast<PrivacyMode>(static_cast<uint8_t>(state[4]))),
        ", this run has --dp=", protocol::PrivacyModeName(options_.mode),
        ": resume with the mode it was run with"));
  }
  state.remove_prefix(5);
  std::string a, b, clip;
  FEDGE_RETURN_IF_ERROR(GetString(&state, &a));
  FEDGE_RETURN_IF_ERROR(GetString(&state, &b));
  FEDGE_RETURN_IF_ERROR(GetString(&state, &clip));
  if (!state.empty()) return absl::InvalidArgumentError("privacy state: trailing bytes");
  if (clip.empty() != (adaptive_ == nullptr)) {
    return absl::InvalidArgumentError(
        "privacy state and this run disagree on --dp_adaptive_clip: resume with the setting it "
        "was run with");
  }
  // Restore into copies first, so a bad state leaves this one untouched.
  privacy::RdpAccountant restored(accountant_.orders());
  privacy::RdpAccountant restored_coordinator(coordinator_accountant_.orders());
  FEDGE_RETURN_IF_ERROR(restored.RestoreState(a));
  FEDGE_RETURN_IF_ERROR(restored_coordinator.RestoreState(b));
  if (adaptive_) FEDGE_RETURN_IF_ERROR(adaptive_->RestoreState(clip));
  accountant_ = std::move(restored);
  coordinator_accountant_ = std::move(restored_coordinator);
  return absl::OkStatus();
}

}  // namespace fedge::coordinator
