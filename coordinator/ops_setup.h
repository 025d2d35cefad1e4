#ifndef FEDGE_COORDINATOR_OPS_SETUP_H_
#define FEDGE_COORDINATOR_OPS_SETUP_H_

// fedge-coordinator's operator interface from its flags (--http_listen,
// --http_token_file, --progress): the HTTP server of ops/, the bridge that
// feeds it from the round loop, and the terminal's progress line. Started
// before the Coordinator exists, because the bridge observes its rounds.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "absl/strings/string_view.h"
#include "coordinator/coordinator_server.h"
#include "coordinator/ops_bridge.h"
#include "coordinator/round_outputs.h"
#include "ops/http_server.h"
#include "secure/allow_list.h"

namespace fedge::coordinator {

struct Operations {
  std::unique_ptr<ops::StatusBoard> board;
  std::unique_ptr<ops::ControlChannel> control;
  std::unique_ptr<OpsBridge> bridge;
  std::unique_ptr<ops::HttpServer> http;  // last: stopped first
  std::unique_ptr<ProgressLine> progress;
  // Who gets the Coordinator's round reports.
  RoundObserver* observer = nullptr;
};

// nullopt after a message on stderr (a usage error: exit 2) when the flags
// are wrong or the address cannot be bound. `server` and `printer` must
// outlive the result; `allow_list` may be null (--insecure). `is_own` picks
// the binary's flags for the status page's configuration table.
std::optional<Operations> StartOperations(CoordinatorServer& server, ReportPrinter& printer,
                                          const secure::AllowListFile* allow_list,
                                          uint64_t rounds, bool quiet,
                                          const std::function<bool(absl::string_view)>& is_own);

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_OPS_SETUP_H_
