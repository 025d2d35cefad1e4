#include "coordinator/secure_round.h"

#include <algorithm>
#include <cmath>
#include <variant>

#include "absl/strings/str_cat.h"
#include "aggregation/kernels.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "privacy/distributed_dp.h"
#include "protocol/codec.h"
#include "secure/random.h"

namespace fedge::coordinator {

using secure::SecAggServer;

absl::StatusOr<std::unique_ptr<SecureRound>> SecureRound::Start(
    const SecureAggregationSettings& settings, uint64_t round, std::vector<Member> members,
    size_t model_size, bool control_variates, uint64_t graph_seed, absl::Time now,
    absl::Time training_deadline, std::optional<DistributedDp> dp) {
  if (dp.has_value() && control_variates) {
    return absl::InvalidArgumentError("distributed DP cannot carry control variates");
  }
  if (members.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "round ", round, ": secure aggregation needs a cohort of at least 2, got ",
        members.size()));
  }
  std::sort(members.begin(), members.end(),
            [](const Member& a, const Member& b) { return a.client_id < b.client_id; });
  uint64_t max_weight = 1;
  for (const Member& m : members) max_weight = std::max(max_weight, m.num_examples);

  // The session id binds every key derivation and share ciphertext of this
  // session; it need not be secret, only never reused.
  std::array<uint8_t, secure::kSecAggSessionIdSize> session_id{};
  FEDGE_RETURN_IF_ERROR(secure::SecureRandom::Default().Fill(absl::MakeSpan(session_id)));

  auto r = std::unique_ptr<SecureRound>(new SecureRound(settings, round));
  r->model_size_ = model_size;
  r->control_variates_ = control_variates;
  const uint32_t n = static_cast<uint32_t>(members.size());
  const size_t input_length = model_size + 1 + (control_variates ? model_size : 0);
  FEDGE_ASSIGN_OR_RETURN(
      r->task_.config,
      secure::MakeSecAggConfig(settings.variant, n, static_cast<uint32_t>(input_length),
                               settings.expected_dropout, session_id, graph_seed));
  r->task_.config.word_bits = settings.ring_bits;
  if (dp.has_value()) {
    // The noise must be all there with the fewest survivors the round may
    // complete with: the expected dropout's share of the cohort (and never
    // fewer than the Shamir threshold, below which nothing unmasks anyway).
    // SecAgg+'s threshold is per neighbourhood, so the coordinator enforces
    // this minimum itself before unmasking (secure aggregation here assumes
    // a semi-honest coordinator).
    r->min_survivors_ = std::max<size_t>(
        r->task_.config.threshold,
        static_cast<size_t>(std::ceil((1.0 - settings.expected_dropout) * n - 1e-9)));
    FEDGE_ASSIGN_OR_RETURN(
        privacy::DistributedGaussianPlan plan,
        privacy::PlanDistributedGaussian(n, static_cast<uint32_t>(r->min_survivors_), model_size,
                                         dp->clip, dp->noise_multiplier));
    r->task_.encoding = plan.encoding;
    r->privacy_.mode = protocol::PrivacyMode::kDistributed;
    r->privacy_.clip = static_cast<float>(dp->clip);
    r->privacy_.noise_stddev = plan.client_sigma;
    FEDGE_LOG(kInfo,
              "round %d: distributed DP: each client adds discrete Gaussian noise of %.4g words "
              "(scale %.4g, sensitivity %.4g words); the sum carries >= %.4g words with %d "
              "survivors",
              round, plan.client_sigma, plan.encoding.scale, plan.sensitivity,
              plan.min_total_sigma, r->min_survivors_);
  } else {
    FEDGE_ASSIGN_OR_RETURN(r->task_.encoding,
                           aggregation::MakeFixedPointConfig(n, settings.clip, max_weight,
                                                             settings.ring_bits));
  }
  r->task_.enabled = true;
  FEDGE_ASSIGN_OR_RETURN(r->server_, SecAggServer::Create(r->task_.config));
  r->peer_of_.resize(n + 1);
  for (uint32_t i = 0; i < n; ++i) {
    r->task_.cohort.push_back(members[i].client_id);
    r->index_of_[members[i].peer] = i + 1;
    r->peer_of_[i + 1] = members[i].peer;
  }
  r->training_deadline_ = training_deadline;
  r->phase_deadline_ = std::min(training_deadline, now + settings.phase_timeout);
  // SecAgg+ with no sparse graph (0 neighbours: every pair) is SecAgg: say
  // what runs, not what was asked.
  const bool sparse = settings.variant == secure::SecAggVariant::kPlus &&
                      r->task_.config.num_neighbors > 0;
  FEDGE_LOG(kInfo, "round %d: secure aggregation (%s) over %d clients, threshold %d%s", round,
            sparse ? "SecAgg+" : "SecAgg", n, r->task_.config.threshold,
            sparse ? absl::StrCat(", ", r->task_.config.num_neighbors, " neighbours")
                   : settings.variant == secure::SecAggVariant::kPlus
                         ? std::string(" (SecAgg+ asked; at this size every pair is neighbours)")
                         : std::string());
  return r;
}

