#include "coordinator/ops_setup.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "client/model_file.h"
#include "ops/status_page.h"

ABSL_FLAG(std::string, progress, "auto",
          "While a round runs, keep one line on stdout updated with its progress (updates in / "
          "cohort, elapsed, deadline): on, off, or auto (on when stdout is a terminal and not "
          "--quiet)");
ABSL_FLAG(std::string, http_listen, "",
          "Serve the operator interface on HOST:PORT, or PORT alone for 127.0.0.1:PORT (PORT 0 "
          "picks a free one): /metrics "
          "(Prometheus), /healthz, /status (JSON), a live status page at /, and the control API "
          "fedge-ctl uses (pause, resume, stop, clients, model export). Off when empty. An "
          "address other than loopback needs --http_token_file (docs/operations.md)");
ABSL_FLAG(std::string, http_token_file, "",
          "With --http_listen: a file (mode 0600) holding the bearer token every HTTP request "
          "must carry (Authorization: Bearer TOKEN, or ?token= to open the page in a browser); "
          "required unless --http_listen is a loopback address");

namespace fedge::coordinator {

std::optional<Operations> StartOperations(CoordinatorServer& server, ReportPrinter& printer,
                                          const secure::AllowListFile* allow_list,
                                          uint64_t rounds, bool quiet,
                                          const std::function<bool(absl::string_view)>& is_own) {
  Operations o;
  o.observer = &printer;
  const std::string progress = absl::GetFlag(FLAGS_progress);
  if (progress != "auto" && progress != "on" && progress != "off") {
    std::fprintf(stderr, "fedge-coordinator: --progress=%s: want auto, on or off\n",
                 progress.c_str());
    return std::nullopt;
  }
  if (progress == "on" || (progress == "auto" && ::isatty(STDOUT_FILENO) == 1 &&
                           !quiet)) {
    o.progress = std::make_unique<ProgressLine>(rounds, stdout);
    printer.set_erase_progress(true);
    server.add_loop_hook(o.progress.get());
  }
  const std::string listen = absl::GetFlag(FLAGS_http_listen);
  const std::string token_file = absl::GetFlag(FLAGS_http_token_file);
  if (listen.empty()) {
    if (token_file.empty()) return o;
    std::fprintf(stderr, "fedge-coordinator: --http_token_file needs --http_listen\n");
    return std::nullopt;
  }
  ops::HttpOptions http;
  absl::StatusOr<ops::HttpEndpoint> endpoint = ops::ParseHttpListen(listen, "--http_listen");
  absl::Status ok = endpoint.status();
  if (ok.ok() && !token_file.empty()) {
    absl::StatusOr<std::string> token = ops::ReadTokenFile(token_file);
    if (token.ok()) http.token = *std::move(token);
    ok = token.status();
  }
  if (ok.ok()) ok = ops::CheckHttpExposure(*endpoint, !http.token.empty());
  if (!ok.ok()) {
    std::fprintf(stderr, "fedge-coordinator: %s\n", std::string(ok.message()).c_str());
    return std::nullopt;
  }
  http.endpoint = *endpoint;
  http.page = ops::StatusPageHtml();
  o.board = std::make_unique<ops::StatusBoard>();
  absl::StatusOr<std::unique_ptr<ops::ControlChannel>> control = ops::ControlChannel::Create();
  if (!control.ok()) {
    FEDGE_LOG(kError, "%s", control.status().ToString());
    return std::nullopt;
  }
  o.control = *std::move(control);
  OpsBridgeOptions options;
  options.version = FEDGE_VERSION;
  options.rounds = rounds;
  options.config = FlagsForStatus(is_own);
  if (allow_list != nullptr) {
    options.enrolled = [allow_list] { return allow_list->Current()->size(); };
  }
  options.export_model = [](Coordinator& c) -> absl::StatusOr<std::string> {
    FEDGE_ASSIGN_OR_RETURN(auto model, c.SignedModel());
    return client::EncodeModelFile(c.model_version(), model.first, model.second.signature);
  };
  o.bridge = std::make_unique<OpsBridge>(std::move(options), &server, o.board.get(),
                                                       o.control.get(), &printer, absl::Now());
  o.observer = o.bridge.get();
  server.add_loop_hook(o.bridge.get());
  absl::StatusOr<std::unique_ptr<ops::HttpServer>> started =
      ops::HttpServer::Start(std::move(http), o.board.get(), o.control.get());
  if (!started.ok()) {
    std::fprintf(stderr, "fedge-coordinator: %s\n",
                 std::string(started.status().message()).c_str());
    return std::nullopt;
  }
  o.http = *std::move(started);
  FEDGE_LOG(kInfo, "operator interface on %s (status page /, /metrics, /healthz, /status)%s",
            o.http->url(), http.token.empty() ? "" : "; bearer token required");
  return o;
}

}  // namespace fedge::coordinator
