#include "ops/http_server.h"

#include <arpa/inet.h>

#include <httplib.h>
#include <openssl/crypto.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "base/file_util.h"
#include "base/log.h"
#include "base/process_stats.h"
#include "base/sha256.h"
#include "ops/render.h"

namespace fedge::ops {
namespace {

void Error(httplib::Response& res, int status, absl::string_view message) {
  res.status = status;
  res.set_content(absl::StrCat("{\"error\":", JsonString(message), "}\n"), "application/json");
}

constexpr char kNoStore[] = "no-store";

}  // namespace

absl::StatusOr<HttpEndpoint> ParseHttpListen(absl::string_view spec, absl::string_view flag) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, "=", spec, ": ", why, " (want HOST:PORT, e.g. 127.0.0.1:8080, or "
                     "PORT alone for 127.0.0.1; PORT 0 picks a free one)"));
  };
  HttpEndpoint e;
  // A port alone listens on loopback: the safe default.
  if (spec.find(':') == absl::string_view::npos && absl::SimpleAtoi(spec, &e.port)) {
    if (e.port < 0 || e.port > 65535) return bad("the port is not a number in [0, 65535]");
    e.host = "127.0.0.1";
    return e;
  }
  const size_t colon = spec.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) return bad("no host or port");
  absl::string_view host = spec.substr(0, colon);
  if (absl::ConsumePrefix(&host, "[") && !absl::ConsumeSuffix(&host, "]")) {
    return bad("unbalanced '[' in the host");
  }
  e.host = std::string(host);
  if (!absl::SimpleAtoi(spec.substr(colon + 1), &e.port) || e.port < 0 || e.port > 65535) {
    return bad("the port is not a number in [0, 65535]");
  }
  in_addr v4;
  in6_addr v6;
  if (e.host != "localhost" && ::inet_pton(AF_INET, e.host.c_str(), &v4) != 1 &&
      ::inet_pton(AF_INET6, e.host.c_str(), &v6) != 1) {
    return bad("the host is not an IP address or localhost");
  }
  return e;
}

bool IsLoopbackHost(absl::string_view host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr v4;
  if (::inet_pton(AF_INET, std::string(host).c_str(), &v4) != 1) return false;
  return (ntohl(v4.s_addr) >> 24) == 127;
}

absl::Status CheckHttpExposure(const HttpEndpoint& endpoint, bool has_token) {
  if (has_token || IsLoopbackHost(endpoint.host)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--http_listen=", endpoint.host, ":", endpoint.port,
      " is reachable from other hosts: give --http_token_file (a 0600 file holding a random "
      "token, e.g. `openssl rand -hex 32 > FILE; chmod 600 FILE`) or listen on 127.0.0.1"));
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadOwnerOnlyFile(path, 4096);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("--http_token_file: ", text.status().message()));
  }
  std::string token(absl::StripAsciiWhitespace(*text));
  if (token.size() < 16 || token.find_first_of(" \t\r\n") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--http_token_file=", path, ": want one line of at least 16 characters without spaces "
        "(e.g. `openssl rand -hex 32`), got ", token.size(), " characters"));
  }
  for (unsigned char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--http_token_file=", path, ": the token must be printable ASCII"));
    }
  }
  return token;
}

