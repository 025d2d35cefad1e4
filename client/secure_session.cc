#include "client/secure_session.h"

#include <algorithm>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "aggregation/fixed_point.h"
#include "base/status_macros.h"
#include "client/device_privacy.h"
#include "client/fault_injection.h"
#include "compression/pruning.h"
#include "protocol/codec.h"

namespace fedge::client {

absl::StatusOr<std::unique_ptr<SecureSession>> SecureSession::Start(
    const protocol::Task& task, uint64_t client_id, secure::SecureRandom& random,
    std::string* first_frame) {
  return Start(task, task.model, client_id, random, first_frame);
}

absl::StatusOr<std::unique_ptr<SecureSession>> SecureSession::Start(
    const protocol::Task& task, const protocol::ModelPayload& model, uint64_t client_id,
    secure::SecureRandom& random, std::string* first_frame) {
  const std::vector<uint64_t>& cohort = task.secure.cohort;
  auto it = std::find(cohort.begin(), cohort.end(), client_id);
  if (!task.secure.enabled || it == cohort.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "round ", task.round, ": client ", client_id, " is not in the secure cohort"));
  }
  // [weighted delta | weight], then SCAFFOLD's control-variate change.
  // A pruned model's updates carry only its kept weights.
  const size_t model_size = compression::KeptCount(model.mask, model.weights.size());
  const bool control = !task.control.empty();
  const size_t want = model_size + 1 + (control ? model_size : 0);
  if (task.secure.config.input_length != want) {
    return absl::InvalidArgumentError(absl::StrCat(
        "round ", task.round, ": SecAgg input length ", task.secure.config.input_length,
        " does not fit a model of ", model_size, " weights",
        control ? " with a control variate" : "", " (want ", want, ")"));
  }
  auto s = std::unique_ptr<SecureSession>(new SecureSession());
  s->round_ = task.round;
  s->model_version_ = task.model_version;
  s->client_id_ = client_id;
  s->task_ = task.secure;
  s->privacy_ = task.config.privacy;
  if (s->privacy_.mode == protocol::PrivacyMode::kDistributed) {
    if (control) {
      return absl::InvalidArgumentError(absl::StrCat(
          "round ", task.round, ": distributed DP with control variates is not supported"));
    }
    s->noise_bits_ = privacy::RandomBits::Crypto();
  }
  s->model_size_ = model_size;
  s->control_ = control;
  if (task.secure.encoding.bits < 32) {
    uint8_t seed[8];
    FEDGE_RETURN_IF_ERROR(random.Fill(absl::MakeSpan(seed)));
    for (uint8_t b : seed) s->rounding_seed_ = (s->rounding_seed_ << 8) | b;
  }
  const uint32_t index = static_cast<uint32_t>(it - cohort.begin()) + 1;
  FEDGE_ASSIGN_OR_RETURN(s->client_,
                         secure::SecAggClient::Create(task.secure.config, index, random));
  FEDGE_ASSIGN_OR_RETURN(secure::AdvertiseKeys keys, s->client_->Start());
  *first_frame = *s->Wrap(secure::SecAggClientMessage(std::move(keys)));
  return s;
}

std::optional<std::string> SecureSession::Wrap(
    std::optional<secure::SecAggClientMessage> body) const {
  if (!body.has_value()) return std::nullopt;
  protocol::SecAggToServer m;
  m.round = round_;
  m.model_version = model_version_;
  m.client_id = client_id_;
  m.body = *std::move(body);
  return protocol::Encode(m);
}

absl::StatusOr<std::optional<std::string>> SecureSession::OnMessage(
    const protocol::SecAggToClient& m) {
  if (m.round != round_) {
    return absl::FailedPreconditionError(
        absl::StrCat("SecAgg message for round ", m.round, ", the session is round ", round_));
  }
  if (std::holds_alternative<secure::UnmaskingRequest>(m.body)) {
    OnUnmaskingRequested(round_);  // a test-only fault may end the process here
  }
  FEDGE_ASSIGN_OR_RETURN(std::optional<secure::SecAggClientMessage> reply,
                         client_->OnMessage(m.body));
  return Wrap(std::move(reply));
}

absl::StatusOr<std::optional<std::string>> SecureSession::SetUpdate(
    absl::Span<const float> delta, uint64_t num_examples, absl::Span<const float> control_delta) {
  if (delta.size() != model_size_ || control_delta.size() != (control_ ? model_size_ : 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "round ", round_, ": update of ", delta.size(), " floats and a ", control_delta.size(),
        "-value control change; the round wants ", model_size_, " and ",
        control_ ? model_size_ : 0));
  }
  std::vector<uint32_t> encoded(task_.config.input_length);
  absl::Span<uint32_t> words = absl::MakeSpan(encoded);
  absl::Status s;
  if (privacy_.mode == protocol::PrivacyMode::kDistributed) {
    // Unweighted, weight word 0: a count of examples would add to what one
    // client can change in the sum.
    s = aggregation::EncodeFixedPointValues(delta, task_.encoding, words.first(model_size_),
                                            &clipped_);
    words[model_size_] = 0;
    if (s.ok()) AddDistributedNoise(privacy_.noise_stddev, words.first(model_size_), *noise_bits_);
  } else {
    s = aggregation::EncodeFixedPoint(delta, num_examples, task_.encoding,
                                      words.first(model_size_ + 1), &clipped_, rounding_seed_);
  }
  if (s.ok() && control_) {
    s = aggregation::EncodeFixedPointValues(control_delta, task_.encoding,
                                            words.subspan(model_size_ + 1), &clipped_,
                                            rounding_seed_ ^ 0x5bd1e995u);
  }
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("round ", round_, ": cannot encode the update: ",
                                               s.message()));
  }
  FEDGE_ASSIGN_OR_RETURN(std::optional<secure::SecAggClientMessage> reply,
                         client_->SetInput(encoded));
  return Wrap(std::move(reply));
}

bool SecureSession::finished() const {
  return client_->phase() == secure::SecAggClient::Phase::kCompleted ||
         client_->phase() == secure::SecAggClient::Phase::kAborted;
}

}  // namespace fedge::client
