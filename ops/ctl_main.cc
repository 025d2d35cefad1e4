// fedge-ctl: talks to a running fedge-coordinator over its HTTP interface
// (--http_listen): status, clients, pause/resume after the open round, a
// clean stop, and export of the current signed model.

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <httplib.h>
#include <rapidjson/document.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "base/file_util.h"
#include "ops/http_server.h"

ABSL_FLAG(std::string, server, "http://127.0.0.1:8080",
          "The coordinator's --http_listen address, as http://HOST:PORT");
ABSL_FLAG(std::string, token_file, "",
          "The coordinator's --http_token_file (mode 0600), when it has one");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(20), "How long to wait for an answer");
ABSL_FLAG(std::string, out, "", "export: the file to write the model to");
ABSL_FLAG(bool, json, false, "status, clients: print the coordinator's JSON as it is");

namespace fedge {
namespace {

constexpr char kUsage[] =
    "Controls a running fedge-coordinator through its HTTP interface (--http_listen).\n"
    "Usage: fedge-ctl [--server=http://HOST:PORT] [--token_file=FILE] COMMAND\n"
    "Commands:\n"
    "  status    the run: phase, round and its progress, accuracy, clients, traffic\n"
    "  clients   the registered clients: id, examples, last heard from, model version\n"
    "  pause     start no new round; the open round runs to its end first\n"
    "  resume    start rounds again\n"
    "  stop      end the run cleanly after the open round (clients are told to shut down)\n"
    "  export    write the current signed model to --out (a model-store file: fedge-export\n"
    "            --model_file reads it, a device's store verifies it)\n"
    "  metrics   print /metrics (Prometheus text)\n"
    "Exit codes: 0 done, 1 the coordinator refused or could not be reached, 2 usage.";

int Fail(const std::string& message) {
  std::fprintf(stderr, "fedge-ctl: %s\n", message.c_str());
  return 1;
}

struct Target {
  std::string base;
  std::string token;
};

// One request; the body on 2xx, else a message saying what went wrong.
absl::StatusOr<httplib::Result> Request(const Target& t, const std::string& method,
                                        const std::string& path) {
  httplib::Client client(t.base);
  const auto timeout = absl::ToChronoMicroseconds(absl::GetFlag(FLAGS_timeout));
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(timeout);
  httplib::Headers headers;
  if (!t.token.empty()) headers.emplace("Authorization", "Bearer " + t.token);
  httplib::Result r = method == "POST" ? client.Post(path.c_str(), headers, "", "text/plain")
                                       : client.Get(path.c_str(), headers);
  if (!r) {
    const httplib::Error e = r.error();
    const std::string why = e == httplib::Error::Connection ? "could not connect"
                            : e == httplib::Error::Read
                                ? absl::StrCat("no answer within --timeout=",
                                               absl::FormatDuration(absl::GetFlag(FLAGS_timeout)))
                                : httplib::to_string(e);
    return absl::UnavailableError(absl::StrCat("cannot reach ", t.base, path, ": ", why,
                                               " (is the coordinator running with "
                                               "--http_listen?)"));
  }
  if (r->status / 100 != 2) {
    std::string why = r->body;
    rapidjson::Document d;
    if (!d.Parse(r->body.c_str()).HasParseError() && d.IsObject() && d.HasMember("error") &&
        d["error"].IsString()) {
      why = d["error"].GetString();
    }
    return absl::FailedPreconditionError(
        absl::StrCat(method, " ", path, ": HTTP ", r->status, ": ", why));
  }
  return r;
}

double Num(const rapidjson::Value& v, const char* name, double otherwise = 0) {
  return v.IsObject() && v.HasMember(name) && v[name].IsNumber() ? v[name].GetDouble() : otherwise;
}

std::string Str(const rapidjson::Value& v, const char* name) {
  return v.IsObject() && v.HasMember(name) && v[name].IsString() ? v[name].GetString() : "";
}

void PrintStatus(const rapidjson::Document& d) {
  std::printf("phase      %s%s%s\n", Str(d, "phase").c_str(),
              d["paused"].IsTrue() && Str(d, "phase") != "paused" ? " (pause requested)" : "",
              d["stop_requested"].IsTrue() ? " (stop requested)" : "");
  std::printf("round      %.0f of %.0f  (%.0f completed, %.0f failed; model version %.0f)\n",
              Num(d, "round"), Num(d, "rounds"), Num(d, "completed_rounds"),
              Num(d, "failed_rounds"), Num(d, "model_version"));
  if (d.HasMember("progress") && d["progress"].IsObject()) {
    const rapidjson::Value& p = d["progress"];
    std::printf("progress   %.0f/%.0f updates in, %.1f s elapsed, deadline in %.1f s\n",
                Num(p, "inputs"), Num(p, "expected"), Num(p, "elapsed_s"),
                Num(p, "deadline_in_s"));
  }
  if (d.HasMember("test") && d["test"].IsObject()) {
    std::printf("test       accuracy %.4f  loss %.4f\n", Num(d["test"], "accuracy", NAN),
                Num(d["test"], "loss", NAN));
  }
  const rapidjson::Value& c = d["clients"];
  std::printf("clients    %.0f connected, %.0f registrations, %.0f dropped, %.0f left", Num(c, "connected"),
              Num(c, "registrations"), Num(c, "dropped"), Num(c, "left"));
  if (c.HasMember("enrolled") && c["enrolled"].IsNumber()) {
    std::printf(", %.0f enrolled", Num(c, "enrolled"));
  }
  std::printf("\nrefused    %.0f", Num(c, "refused_total"));
  if (c.HasMember("refused") && c["refused"].IsObject()) {
    for (auto it = c["refused"].MemberBegin(); it != c["refused"].MemberEnd(); ++it) {
      std::printf("  %s %.0f", it->name.GetString(), it->value.GetDouble());
    }
  }
  std::printf("\ntraffic    %.2f MB in, %.2f MB out\n", Num(d["bytes"], "in") / 1e6,
              Num(d["bytes"], "out") / 1e6);
}

void PrintClients(const rapidjson::Document& d) {
  std::printf("%10s %10s %12s %10s %s\n", "client_id", "examples", "last_seen_s", "model", "key");
  for (const rapidjson::Value& c : d["clients"].GetArray()) {
    std::printf("%10.0f %10.0f %12.3f %10s %s%s\n", Num(c, "client_id"), Num(c, "examples"),
                Num(c, "last_seen_s"),
                c["model_version"].IsNumber()
                    ? absl::StrCat(c["model_version"].GetUint64()).c_str()
                    : "-",
                c["key"].IsString() ? c["key"].GetString() : "-",
                c["checks_in"].IsTrue() ? " (checks in)" : "");
  }
}

int Run(const std::string& command) {
  Target t{absl::GetFlag(FLAGS_server), ""};
  if (!absl::StartsWith(t.base, "http://")) {
    std::fprintf(stderr, "fedge-ctl: --server=%s: want http://HOST:PORT\n", t.base.c_str());
    return 2;
  }
  if (const std::string file = absl::GetFlag(FLAGS_token_file); !file.empty()) {
    absl::StatusOr<std::string> token = ops::ReadTokenFile(file);
    if (!token.ok()) return Fail(std::string(token.status().message()));
    t.token = *token;
  }
  const bool json = absl::GetFlag(FLAGS_json);
  if (command == "status" || command == "clients") {
    absl::StatusOr<httplib::Result> r =
        Request(t, "GET", command == "status" ? "/status" : "/clients");
    if (!r.ok()) return Fail(std::string(r.status().message()));
    if (json) {
      std::fputs((*r)->body.c_str(), stdout);
      return 0;
    }
    rapidjson::Document d;
    if (d.Parse((*r)->body.c_str()).HasParseError() || !d.IsObject()) {
      return Fail("the coordinator's answer is not the JSON object expected");
    }
    command == "status" ? PrintStatus(d) : PrintClients(d);
    return 0;
  }
  if (command == "pause" || command == "resume" || command == "stop") {
    absl::StatusOr<httplib::Result> r = Request(t, "POST", "/control/" + command);
    if (!r.ok()) return Fail(std::string(r.status().message()));
    rapidjson::Document d;
    d.Parse((*r)->body.c_str());
    std::printf("%s: phase %s, round %.0f (%.0f completed)%s\n", command.c_str(),
                Str(d, "phase").c_str(), Num(d, "round"), Num(d, "completed_rounds"),
                command == "pause" && Str(d, "phase") != "paused"
                    ? "; the open round runs to its end first"
                : command == "stop" && Str(d, "phase") != "finished"
                    ? "; the run ends when the open round does"
                    : "");
    return 0;
  }
  if (command == "metrics") {
    absl::StatusOr<httplib::Result> r = Request(t, "GET", "/metrics");
    if (!r.ok()) return Fail(std::string(r.status().message()));
    std::fputs((*r)->body.c_str(), stdout);
    return 0;
  }
  if (command == "export") {
    const std::string out = absl::GetFlag(FLAGS_out);
    if (out.empty()) {
      std::fprintf(stderr, "fedge-ctl: export needs --out=FILE\n");
      return 2;
    }
    absl::StatusOr<httplib::Result> r = Request(t, "GET", "/model");
    if (!r.ok()) return Fail(std::string(r.status().message()));
    // Crash-safe: a reader finds the old file or the whole new one.
    if (absl::Status s = WriteFileAtomically(out, (*r)->body); !s.ok()) {
      return Fail(absl::StrCat("--out=", out, ": ", s.ToString()));
    }
    std::printf("wrote model version %s to %s (%zu bytes)\n",
                (*r)->get_header_value("X-Fedge-Model-Version").c_str(), out.c_str(),
                (*r)->body.size());
    return 0;
  }
  std::fprintf(stderr, "fedge-ctl: unknown command '%s'\n%s\n", command.c_str(), kUsage);
  return 2;
}

}  // namespace
}  // namespace fedge

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(fedge::kUsage);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() != 2) {
    std::fprintf(stderr, "fedge-ctl: want exactly one command, got %zu\n%s\n", rest.size() - 1,
                 fedge::kUsage);
    return 2;
  }
  return fedge::Run(rest[1]);
}