HttpServer::HttpServer(HttpOptions options, const StatusBoard* board, ControlChannel* control)
    : options_(std::move(options)), board_(board), control_(control) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpOptions options,
                                                              const StatusBoard* board,
                                                              ControlChannel* control) {
  if (absl::Status s = CheckHttpExposure(options.endpoint, !options.token.empty()); !s.ok()) {
    return s;
  }
  std::unique_ptr<HttpServer> s(new HttpServer(std::move(options), board, control));
  s->server_ = std::make_unique<httplib::Server>();
  httplib::Server& svr = *s->server_;
  const int threads = s->options_.threads;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  const auto read = absl::ToChronoMicroseconds(s->options_.read_timeout);
  svr.set_read_timeout(read);
  svr.set_write_timeout(std::chrono::seconds(10));
  svr.set_keep_alive_timeout(std::max<time_t>(1, absl::ToInt64Seconds(s->options_.read_timeout)));
  svr.set_payload_max_length(4096);  // no route takes a body
  s->Route();
  const HttpEndpoint& e = s->options_.endpoint;
  int port = e.port;
  if (port == 0) {
    port = svr.bind_to_any_port(e.host);
    if (port < 0) port = -1;
  } else if (!svr.bind_to_port(e.host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return absl::UnavailableError(absl::StrCat("--http_listen=", e.host, ":", e.port,
                                               ": cannot bind (in use, or not a local address)"));
  }
  const bool v6 = e.host.find(':') != std::string::npos;
  s->url_ = absl::StrCat("http://", v6 ? "[" : "", e.host, v6 ? "]" : "", ":", port);
  s->thread_ = std::thread([server = s->server_.get()] { server->listen_after_bind(); });
  return s;
}

HttpServer::~HttpServer() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

bool HttpServer::Authorized(const std::string& authorization,
                            const std::string& query_token) const {
  if (options_.token.empty()) return true;
  absl::string_view given = query_token;
  absl::string_view header = authorization;
  if (absl::ConsumePrefix(&header, "Bearer ")) given = header;
  // Digests of equal length compared in constant time: neither the token's
  // bytes nor its length leak through timing.
  const Sha256Digest a = Sha256(given);
  const Sha256Digest b = Sha256(options_.token);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void HttpServer::Route() {
  httplib::Server& svr = *server_;
  svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    requests_.fetch_add(1);
    res.set_header("Cache-Control", kNoStore);
    // The page itself holds no data (it fetches /status with the token), so
    // it loads without one and can say what is missing.
    const bool page = req.method == "GET" && req.path == "/";
    if (page ||
        Authorized(req.get_header_value("Authorization"), req.get_param_value("token"))) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.set_header("WWW-Authenticate", "Bearer realm=\"fedge-coordinator\"");
    Error(res, 401, "a valid token is required: Authorization: Bearer TOKEN (--http_token_file)");
    return httplib::Server::HandlerResponse::Handled;
  });
  svr.Get("/", [this](const httplib::Request&, httplib::Response& res) {
    // The page fetches only from this origin; nothing from outside.
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                   "connect-src 'self'; img-src data:");
    res.set_content(options_.page, "text/html; charset=utf-8");
  });
  svr.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    const absl::Duration age = absl::Now() - board_->last_publish();
    if (age > options_.stalled_after) {
      res.status = 503;
      res.set_content(absl::StrCat("stalled: the coordinator's loop last reported ",
                                   board_->last_publish() == absl::InfinitePast()
                                       ? std::string("never")
                                       : absl::StrCat(absl::FormatDuration(age), " ago"),
                                   "\n"),
                      "text/plain");
      return;
    }
    res.set_content("ok\n", "text/plain");
  });
  svr.Get("/status", [this](const httplib::Request&, httplib::Response& res) {
    std::shared_ptr<const RunStatus> s = board_->Current();
    if (s == nullptr) return Error(res, 503, "the coordinator has not reported yet");
    res.set_content(StatusJson(*s), "application/json");
  });
  svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::shared_ptr<const RunStatus> s = board_->Current();
    if (s == nullptr) return Error(res, 503, "the coordinator has not reported yet");
    res.set_content(PrometheusText(*s, ReadProcessStats()), "text/plain; version=0.0.4");
  });
  auto command = [this](Command c) {
    return [this, c](const httplib::Request&, httplib::Response& res) {
      absl::StatusOr<CommandReply> r = control_->Call(c, options_.command_timeout);
      if (!r.ok()) {
        return Error(res, absl::IsDeadlineExceeded(r.status()) ? 504 : 503,
                     r.status().message());
      }
      res.status = r->http_status;
      for (const auto& [name, value] : r->headers) res.set_header(name.c_str(), value);
      res.set_content(std::move(r->body), r->content_type.c_str());
    };
  };
  svr.Get("/clients", command(Command::kListClients));
  svr.Get("/model", command(Command::kExportModel));
  svr.Post("/control/pause", command(Command::kPause));
  svr.Post("/control/resume", command(Command::kResume));
  svr.Post("/control/stop", command(Command::kStop));
  svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404) {
      Error(res, 404, absl::StrCat("no route ", req.method, " ", req.path,
                                   " (GET /, /status, /metrics, /healthz, /clients, /model; "
                                   "POST /control/pause|resume|stop)"));
    }
  });
  svr.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
        FEDGE_LOG(kError, "http: %s %s failed with an exception", req.method, req.path);
        Error(res, 500, "internal error");
      });
}

}  // namespace fedge::ops
