#ifndef FEDGE_TESTS_SDK_FAKE_COORDINATOR_H_
#define FEDGE_TESTS_SDK_FAKE_COORDINATOR_H_

// For the C API tests: a fake coordinator (a ROUTER socket driven by the
// test, so each protocol step is deterministic) and run_once on its own
// thread, as a device main loop would run it.

#include <optional>
#include <string>
#include <thread>
#include <variant>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "absl/time/clock.h"
#include "fedge/fedge_client.h"
#include "protocol/codec.h"
#include "protocol/wire.h"
#include "secure/secret_bytes.h"

namespace fedge {

class FakeCoordinator {
 public:
  // With `curve_secret`, a CURVE server with that key (any client key is
  // accepted: no ZAP handler).
  explicit FakeCoordinator(const secure::SecretBytes* curve_secret = nullptr)
      : router_(ctx_, zmq::socket_type::router) {
    router_.set(zmq::sockopt::linger, 0);
    if (curve_secret != nullptr) {
      router_.set(zmq::sockopt::curve_server, true);
      router_.set(zmq::sockopt::curve_secretkey,
                  zmq::const_buffer(curve_secret->data(), curve_secret->size()));
    }
    endpoint_ = *protocol::Bind(router_, "tcp://127.0.0.1:*");
  }
  const std::string& endpoint() const { return endpoint_; }

  // The next message from any client, or nullopt after `timeout`.
  std::optional<protocol::Message> Next(absl::Duration timeout, std::string* peer = nullptr) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
      if (!protocol::Poll(&item, 1, deadline - absl::Now()).ok()) return std::nullopt;
      auto routed = protocol::ReceiveRouted(router_);
      if (!routed.ok() || !routed->has_value()) continue;
      auto msg = protocol::Decode(protocol::View((*routed)->frame), protocol::DecodeLimits());
      if (!msg.ok()) continue;
      if (peer != nullptr) *peer = (*routed)->peer;
      return *std::move(msg);
    }
    return std::nullopt;
  }

  // Waits for a message of kind T, skipping others (heartbeats).
  template <typename T>
  std::optional<T> NextOf(absl::Duration timeout, std::string* peer = nullptr) {
    const absl::Time deadline = absl::Now() + timeout;
    while (auto m = Next(deadline - absl::Now(), peer)) {
      if (auto* t = std::get_if<T>(&*m)) return *t;
      if (std::holds_alternative<protocol::Update>(*m)) ++updates;
    }
    return std::nullopt;
  }

  void Send(const std::string& peer, const protocol::Message& m) {
    ASSERT_TRUE(protocol::SendRouted(router_, peer, protocol::ToMessage(protocol::Encode(m))).ok());
  }

  int updates = 0;

 private:
  zmq::context_t ctx_;
  zmq::socket_t router_;
  std::string endpoint_;
};

// fedge_client_run_once on its own thread, as a device main loop would run
// it while the test plays the coordinator. fedge_last_error is per thread,
// so the error is captured there.
class BackgroundRun {
 public:
  BackgroundRun(fedge_client* client, int64_t timeout_ms)
      : thread_([this, client, timeout_ms] {
          status = fedge_client_run_once(client, timeout_ms, &report);
          error = fedge_last_error();
        }) {}
  ~BackgroundRun() { Join(); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  fedge_status status = FEDGE_OK;
  fedge_run_report report{};
  std::string error;

 private:
  std::thread thread_;  // last: starts once the results above exist
};

}  // namespace fedge

#endif  // FEDGE_TESTS_SDK_FAKE_COORDINATOR_H_
