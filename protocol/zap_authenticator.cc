#include "protocol/zap_authenticator.h"

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/log.h"
#include "protocol/wire.h"
#include "secure/key_files.h"

namespace fedge::protocol {
namespace {

constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";
constexpr char kZapVersion[] = "1.0";
constexpr int kRefusalLogsPerSecond = 10;

std::string ToString(const zmq::message_t& m) { return m.to_string(); }

}  // namespace

absl::StatusOr<std::unique_ptr<ZapAuthenticator>> ZapAuthenticator::Start(
    zmq::context_t& ctx, secure::AllowListFile* allow_list) {
  if (allow_list == nullptr) return absl::InvalidArgumentError("ZAP: no allow-list");
  try {
    zmq::socket_t handler(ctx, zmq::socket_type::rep);
    handler.set(zmq::sockopt::linger, 0);
    handler.bind(kZapEndpoint);
    const std::string control = absl::StrCat("inproc://fedge-zap-control-",
                                             reinterpret_cast<uintptr_t>(handler.handle()));
    zmq::socket_t control_in(ctx, zmq::socket_type::pair);
    control_in.set(zmq::sockopt::linger, 0);
    control_in.bind(control);
    zmq::socket_t control_out(ctx, zmq::socket_type::pair);
    control_out.set(zmq::sockopt::linger, 0);
    control_out.connect(control);
    return std::unique_ptr<ZapAuthenticator>(new ZapAuthenticator(
        allow_list, std::move(handler), std::move(control_in), std::move(control_out)));
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(absl::StrCat("cannot start the ZAP handler on ", kZapEndpoint,
                                               ": ", e.what()));
  }
}

ZapAuthenticator::ZapAuthenticator(secure::AllowListFile* allow_list, zmq::socket_t handler,
                                   zmq::socket_t control_in, zmq::socket_t control_out)
    : allow_list_(allow_list), handler_(std::move(handler)), control_in_(std::move(control_in)),
      control_out_(std::move(control_out)) {
  // Thread creation is a full barrier: the sockets migrate to the thread.
  thread_ = std::thread([this] { Loop(); });
}

ZapAuthenticator::~ZapAuthenticator() {
  try {
    control_out_.send(zmq::str_buffer("stop"), zmq::send_flags::none);
  } catch (const zmq::error_t&) {
  }
  thread_.join();
  control_out_.close();
}

void ZapAuthenticator::Loop() {
  while (true) {
    zmq::pollitem_t items[] = {{handler_.handle(), 0, ZMQ_POLLIN, 0},
                               {control_in_.handle(), 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 2, std::chrono::milliseconds(-1));
      if (items[1].revents & ZMQ_POLLIN) break;
      if (!(items[0].revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> request;
      do {
        zmq::message_t part;
        if (!handler_.recv(part, zmq::recv_flags::none)) break;
        request.push_back(std::move(part));
      } while (handler_.get(zmq::sockopt::rcvmore));
      std::vector<std::string> reply = Answer(request);
      for (size_t i = 0; i < reply.size(); ++i) {
        handler_.send(zmq::buffer(reply[i]),
                      i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      // Stop answering but keep the endpoint bound: handshakes then stall
      // instead of going unauthenticated.
      FEDGE_LOG(kError, "ZAP handler failed (%s); no new connections will be accepted",
                e.what());
      zmq::pollitem_t stop{control_in_.handle(), 0, ZMQ_POLLIN, 0};
      try {
        zmq::poll(&stop, 1, std::chrono::milliseconds(-1));
      } catch (const zmq::error_t&) {
      }
      break;
    }
  }
  handler_.close();
  control_in_.close();
}

std::vector<std::string> ZapAuthenticator::Answer(const std::vector<zmq::message_t>& request) {
  // Request: version, request id, domain, address, routing id, mechanism,
  // credentials (CURVE: the client's 32-byte public key).
  const std::string request_id = request.size() > 1 ? ToString(request[1]) : std::string();
  auto refuse = [&](const std::string& code, const std::string& why) {
    ++refused_;
    LogRefusal(why);
    return std::vector<std::string>{kZapVersion, request_id, code, why, "", ""};
  };
  if (request.size() < 6 || ToString(request[0]) != kZapVersion) {
    return refuse("500", "malformed ZAP request");
  }
  const std::string domain = ToString(request[2]);
  const std::string address = ToString(request[3]);
  const std::string mechanism = ToString(request[5]);
  if (domain != kZapDomain) return refuse("400", absl::StrCat("unknown ZAP domain '", domain, "'"));
  if (mechanism != "CURVE" || request.size() != 7 ||
      request[6].size() != secure::kX25519KeySize) {
    return refuse("400", absl::StrCat("connection from ", address, " uses mechanism '",
                                      mechanism, "'; only CURVE is accepted"));
  }
  secure::X25519PublicKey key;
  std::memcpy(key.data(), request[6].data(), key.size());
  // Follows edits to the file; a failed reload keeps the previous list.
  allow_list_->ReloadIfChanged().IgnoreError();
  const std::string hex = secure::PublicKeyHex(key);
  if (allow_list_->Current()->Find(key) == nullptr) {
    return refuse("400", absl::StrCat("key ", hex.substr(0, 8), "... from ", address,
                                      " is not in the allow-list ", allow_list_->path()));
  }
  ++accepted_;
  FEDGE_LOG(kDebug, "ZAP: accepted key %s... from %s", hex.substr(0, 8), address);
  return {kZapVersion, request_id, "200", "OK", hex, ""};
}

void ZapAuthenticator::LogRefusal(const std::string& why) {
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  if (now_ms - log_window_start_ms_ >= 1000) {
    if (logs_suppressed_ > 0) {
      FEDGE_LOG(kWarning, "ZAP: %d more refused connections were not logged", logs_suppressed_);
    }
    log_window_start_ms_ = now_ms;
    logs_in_window_ = 0;
    logs_suppressed_ = 0;
  }
  if (logs_in_window_++ < kRefusalLogsPerSecond) {
    FEDGE_LOG(kWarning, "ZAP: refused a connection: %s (%d refused so far)", why,
              refused_.load());
  } else {
    ++logs_suppressed_;
  }
}

}  // namespace fedge::protocol
