#ifndef FEDGE_CLIENT_SDK_GATEWAY_LINK_H_
#define FEDGE_CLIENT_SDK_GATEWAY_LINK_H_

// The device's connection for gateway inference (fedge_gateway_predict): a
// DEALER to the gateway it trains with, CURVE-authenticated with the
// device's key like its check-ins, kept open between calls so a prediction
// costs one round trip, not a handshake. Not thread-safe: the SDK
// serialises calls on one handle.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "protocol/messages.h"
#include "protocol/wire.h"

namespace fedge::sdk {

class GatewayLink {
 public:
  // `curve` null: plain TCP (insecure). Connects on first use.
  GatewayLink(std::string endpoint, std::shared_ptr<const protocol::CurveClientKeys> curve,
              uint64_t client_id);
  ~GatewayLink();

  // Sends `count` examples (`inputs`, row-major) and waits up to `timeout`
  // for the reply, which is OK (ok == true). Errors:
  //   DeadlineExceeded  no reply in time (the connection is dropped, so a
  //                     late reply is never taken for a later request's);
  //   Unavailable       the gateway has no model, is busy, serves no
  //                     predictions (a root coordinator), or failed to run
  //                     the model;
  //   InvalidArgument   the gateway refused the inputs (their length, or
  //                     too many examples): predicting elsewhere would not
  //                     help;
  //   Internal          the socket failed.
  absl::StatusOr<protocol::PredictReply> Predict(uint32_t count, absl::Span<const float> inputs,
                                                 absl::Duration timeout);

 private:
  absl::Status EnsureSocket();
  void Drop();

  const std::string endpoint_;
  const std::shared_ptr<const protocol::CurveClientKeys> curve_;
  const uint64_t client_id_;
  uint64_t next_request_ = 1;
  std::unique_ptr<zmq::context_t> ctx_;
  std::optional<zmq::socket_t> socket_;
};

// fedge_gateway_predict's gateway half: the link, and the back-off after
// the gateway stayed silent (1 s, doubling up to 30 s while it stays so) in
// which it is not asked, so a device whose gateway is down predicts on
// itself at once. Not thread-safe.
class GatewayPredictor {
 public:
  GatewayPredictor(std::string endpoint, std::shared_ptr<const protocol::CurveClientKeys> curve,
                   uint64_t client_id)
      : link_(std::move(endpoint), std::move(curve), client_id) {}

  // As GatewayLink::Predict; Unavailable ("not asked: ...") during a
  // back-off. A timeout or a broken socket starts or lengthens the back-off;
  // any answer ends it.
  absl::StatusOr<protocol::PredictReply> Predict(uint32_t count, absl::Span<const float> inputs,
                                                 absl::Duration timeout);

 private:
  GatewayLink link_;
  absl::Duration backoff_ = absl::ZeroDuration();  // 0: the gateway answered last
  absl::Time skip_until_ = absl::InfinitePast();
  std::string failure_;  // why the back-off started
};

}  // namespace fedge::sdk

#endif  // FEDGE_CLIENT_SDK_GATEWAY_LINK_H_
