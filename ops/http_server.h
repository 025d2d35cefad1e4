#ifndef FEDGE_OPS_HTTP_SERVER_H_
#define FEDGE_OPS_HTTP_SERVER_H_

// The coordinator's HTTP interface for operators (fedge-coordinator
// --http_listen): /metrics (Prometheus), /healthz, /status (JSON), the status
// page at /, and the control API fedge-ctl uses (/clients, /control/pause,
// /control/resume, /control/stop, /model). Served by Debian's cpp-httplib on
// its own threads: reads come from the StatusBoard and commands go through
// the ControlChannel, so no request ever runs on, or blocks, the round loop.
//
// Exposure: loopback needs no token; any other address needs one
// (CheckHttpExposure), sent as "Authorization: Bearer TOKEN" (or ?token= for
// a browser opening the page) and compared in constant time. Every route
// needs it but the page itself, which holds no data: it fetches /status with
// the token from its own URL, and says so when that is refused.

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ops/control_channel.h"
#include "ops/status_board.h"

namespace httplib {
class Server;
}

namespace fedge::ops {

struct HttpEndpoint {
  std::string host;  // an IPv4 address, "localhost", or an IPv6 address without brackets
  int port = 0;      // 0: any free port
};

// "HOST:PORT", "[V6]:PORT", or "PORT" alone for 127.0.0.1:PORT;
// InvalidArgument naming `flag` otherwise.
absl::StatusOr<HttpEndpoint> ParseHttpListen(absl::string_view spec, absl::string_view flag);
bool IsLoopbackHost(absl::string_view host);
// InvalidArgument when `endpoint` is reachable from other hosts and no token
// protects it.
absl::Status CheckHttpExposure(const HttpEndpoint& endpoint, bool has_token);

// The token in `path`: one line of at least 16 printable characters, in a
// file no one but its owner may read (like a key file). Errors name the file.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

struct HttpOptions {
  HttpEndpoint endpoint;
  std::string token;  // empty: none (loopback only)
  // The status page's HTML, served at "/".
  std::string page;
  // How long a control request waits for the coordinator's loop.
  absl::Duration command_timeout = absl::Seconds(10);
  // Worker threads; each idle or slow connection holds one for at most the
  // read timeout (a second for a silent connection's first request too:
  // cpp-httplib's keep-alive wait takes whole seconds).
  int threads = 32;
  absl::Duration read_timeout = absl::Seconds(1);
  // /healthz fails when the loop has not published for this long.
  absl::Duration stalled_after = absl::Seconds(15);
};

class HttpServer {
 public:
  // Binds and starts serving on a thread of its own. Unavailable when the
  // address cannot be bound (in use, not local). `board` and `control` must
  // outlive the server.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(HttpOptions options,
                                                           const StatusBoard* board,
                                                           ControlChannel* control);
  // Stops accepting, then waits for the requests in progress.
  ~HttpServer();

  // "http://HOST:PORT" with the bound port.
  const std::string& url() const { return url_; }
  uint64_t requests() const { return requests_.load(); }

 private:
  HttpServer(HttpOptions options, const StatusBoard* board, ControlChannel* control);
  void Route();
  bool Authorized(const std::string& authorization, const std::string& query_token) const;

  const HttpOptions options_;
  const StatusBoard* const board_;
  ControlChannel* const control_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string url_;
  std::atomic<uint64_t> requests_{0};
};

}  // namespace fedge::ops

#endif  // FEDGE_OPS_HTTP_SERVER_H_
