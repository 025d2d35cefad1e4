// Coordinator in relay mode: a gateway's coordinator, whose rounds are the
// root's (coordinator.h, "Relay mode"). Hierarchical FedAvg equals flat
// FedAvg because the gateway sends its devices the root's task unchanged and
// answers the root with their example-weighted mean and their example count:
// sum_g N_g (sum_{i in g} n_i d_i / N_g) / sum_g N_g = sum_i n_i d_i / sum_i n_i.

#include <cmath>

#include "absl/strings/str_cat.h"
#include "aggregation/kernels.h"
#include "base/log.h"
#include "compression/compression.h"
#include "coordinator/coordinator.h"

namespace fedge::coordinator {

absl::Status Coordinator::StartRelayRound(protocol::Task task, absl::Time now) {
  now_ = now;
  if (!relay()) return absl::FailedPreconditionError("not a gateway's coordinator (no relay)");
  if (phase_ == Phase::kFinished) {
    return absl::FailedPreconditionError(absl::StrCat("finished: ", finish_reason_));
  }
  const auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("the root's round ", task.round, " cannot be relayed: ", why));
  };
  // Whatever model the root trains (it signed it; devices verify that), as
  // long as it is well-formed.
  if (absl::Status s = protocol::ValidateManifest(task.model.manifest, task.model.weights.size());
      !s.ok()) {
    return refuse(s.message());
  }
  if (absl::Status s = protocol::ValidateTaskSpec(task.model.task); !s.ok()) {
    return refuse(s.message());
  }
  if (task.model.weights.empty() ||
      !aggregation::AllFinite(task.model.weights.data(), task.model.weights.size())) {
    return refuse("its model has no weights, or NaN or infinite ones");
  }
  if (task.model.architecture.empty() && task.model.architecture_id != model_.architecture_id) {
    return refuse(absl::StrCat("it leaves out the bytes of architecture ",
                               task.model.architecture_id, ", which this gateway does not hold"));
  }
  if (!task.control.empty()) {
    return refuse("SCAFFOLD's control variates are per client, not per gateway");
  }
  if (task.secure.enabled) {
    return refuse("the root runs secure aggregation; a gateway's update would be unmasked "
                  "(run SecAgg among the gateway's devices instead, fedge-gateway --secure)");
  }
  if (config_.secure.enabled &&
      task.config.compression.method != compression::Method::kFloat32) {
    return refuse("the root asks for compressed updates, which secure aggregation among this "
                  "gateway's devices cannot carry (fixed-point words, not compressed floats)");
  }
  if (task.config.evaluate_only) {
    return refuse("federated evaluation through gateways is not supported");
  }
  if (phase_ == Phase::kTraining || phase_ == Phase::kEvaluating) {
    FailRound(now, absl::StrCat("the root moved on to round ", task.round));
  }
  // The root's model, with the architecture bytes kept when the root left
  // them out (it knows this gateway holds them).
  std::string architecture = task.model.architecture.empty() ? std::move(model_.architecture)
                                                             : std::move(task.model.architecture);
  model_ = std::move(task.model);
  model_.architecture = std::move(architecture);
  task.model = protocol::ModelPayload();
  model_version_ = task.model_version;
  model_signature_ = task.signature;
  signed_version_ = model_version_;  // the root's signature, forwarded
  global_model_frames_version_.reset();
  relay_deadline_ = now + (task.deadline_ms > 0
                               ? std::min(config_.round_timeout, absl::Milliseconds(task.deadline_ms))
                               : config_.round_timeout);
  relay_task_ = std::move(task);
  MaybeStartRound(now);
  return absl::OkStatus();
}

void Coordinator::CompleteRelayRound(absl::Time now) {
  if (absl::Status s = ComputeMeanDelta(); !s.ok()) {
    FailRound(now, std::string(s.message()));
    return;
  }
  RelayResult result;
  // A pruned model's updates carry its kept coordinates only, at the root too.
  result.delta = model_.mask.empty() ? mean_delta_ : kept_delta_;
  // FedAvg's weights are example counts: integral.
  result.num_examples = static_cast<uint64_t>(std::llround(report_.total_weight));
  result.devices = report_.aggregated;
  result.train_loss = report_.train_loss;
  ++completed_rounds_;
  consecutive_failures_ = 0;
  report_.completed = true;
  report_.model_version = model_version_;
  report_.dropped += static_cast<uint32_t>(pending_.size());
  pending_.clear();
  report_.seconds = absl::ToDoubleSeconds(now - round_start_);
  report_.elapsed_seconds = absl::ToDoubleSeconds(now - training_start_.value_or(now));
  retry_advisor_.OnRoundCompleted(now - round_start_);
  relay_task_.reset();
  relay_deadline_ = absl::InfiniteFuture();
  config_.relay->OnRelayDone(round_, std::move(result));
  EndRound(now, "completed", std::nullopt);
}

void Coordinator::EndRelay(const std::string& reason, absl::Time now) {
  now_ = now;
  if (phase_ == Phase::kFinished) return;
  FailRelay(reason);
  open_round_.reset();
  evaluation_.reset();
  pending_.clear();
  Finish(reason);
}

void Coordinator::FailRelay(const std::string& why) {
  if (!relay_task_.has_value()) return;
  const uint64_t round = relay_task_->round;
  relay_task_.reset();
  relay_deadline_ = absl::InfiniteFuture();
  config_.relay->OnRelayDone(round, absl::UnavailableError(absl::StrCat(
                                        "gateway round ", round, " failed: ", why)));
}

}  // namespace fedge::coordinator
