#include "client/sdk/gateway_link.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "protocol/codec.h"

namespace fedge::sdk {
namespace {

using protocol::ErrorCode;

// A refusal as the Status Predict documents.
absl::Status FromRefusal(ErrorCode code, const std::string& message, const std::string& endpoint) {
  std::string what = absl::StrCat("gateway ", endpoint, " refused the prediction (",
                                  protocol::ErrorCodeName(code), "): ", message);
  switch (code) {
    case ErrorCode::kWrongLength:
    case ErrorCode::kTooLarge:
    case ErrorCode::kMalformed:
      return absl::InvalidArgumentError(std::move(what));
    default:
      return absl::UnavailableError(std::move(what));
  }
}

}  // namespace

GatewayLink::GatewayLink(std::string endpoint,
                         std::shared_ptr<const protocol::CurveClientKeys> curve,
                         uint64_t client_id)
    : endpoint_(std::move(endpoint)), curve_(std::move(curve)), client_id_(client_id) {}

GatewayLink::~GatewayLink() { Drop(); }

void GatewayLink::Drop() {
  socket_.reset();
  ctx_.reset();
}

absl::Status GatewayLink::EnsureSocket() {
  if (socket_.has_value()) return absl::OkStatus();
  try {
    ctx_ = std::make_unique<zmq::context_t>(1);
    socket_.emplace(*ctx_, zmq::socket_type::dealer);
  } catch (const zmq::error_t& e) {
    Drop();
    return absl::InternalError(absl::StrCat("gateway link: ", e.what()));
  }
  protocol::SocketConfig config;
  config.curve_client = curve_;
  absl::Status s = protocol::ConfigureSocket(*socket_, config);
  if (s.ok()) s = protocol::Connect(*socket_, endpoint_);
  if (!s.ok()) Drop();
  return s;
}

absl::StatusOr<protocol::PredictReply> GatewayLink::Predict(uint32_t count,
                                                            absl::Span<const float> inputs,
                                                            absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  if (absl::Status s = EnsureSocket(); !s.ok()) return s;
  protocol::PredictRequest request;
  request.request_id = next_request_++;
  request.client_id = client_id_;
  request.count = count;
  request.inputs.assign(inputs.begin(), inputs.end());
  if (absl::Status s = protocol::SendFrame(*socket_, protocol::TakeMessage(protocol::Encode(request)));
      !s.ok()) {
    Drop();
    return absl::UnavailableError(absl::StrCat("gateway ", endpoint_, ": ", s.message()));
  }
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    zmq::pollitem_t item = {socket_->handle(), 0, ZMQ_POLLIN, 0};
    absl::StatusOr<int> ready = protocol::Poll(&item, 1, left);
    if (!ready.ok()) {
      Drop();
      return absl::InternalError(absl::StrCat("gateway link: ", ready.status().message()));
    }
    if (*ready == 0) continue;  // timed out or interrupted: the loop rechecks the clock
    absl::StatusOr<std::optional<zmq::message_t>> frame = protocol::ReceiveFrame(*socket_);
    if (!frame.ok()) {
      Drop();
      return absl::InternalError(absl::StrCat("gateway link: ", frame.status().message()));
    }
    if (!frame->has_value()) continue;
    absl::StatusOr<protocol::Message> m = protocol::Decode(protocol::View(**frame));
    if (!m.ok()) {
      Drop();
      return absl::UnavailableError(absl::StrCat("gateway ", endpoint_,
                                                 " sent an undecodable reply: ", m.status().message()));
    }
    if (auto* error = std::get_if<protocol::ErrorReply>(&*m)) {
      // The request itself was refused before it was read (a root
      // coordinator, a version mismatch, a malformed frame).
      return FromRefusal(error->code, error->message, endpoint_);
    }
    auto* reply = std::get_if<protocol::PredictReply>(&*m);
    if (reply == nullptr || reply->request_id != request.request_id) continue;  // stale
    if (!reply->ok) return FromRefusal(reply->code, reply->message, endpoint_);
    if (reply->count != count) {
      return absl::UnavailableError(absl::StrCat("gateway ", endpoint_, " answered ",
                                                 reply->count, " examples for ", count));
    }
    return std::move(*reply);
  }
  Drop();
  return absl::DeadlineExceededError(absl::StrCat("no prediction from gateway ", endpoint_,
                                                  " within ", absl::FormatDuration(timeout)));
}

absl::StatusOr<protocol::PredictReply> GatewayPredictor::Predict(uint32_t count,
                                                                 absl::Span<const float> inputs,
                                                                 absl::Duration timeout) {
  const absl::Time now = absl::Now();
  if (now < skip_until_) {
    return absl::UnavailableError(absl::StrCat(
        "not asked: ", failure_, "; asked again in ",
        absl::FormatDuration(absl::Trunc(skip_until_ - now, absl::Milliseconds(1)))));
  }
  absl::StatusOr<protocol::PredictReply> reply = link_.Predict(count, inputs, timeout);
  if (absl::IsDeadlineExceeded(reply.status()) || absl::IsInternal(reply.status())) {
    backoff_ = backoff_ == absl::ZeroDuration() ? absl::Seconds(1)
                                                : std::min(2 * backoff_, absl::Seconds(30));
    skip_until_ = absl::Now() + backoff_;
    failure_ = std::string(reply.status().message());
  } else {
    backoff_ = absl::ZeroDuration();  // it answered, if only to refuse
  }
  return reply;
}

}  // namespace fedge::sdk
