#include "coordinator/ops_bridge.h"

#include <algorithm>
#include <cmath>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ops/render.h"

namespace fedge::coordinator {
namespace {

const char* PhaseName(const Coordinator& c) {
  switch (c.phase()) {
    case Coordinator::Phase::kWaitingForClients: return c.paused() ? "paused" : "waiting";
    case Coordinator::Phase::kTraining: return "training";
    case Coordinator::Phase::kServerEvaluating:
    case Coordinator::Phase::kEvaluating: return "evaluating";
    case Coordinator::Phase::kFinished: return "finished";
  }
  return "?";
}

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

ops::CommandReply Json(std::string body) {
  ops::CommandReply r;
  r.body = std::move(body);
  return r;
}

// Who is registered, in client id order: ids, sizes and liveness, never keys
// in full (the first 8 hex digits identify a device in the allow-list).
std::string ClientsJson(const Coordinator& c, absl::Time now) {
  std::string out = absl::StrCat("{\"round\":", c.round(), ",\"clients\":[");
  bool first = true;
  for (const std::string& peer : c.registry().PeersByClientId()) {
    const ClientRecord* r = c.registry().Find(peer);
    if (r == nullptr) continue;
    absl::StrAppend(&out, first ? "" : ",", "{\"client_id\":", r->client_id,
                    ",\"examples\":", r->num_examples, ",\"key\":",
                    r->identity.empty() ? std::string("null")
                                        : ops::JsonString(absl::StrCat(
                                              r->identity.substr(0, 8), "...")),
                    ",\"last_seen_s\":", absl::StrFormat("%.3f", Seconds(now - r->last_seen)),
                    ",\"checks_in\":", r->checks_in ? "true" : "false",
                    ",\"evaluates\":", r->evaluates ? "true" : "false", ",\"model_version\":",
                    r->has_model ? absl::StrCat(r->model_version) : std::string("null"), "}");
    first = false;
  }
  absl::StrAppend(&out, "]}\n");
  return out;
}

}  // namespace

OpsBridge::OpsBridge(OpsBridgeOptions options, const CoordinatorServer* server,
                     ops::StatusBoard* board, ops::ControlChannel* control, RoundObserver* next,
                     absl::Time started)
    : options_(std::move(options)),
      server_(server),
      board_(board),
      control_(control),
      next_(next),
      started_(started),
      history_(std::make_shared<const std::vector<ops::RoundPoint>>()) {}

void OpsBridge::OnRoundEnd(const RoundReport& r) {
  ops::RoundPoint p;
  p.round = r.round;
  p.completed = r.completed;
  p.failure = r.failure;
  if (r.evaluated) {
    if (r.eval.has_accuracy) p.accuracy = r.eval.accuracy;
    p.loss = r.eval.loss;
    test_accuracy_ = p.accuracy;
    test_loss_ = p.loss;
  }
  if (std::isfinite(r.train_loss) && r.completed) p.train_loss = r.train_loss;
  p.seconds = r.seconds;
  p.ended_unix = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  p.selected = r.selected;
  p.aggregated = r.aggregated;
  p.dropped = r.dropped;
  p.bytes_up = r.bytes_up;
  p.bytes_down = r.bytes_down;
  // Copy on append: published snapshots keep the history they were given.
  auto grown = std::make_shared<std::vector<ops::RoundPoint>>(*history_);
  grown->push_back(std::move(p));
  history_ = std::move(grown);
  round_seconds_.Add(r.seconds);
  dirty_ = true;
  if (next_ != nullptr) next_->OnRoundEnd(r);
}

ops::RunStatus OpsBridge::Status(const Coordinator& c, absl::Time now) const {
  ops::RunStatus s;
  s.version = options_.version;
  s.now_unix = absl::ToDoubleSeconds(now - absl::UnixEpoch());
  s.started_unix = absl::ToDoubleSeconds(started_ - absl::UnixEpoch());
  s.config = options_.config != nullptr ? options_.config
                                        : std::make_shared<const std::vector<ops::ConfigEntry>>();
  s.phase = PhaseName(c);
  s.paused = c.paused();
  s.stop_requested = c.stop_requested();
  s.round = c.round();
  s.rounds = options_.rounds;
  s.completed_rounds = c.completed_rounds();
  const CoordinatorStats& st = c.stats();
  s.failed_rounds = st.rounds_failed;
  s.model_version = c.model_version();
  if (c.phase() == Coordinator::Phase::kTraining) {
    ops::RoundProgress p;
    p.inputs = c.inputs_accepted();
    p.expected = c.cohort_size();
    p.elapsed_s = Seconds(now - c.round_start());
    p.deadline_in_s = std::max(0.0, Seconds(c.round_deadline() - now));
    s.progress = p;
  }
  s.clients_connected = c.registered_clients();
  if (options_.enrolled) s.clients_enrolled = options_.enrolled();
  s.registrations = st.registrations;
  s.clients_dropped = st.clients_dropped;
  s.clients_left = st.clients_left;
  s.refused_total = st.rejected_total;
  for (const auto& [code, count] : st.rejected_by_code) {
    s.refused_by_reason[protocol::ErrorCodeName(code)] = count;
  }
  if (server_ != nullptr) {
    const ServerSecurityStats sec = server_->security_stats();
    s.handshakes_accepted = sec.handshakes_accepted;
    s.handshakes_refused = sec.handshakes_refused;
    s.handshakes_failed = sec.handshakes_failed;
  }
  s.frames_in = st.frames_received;
  s.frames_out = st.frames_sent;
  s.bytes_in = st.bytes_received;
  s.bytes_out = st.bytes_sent;
  s.test_accuracy = test_accuracy_;
  s.test_loss = test_loss_;
  s.round_seconds = round_seconds_;
  s.history = history_;
  return s;
}

void OpsBridge::OnLoop(Coordinator& coordinator, absl::Time now) {
  control_->Serve([&](ops::Command command) {
    dirty_ = true;
    return Run(command, coordinator, now);
  });
  if (!dirty_ && now - last_publish_ < options_.publish_every) return;
  board_->Publish(std::make_shared<const ops::RunStatus>(Status(coordinator, now)), now);
  last_publish_ = now;
  dirty_ = false;
}

ops::CommandReply OpsBridge::Run(ops::Command command, Coordinator& c, absl::Time now) {
  switch (command) {
    case ops::Command::kPause:
    case ops::Command::kResume:
      c.SetPaused(command == ops::Command::kPause, now);
      break;
    case ops::Command::kStop:
      c.RequestStop(now);
      break;
    case ops::Command::kListClients:
      return Json(ClientsJson(c, now));
    case ops::Command::kExportModel: {
      ops::CommandReply r;
      if (!options_.export_model) {
        r.http_status = 404;
        r.body = "{\"error\":\"this coordinator does not export models\"}\n";
        return r;
      }
      absl::StatusOr<std::string> file = options_.export_model(c);
      if (!file.ok()) {
        r.http_status = 500;
        r.body = absl::StrCat("{\"error\":", ops::JsonString(file.status().ToString()), "}\n");
        return r;
      }
      r.content_type = "application/octet-stream";
      r.body = *std::move(file);
      r.headers.emplace_back("X-Fedge-Model-Version", absl::StrCat(c.model_version()));
      return r;
    }
  }
  return Json(absl::StrCat("{\"phase\":", ops::JsonString(PhaseName(c)),
                           ",\"paused\":", c.paused() ? "true" : "false",
                           ",\"stop_requested\":", c.stop_requested() ? "true" : "false",
                           ",\"round\":", c.round(), ",\"completed_rounds\":",
                           c.completed_rounds(), "}\n"));
}

std::shared_ptr<const std::vector<ops::ConfigEntry>> FlagsForStatus(
    const std::function<bool(absl::string_view file)>& is_own) {
  auto out = std::make_shared<std::vector<ops::ConfigEntry>>();
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!is_own(flag->Filename())) continue;
    out->push_back({std::string(name), flag->CurrentValue(),
                    flag->CurrentValue() == flag->DefaultValue()});
  }
  std::sort(out->begin(), out->end(),
            [](const ops::ConfigEntry& a, const ops::ConfigEntry& b) { return a.name < b.name; });
  return out;
}

}  // namespace fedge::coordinator
