#ifndef FEDGE_PROTOCOL_ZAP_AUTHENTICATOR_H_
#define FEDGE_PROTOCOL_ZAP_AUTHENTICATOR_H_

// The coordinator's ZAP handler (ZeroMQ RFC 27, "ZMTP Authentication
// Protocol"): a REP socket on inproc://zeromq.zap.01 in the coordinator's
// context, served by its own thread. libzmq asks it about every CURVE
// handshake on that context's server sockets; it accepts a client whose
// public key is in the allow-list and answers with the key (64 lowercase hex
// digits) as the User-Id, which every message from that connection then
// carries (RoutedFrame::user_id) and the Coordinator binds to client ids.
//
// Before each answer the allow-list file is re-read if it changed (see
// secure::AllowListFile), so enrolling or removing a device takes effect at
// its next handshake without a restart. Removing a key does not cut a
// connection that is already up; the Coordinator refuses its Hellos and
// updates from then on (NOT_ENROLLED).
//
// Refusals are counted and logged, at most 10 a second plus a summary.
// Fails closed: if the handler ever stops answering, handshakes stall rather
// than pass (CURVE servers also set ZMQ_ZAP_ENFORCE_DOMAIN).

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include <zmq.hpp>

#include "absl/status/statusor.h"
#include "secure/allow_list.h"

namespace fedge::protocol {

class ZapAuthenticator {
 public:
  // Binds the handler in `ctx` and starts its thread. Create it before any
  // CURVE server socket in `ctx` binds; destroy it after they are closed.
  // `allow_list` must outlive the authenticator. Unavailable if the ZAP
  // endpoint is taken (another handler in the same context).
  static absl::StatusOr<std::unique_ptr<ZapAuthenticator>> Start(
      zmq::context_t& ctx, secure::AllowListFile* allow_list);
  ~ZapAuthenticator();
  ZapAuthenticator(const ZapAuthenticator&) = delete;
  ZapAuthenticator& operator=(const ZapAuthenticator&) = delete;

  // Handshakes accepted and refused so far. Thread-safe.
  uint64_t accepted() const { return accepted_.load(); }
  uint64_t refused() const { return refused_.load(); }

 private:
  ZapAuthenticator(secure::AllowListFile* allow_list, zmq::socket_t handler,
                   zmq::socket_t control_in, zmq::socket_t control_out);
  void Loop();
  // Answers one request (frames as received); returns the reply frames.
  std::vector<std::string> Answer(const std::vector<zmq::message_t>& request);
  void LogRefusal(const std::string& why);

  secure::AllowListFile* const allow_list_;
  zmq::socket_t handler_;      // REP; owned by the thread
  zmq::socket_t control_in_;   // PAIR; owned by the thread
  zmq::socket_t control_out_;  // PAIR; the destructor says stop through it
  std::thread thread_;
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> refused_{0};
  // Log rate limiting; touched by the thread only.
  int64_t log_window_start_ms_ = 0;
  int logs_in_window_ = 0;
  uint64_t logs_suppressed_ = 0;
};

}  // namespace fedge::protocol

#endif  // FEDGE_PROTOCOL_ZAP_AUTHENTICATOR_H_
