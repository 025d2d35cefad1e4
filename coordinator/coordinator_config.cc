// ValidateCoordinatorConfig: which CoordinatorConfig values make sense together.

#include "absl/strings/str_cat.h"
#include "aggregation/fixed_point.h"
#include "compression/compression.h"
#include "base/status_macros.h"
#include "coordinator/coordinator.h"

namespace fedge::coordinator {
namespace {

// --mode=async's pairings. Each refusal says why, so an operator knows it is
// a limit of the method, not of the flag spelling.
absl::Status ValidateAsyncConfig(const CoordinatorConfig& c) {
  FEDGE_RETURN_IF_ERROR(ValidateAsyncOptions(c.async));
  if (c.secure.enabled) {
    return absl::InvalidArgumentError(
        "--mode=async cannot run with --secure: SecAgg unmasks only the sum of a cohort that "
        "masked together, and an asynchronous buffer folds each update alone as it arrives");
  }
  if (c.privacy.mode != protocol::PrivacyMode::kOff) {
    return absl::InvalidArgumentError(
        "--mode=async cannot run with --dp: the accountant composes sampled rounds of a fixed "
        "rate, and an asynchronous buffer's members are whoever finished first");
  }
  if (c.over_select > 0) {
    return absl::InvalidArgumentError(
        "--over_select applies to synchronous rounds; --mode=async never waits for "
        "stragglers (size the task slots with --concurrency)");
  }
  if (c.fraction_evaluate > 0) {
    return absl::InvalidArgumentError(
        "--fraction_evaluate cannot run with --mode=async: federated evaluation asks clients "
        "between rounds, and async mode has none (evaluate server-side with --test_data)");
  }
  if (c.prune.final_sparsity > 0) {
    return absl::InvalidArgumentError(
        "--prune cannot run with --mode=async: a stale update was trained under an older "
        "mask");
  }
  if (c.strategy.name == "scaffold") {
    return absl::InvalidArgumentError(
        "--strategy=scaffold cannot run with --mode=async: its control variates assume each "
        "client trains on the current model");
  }
  return absl::OkStatus();
}

// A gateway combines its devices' updates with the plain weighted mean, or
// the root's FedAvg over gateways would not equal FedAvg over the devices.
absl::Status ValidateRelayConfig(const CoordinatorConfig& c) {
  if (c.strategy.name != "fedavg" || c.strategy.clip_norm > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a gateway combines its devices' updates by their example-weighted mean (the root's "
        "strategy runs at the root): --strategy=", c.strategy.name,
        c.strategy.clip_norm > 0 ? " with --clip_norm" : "", " is not available on a gateway"));
  }
  if (c.async.enabled || c.privacy.mode != protocol::PrivacyMode::kOff ||
      c.prune.final_sparsity > 0 || c.fraction_evaluate > 0) {
    return absl::InvalidArgumentError(
        "a gateway relays the root's rounds: --mode=async, --dp, --prune and "
        "--fraction_evaluate are the root's settings, not a gateway's");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateCoordinatorConfig(const CoordinatorConfig& c) {
  if (c.rounds == 0) return absl::InvalidArgumentError("rounds must be at least 1");
  if (c.min_clients == 0) return absl::InvalidArgumentError("min_clients must be at least 1");
  if (c.quorum == 0) return absl::InvalidArgumentError("quorum must be at least 1");
  if (c.clients_per_round != 0 && c.quorum > c.clients_per_round) {
    return absl::InvalidArgumentError(absl::StrCat(
        "quorum ", c.quorum, " exceeds clients_per_round ", c.clients_per_round));
  }
  if (!(c.fraction_evaluate >= 0 && c.fraction_evaluate <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("fraction_evaluate ", c.fraction_evaluate, " is not in [0, 1]"));
  }
  if (c.fraction_evaluate > 0 && c.secure.enabled) {
    return absl::InvalidArgumentError(
        "--fraction_evaluate with --secure: each client's evaluation metrics would reach the "
        "coordinator alone, outside the secure sum; federated evaluation is not offered under "
        "SecAgg (evaluate server-side with --test_data instead)");
  }
  if (c.fraction_evaluate > 0 && c.evaluate_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("evaluate_timeout must be positive");
  }
  if (!(c.fraction > 0 && c.fraction <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("fraction ", c.fraction, " is not in (0, 1]"));
  }
  if (c.quorum > c.min_clients) {
    return absl::InvalidArgumentError(absl::StrCat(
        "quorum ", c.quorum, " exceeds min_clients ", c.min_clients,
        ": a round could start that can never close"));
  }
  if (c.training.batch_size == 0 || c.training.local_epochs == 0 ||
      !(c.training.learning_rate > 0)) {
    return absl::InvalidArgumentError("training config needs batch_size, local_epochs, lr > 0");
  }
  if (!(c.over_select >= 0 && c.over_select <= 10)) {
    return absl::InvalidArgumentError(
        absl::StrCat("over_select ", c.over_select, " is not in [0, 10]"));
  }
  if (c.secure.enabled && c.over_select > 0) {
    return absl::InvalidArgumentError(
        "over_select applies to plain FedAvg; a secure round already tolerates dropouts "
        "through its threshold (secure.expected_dropout)");
  }
  if (c.privacy.mode != protocol::PrivacyMode::kOff && c.over_select > 0) {
    return absl::InvalidArgumentError(
        "--over_select cannot run with --dp: DP cohorts are Poisson-sampled, as the accountant "
        "assumes, and keeping the first arrivals would change who is in the sum");
  }
  for (const FrameRateLimit* l : {&c.client_frame_limit, &c.unregistered_frame_limit}) {
    if (!(l->frames_per_second >= 0) || (l->frames_per_second > 0 && !(l->burst >= 1))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "frame rate limit ", l->frames_per_second, "/s with burst ", l->burst,
          ": want a rate >= 0 and, when limiting, a burst >= 1"));
    }
  }
  if (c.retry_window < absl::ZeroDuration() || c.retry_window > absl::Hours(24 * 49)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "retry_window ", absl::FormatDuration(c.retry_window), " is not in [0, 49 days]"));
  }
  if (absl::Status s = compression::ValidateConfig(c.training.compression); !s.ok()) return s;
  if (c.training.compression.method != compression::Method::kFloat32 && c.secure.enabled) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--compress=", compression::ConfigName(c.training.compression),
        " cannot run with --secure: secure aggregation sums fixed-point words in a ring, not "
        "compressed floats; shrink the ring instead (--secagg_bits=16)"));
  }
  if (c.secure.ring_bits < aggregation::kMinRingBits || c.secure.ring_bits > 32) {
    return absl::InvalidArgumentError(absl::StrCat("--secagg_bits=", c.secure.ring_bits,
                                                   ": want ", aggregation::kMinRingBits, " to 32"));
  }
  if (c.secure.ring_bits != 32 && !c.secure.enabled) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--secagg_bits=", c.secure.ring_bits,
        " applies only with --secure; plain rounds compress with --compress"));
  }
  if (c.secure.ring_bits < 32 && c.privacy.mode == protocol::PrivacyMode::kDistributed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--secagg_bits=", c.secure.ring_bits,
        " cannot run with --dp=distributed: its noise is calibrated to a 32-bit ring"));
  }
  FEDGE_RETURN_IF_ERROR(compression::ValidateSchedule(c.prune));
  if (c.prune.final_sparsity > 0 && c.strategy.name == "scaffold") {
    return absl::InvalidArgumentError(
        "--prune cannot run with --strategy=scaffold: its control variates are dense");
  }
  if (c.async.enabled) FEDGE_RETURN_IF_ERROR(ValidateAsyncConfig(c));
  if (c.relay != nullptr) FEDGE_RETURN_IF_ERROR(ValidateRelayConfig(c));
  if (c.secure.enabled && c.min_clients < 2) {
    return absl::InvalidArgumentError(
        "secure aggregation needs min_clients >= 2: the sum of one update is that update");
  }
  return absl::OkStatus();
}

}  // namespace fedge::coordinator