std::optional<Refusal> SecureRound::OnUpdate(const std::string&, protocol::Update&) {
  return Refusal{protocol::ErrorCode::kMalformed,
                 absl::StrCat("round ", round_,
                              " aggregates securely; a plain update would reveal the client's delta")};
}

std::optional<Refusal> SecureRound::OnSecAgg(const std::string& peer,
                                             secure::SecAggClientMessage&& body) {
  auto it = index_of_.find(peer);
  if (it == index_of_.end()) {
    return Refusal{protocol::ErrorCode::kMalformed,
                   absl::StrCat("round ", round_, ": secure-aggregation message from a non-member")};
  }
  const bool masked_input = std::holds_alternative<secure::MaskedInput>(body);
  const char* phase = phase_name();
  absl::Status s = server_->OnMessage(it->second, std::move(body));
  if (s.ok()) {
    if (masked_input) ++masked_inputs_;
    return std::nullopt;
  }
  protocol::ErrorCode code = protocol::ErrorCode::kMalformed;
  if (absl::IsAlreadyExists(s)) code = protocol::ErrorCode::kDuplicate;
  if (absl::IsFailedPrecondition(s)) code = protocol::ErrorCode::kWrongRound;
  return Refusal{code, absl::StrCat("round ", round_, " (", phase, "): ", s.message())};
}

void SecureRound::Drop(const std::string& peer) {
  auto it = index_of_.find(peer);
  if (it != index_of_.end()) server_->Drop(it->second);
}

Round::Frames SecureRound::Advance(absl::Time now) {
  Frames frames;
  while (outcome() == Outcome::kRunning &&
         (server_->PhaseComplete() || now >= phase_deadline_)) {
    const char* closing = phase_name();
    if (server_->phase() == SecAggServer::Phase::kMaskedInput && masked_inputs_ < min_survivors_) {
      // Unmasking now would reveal a sum with less noise than calibrated.
      dp_abort_ = absl::StrCat("distributed DP: ", masked_inputs_, " masked inputs, fewer than the ",
                               min_survivors_, " survivors the noise is calibrated to; not "
                               "unmasked (--secagg_dropout sets the share that may drop)");
      FEDGE_LOG(kWarning, "round %d: %s", round_, dp_abort_);
      break;
    }
    absl::StatusOr<std::vector<std::pair<uint32_t, secure::SecAggServerMessage>>> out =
        server_->AdvancePhase();
    if (!out.ok()) {
      FEDGE_LOG(kError, "round %d: secure aggregation failed closing %s: %s", round_, closing,
                out.status().ToString());
      break;
    }
    FEDGE_LOG(kDebug, "round %d: SecAgg phase %s closed; now %s", round_, closing, phase_name());
    for (auto& [index, message] : *out) {
      protocol::SecAggToClient m;
      m.round = round_;
      m.body = std::move(message);
      frames.emplace_back(peer_of_[index], protocol::Encode(m));
    }
    switch (server_->phase()) {
      case SecAggServer::Phase::kMaskedInput:
        phase_deadline_ = std::max(training_deadline_, now + settings_.phase_timeout);
        break;
      default:
        phase_deadline_ = now + settings_.phase_timeout;
        break;
    }
  }
  return frames;
}

SecureRound::Outcome SecureRound::outcome() const {
  if (!dp_abort_.empty()) return Outcome::kFailed;
  switch (server_->phase()) {
    case SecAggServer::Phase::kCompleted: return Outcome::kCompleted;
    case SecAggServer::Phase::kAborted: return Outcome::kFailed;
    default: return Outcome::kRunning;
  }
}

std::string SecureRound::failure() const {
  if (!dp_abort_.empty()) return dp_abort_;
  return absl::StrCat("secure aggregation aborted: ", server_->abort_reason());
}

const char* SecureRound::phase_name() const {
  switch (server_->phase()) {
    case SecAggServer::Phase::kAdvertiseKeys: return "AdvertiseKeys";
    case SecAggServer::Phase::kShareKeys: return "ShareKeys";
    case SecAggServer::Phase::kMaskedInput: return "MaskedInput";
    case SecAggServer::Phase::kUnmasking: return "Unmasking";
    case SecAggServer::Phase::kCompleted: return "Completed";
    case SecAggServer::Phase::kAborted: return "Aborted";
  }
  return "?";
}

absl::StatusOr<std::vector<std::string>> SecureRound::Finish(absl::Span<float> delta,
                                                             RoundReport* report) {
  if (outcome() != Outcome::kCompleted) {
    return absl::FailedPreconditionError("secure aggregation has not completed");
  }
  if (delta.size() != model_size_) {
    return absl::InvalidArgumentError(absl::StrCat("round ", round_, ": Finish into ",
                                                   delta.size(), " floats, the model has ",
                                                   model_size_));
  }
  absl::Span<const uint32_t> sum = server_->sum();
  std::vector<std::string> survivors;
  for (uint32_t index : server_->survivors()) survivors.push_back(peer_of_[index]);
  double weight = 0;
  if (privacy_.mode == protocol::PrivacyMode::kDistributed) {
    // Unweighted: the weight word is 0 (a count of examples would add to the
    // sensitivity); every survivor counts once.
    FEDGE_RETURN_IF_ERROR(aggregation::DecodeFixedPointValuesMean(
        sum.first(model_size_), task_.encoding, survivors.size(), delta));
    weight = static_cast<double>(survivors.size());
  } else {
    FEDGE_ASSIGN_OR_RETURN(weight, aggregation::DecodeFixedPointMean(sum.first(model_size_ + 1),
                                                                     task_.encoding, delta));
    weight *= static_cast<double>(task_.encoding.max_weight);
  }
  if (!aggregation::AllFinite(delta.data(), delta.size())) {
    return absl::InternalError("the securely aggregated mean is not finite");
  }
  if (control_variates_) {
    // SCAFFOLD averages the control-variate changes over the clients that
    // contributed (every survivor counts once).
    mean_control_.assign(model_size_, 0.0f);
    FEDGE_RETURN_IF_ERROR(aggregation::DecodeFixedPointValuesMean(
        sum.subspan(model_size_ + 1), task_.encoding, survivors.size(),
        absl::MakeSpan(mean_control_)));
  }
  report->aggregated = static_cast<uint32_t>(survivors.size());
  report->total_weight = weight;
  // Under secure aggregation no client's metrics reach the coordinator.
  report->train_loss = std::nan("");
  return survivors;
}

absl::Status SecureRound::ControlDelta(absl::Span<float> mean) const {
  if (!control_variates_) return Round::ControlDelta(mean);
  if (mean_control_.size() != model_size_ || mean.size() != model_size_) {
    return absl::FailedPreconditionError(
        absl::StrCat("round ", round_, ": no control-variate mean (Finish has not run)"));
  }
  std::copy(mean_control_.begin(), mean_control_.end(), mean.begin());
  return absl::OkStatus();
}

absl::Status ApplySecureMode(absl::string_view mode, double dropout, double clip,
                             SecureAggregationSettings* settings) {
  if (mode == "none") {
    settings->enabled = false;
    return absl::OkStatus();
  }
  if (mode != "secagg" && mode != "plus") {
    return absl::InvalidArgumentError(
        absl::StrCat("--secure=", mode, ": want none, secagg or plus"));
  }
  settings->enabled = true;
  settings->variant = mode == "plus" ? secure::SecAggVariant::kPlus : secure::SecAggVariant::kFull;
  settings->expected_dropout = dropout;
  settings->clip = static_cast<float>(clip);
  return absl::OkStatus();
}

}  // namespace fedge::coordinator
