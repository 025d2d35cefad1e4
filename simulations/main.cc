// fedge-sim: a real multi-process federated simulation on (Fashion-)MNIST.
// Starts fedge-coordinator and fedge-client processes that talk over ZeroMQ
// (tcp loopback or ipc), then collects their results.

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/config_file.h"
#include "base/file_util.h"
#include "base/id_list.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "report/gnuplot.h"
#include "report/report.h"
#include "report/run_flags.h"
#include "simulations/mpi_run.h"
#include "simulations/sim_flags.h"
#include "simulations/gateways.h"
#include "simulations/sim_keys.h"
#include "simulations/sim_setup.h"
#include "simulations/subprocess.h"
#include "simulations/supervisor.h"

namespace fedge::sim {
namespace {

// The security flags of the run's processes: --insecure everywhere, the
// keys MakeSimKeys writes (CURVE and signed models), or the gateways' own.
struct LocalSecurity {
  std::vector<std::string> coordinator = {"--insecure"};
  std::vector<std::vector<std::string>> clients;  // per client process
  std::optional<GatewayPlan> gateways;
};

absl::StatusOr<LocalSecurity> PlanSecurity(const SimSetup& s) {
  LocalSecurity sec;
  sec.clients.assign(s.devices.size(), {"--insecure"});
  if (const int g = absl::GetFlag(FLAGS_gateways); g > 0) {
    FEDGE_ASSIGN_OR_RETURN(sec.gateways, PlanGateways(s, g, absl::GetFlag(FLAGS_insecure)));
    sec.coordinator = sec.gateways->root_security;
    sec.clients = sec.gateways->device_security;
  } else if (!absl::GetFlag(FLAGS_insecure)) {
    FEDGE_ASSIGN_OR_RETURN(SimKeys keys, MakeSimKeys(s.out + "/keys", s.devices));
    sec.coordinator = {"--key_file=" + keys.coordinator_key, "--allowlist=" + keys.allowlist};
    for (size_t i = 0; i < s.devices.size(); ++i) {
      sec.clients[i] = {"--key_file=" + keys.device_keys[i],
                        "--coordinator_pub=" + keys.coordinator_pub};
    }
  }
  return sec;
}

absl::StatusOr<std::string> ListenAddress(const SimSetup& s) {
  const std::string transport = absl::GetFlag(FLAGS_transport);
  if (transport == "ipc") return absl::StrCat("ipc://", s.out, "/coordinator.sock");
  if (transport != "tcp") return absl::InvalidArgumentError("--transport must be tcp or ipc");
  return std::string("tcp://127.0.0.1:*");
}

// The coordinator's command line (with --state_dir when it is to be killed
// and restarted), and the first start's, which adds the fault.
std::vector<std::string> CoordinatorArgv(const SimSetup& s, const std::string& listen,
                                         const LocalSecurity& sec) {
  std::vector<std::string> argv = {ExecutableDir() + "/fedge-coordinator"};
  for (std::string& a : CoordinatorArgs(s, listen)) argv.push_back(std::move(a));
  if (sec.gateways) UseGatewaysAsCohort(*sec.gateways, &argv);
  argv.insert(argv.end(), sec.coordinator.begin(), sec.coordinator.end());
  if (absl::GetFlag(FLAGS_kill_coordinator_at_round) > 0) {
    argv.push_back("--state_dir=" + s.out + "/state");
  }
  return argv;
}

std::vector<std::string> WithCoordinatorFault(std::vector<std::string> argv) {
  const int at = absl::GetFlag(FLAGS_kill_coordinator_at_round);
  const int after_updates = absl::GetFlag(FLAGS_kill_coordinator_after_updates);
  if (at <= 0) return argv;
  argv.push_back(after_updates > 0 ? absl::StrCat("--inject_fault=kill_after_updates:", at, ":",
                                                  after_updates)
                                   : absl::StrCat("--inject_fault=kill_after_checkpoint:", at));
  return argv;
}

// The gateways (if any), then one fedge-client per device, each with its
// stderr teed so the supervisor can quote its last error.
absl::StatusOr<std::vector<ProcessRole>> StartClientProcesses(const SimSetup& s,
                                                              const LocalSecurity& sec,
                                                              const std::string& endpoint) {
  std::vector<ProcessRole> procs;
  std::vector<std::string> gateway_endpoints;
  if (sec.gateways) {
    FEDGE_ASSIGN_OR_RETURN(procs, StartGateways(s, *sec.gateways, endpoint, &gateway_endpoints));
  }
  const std::vector<std::string> env = ChildEnv();
  for (size_t d = 0; d < s.devices.size(); ++d) {
    std::vector<std::string> argv = {ExecutableDir() + "/fedge-client"};
    const std::string& connect_to =
        sec.gateways ? gateway_endpoints[sec.gateways->gateway_of[d]] : endpoint;
    for (std::string& a : ClientArgs(s, d, connect_to, s.partition_path, s.holdout_path)) {
      argv.push_back(std::move(a));
    }
    argv.insert(argv.end(), sec.clients[d].begin(), sec.clients[d].end());
    if (!s.faults[d].inject_fault.empty()) {
      // The whole list: tests read which clients were faulted from this line.
      FEDGE_LOG(kInfo, "clients %s: --inject_fault=%s", FormatIdList(s.devices[d]),
                s.faults[d].inject_fault);
    }
    auto tee = std::make_unique<StderrTee>();
    FEDGE_ASSIGN_OR_RETURN(Subprocess p, Subprocess::Start(argv, env, -1, -1, tee->write_fd()));
    tee->CloseWriteEnd();
    procs.push_back({"clients " + ShortIdList(s.devices[d]), std::move(p), s.faults[d].killed,
                     std::move(tee)});
  }
  return procs;
}

// Every process on this machine: the coordinator, then one client process
// per device, supervised until the coordinator ends (restarted once when
// --kill_coordinator_at_round killed it).
absl::Status RunLocal() {
  const absl::Time start = absl::Now();
  FEDGE_ASSIGN_OR_RETURN(const SimSetup s, Prepare());
  FEDGE_ASSIGN_OR_RETURN(const std::string listen, ListenAddress(s));
  FEDGE_ASSIGN_OR_RETURN(const LocalSecurity sec, PlanSecurity(s));
  const std::vector<std::string> coordinator_argv = CoordinatorArgv(s, listen, sec);
  std::string endpoint;
  std::unique_ptr<StderrTee> coordinator_tee;
  FEDGE_ASSIGN_OR_RETURN(
      Subprocess coordinator,
      StartCoordinator(WithCoordinatorFault(coordinator_argv), &endpoint, &coordinator_tee));
  FEDGE_LOG(kInfo, "coordinator listening on %s", endpoint);
  // Supervised with the coordinator: one that dies stops the run.
  FEDGE_ASSIGN_OR_RETURN(std::vector<ProcessRole> client_procs,
                         StartClientProcesses(s, sec, endpoint));
  FEDGE_LOG(kInfo, "%d clients in %d processes; %d rounds of %s; %s", s.clients,
            client_procs.size(), s.rounds, absl::GetFlag(FLAGS_model),
            absl::GetFlag(FLAGS_insecure)
                ? "plain TCP, unsigned models (--insecure)"
                : absl::StrCat("CURVE + signed models, keys in ", s.out, "/keys"));

  const absl::Time deadline = start + absl::GetFlag(FLAGS_timeout);
  FEDGE_ASSIGN_OR_RETURN(std::optional<ExitInfo> coord_exit,
                         Supervise(coordinator, client_procs, deadline));
  const int kill_at = absl::GetFlag(FLAGS_kill_coordinator_at_round);
  if (coord_exit && kill_at > 0 && coord_exit->signal == SIGKILL) {
    // Same state directory, same endpoint: the clients find it by themselves.
    const absl::Time killed = absl::Now();
    std::vector<std::string> argv = coordinator_argv;
    for (std::string& a : argv) {
      if (absl::StartsWith(a, "--listen=")) a = "--listen=" + endpoint;
    }
    std::string again;
    FEDGE_ASSIGN_OR_RETURN(coordinator, StartCoordinator(argv, &again, &coordinator_tee));
    const int after_updates = absl::GetFlag(FLAGS_kill_coordinator_after_updates);
    FEDGE_LOG(kInfo, "coordinator killed %s; restarted on %s in %.2f s",
              after_updates > 0
                  ? absl::StrCat("in round ", kill_at, " after ", after_updates, " updates")
                  : absl::StrCat("after round ", kill_at, "'s checkpoint"),
              again, absl::ToDoubleSeconds(absl::Now() - killed));
    FEDGE_ASSIGN_OR_RETURN(coord_exit, Supervise(coordinator, client_procs, deadline));
  }
  if (!coord_exit) {
    coordinator.Kill(SIGKILL);
    for (auto& c : client_procs) c.process.Kill(SIGKILL);
    return absl::DeadlineExceededError("simulation exceeded --timeout");
  }
  if (!coord_exit->ok()) {
    // Its clients would retry until --give_up_after: stop them now.
    for (auto& c : client_procs) c.process.Kill(SIGKILL);
    for (auto& c : client_procs) c.process.Wait();
    return absl::InternalError(absl::StrCat("the coordinator exited (", coord_exit->ToString(),
                                            ") before the simulation ended; its last error: ",
                                            coordinator_tee->last_error()));
  }
  return Report(s, *coord_exit, WaitForClients(client_procs), start);
}

// Records the run's flags in OUT/flags.txt (fedge-report labels runs by the
// ones that differ) and, with --report, checks that the report can be drawn
// before the run rather than after hours of it.
absl::Status RecordRun(const std::string& launcher, int argc, char** argv,
                       const std::function<bool(absl::string_view)>& is_sim_flag) {
  if (launcher != "local") {
    if (!absl::GetFlag(FLAGS_report)) return absl::OkStatus();
    return absl::InvalidArgumentError(
        "--report works with --launcher=local; run fedge-report OUT on rank 0's host instead");
  }
  if (absl::GetFlag(FLAGS_report)) {
    const char* path = std::getenv("PATH");
    absl::StatusOr<std::string> gnuplot = report::FindGnuplot(path ? path : "");
    if (!gnuplot.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--report: ", gnuplot.status().message()));
    }
  }
  const std::string out = absl::GetFlag(FLAGS_out);
  FEDGE_RETURN_IF_ERROR(MakeDirs(out));
  const report::RunFlags flags{report::CommandLine(argc, argv),
                               report::CurrentFlagValues(is_sim_flag)};
  return WriteFileAtomically(out + "/flags.txt", report::FormatRunFlags(flags));
}

// fedge-sim --report, after the run whatever its outcome. The run's exit code
// stands whatever the report does: its data is complete in OUT, and
// `fedge-report OUT` draws it again.
void ReportRun(const absl::Status& run, absl::Time started) {
  if (!absl::GetFlag(FLAGS_report) || absl::IsInvalidArgument(run)) return;
  const std::string out = absl::GetFlag(FLAGS_out);
  // Not a metrics.jsonl an earlier run left when this one ended before its own.
  absl::StatusOr<FileStamp> metrics = StatFile(out + "/metrics.jsonl");
  if (!metrics.ok() || metrics->mtime_ns < absl::ToUnixNanos(started)) {
    FEDGE_LOG(kWarning, "--report: no report, this run wrote no %s/metrics.jsonl", out);
    return;
  }
  report::ReportOptions options;
  options.out = out + "/report";
  absl::StatusOr<report::ReportResult> r = report::WriteReport({out}, options);
  if (!r.ok()) {
    FEDGE_LOG(kError, "--report failed: %s (the run's results are in %s; `fedge-report %s` "
              "retries)", r.status().ToString(), out, out);
    return;
  }
  if (!r->gnuplot_warnings.empty()) {
    FEDGE_LOG(kWarning, "--report: gnuplot warned: %s", r->gnuplot_warnings);
  }
  std::printf("  report: %s (%zu plots)\n", r->markdown.c_str(), r->images.size());
  std::fflush(stdout);
}

}  // namespace
}  // namespace fedge::sim

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs a federated simulation with real processes: one fedge-coordinator and client "
      "processes hosting --clients logical clients over ZeroMQ, on Fashion-MNIST (the "
      "default) or any data (--train_data, --task; docs/data.md) split by --partition. Prints "
      "a line per round and a summary; writes metrics.jsonl and results.csv to --out. Exit "
      "code 2 for flags that cannot work together, 1 when the run fails (a child process "
      "that dies stops it at once, naming the child and its last error).\n"
      "Example: fedge-sim --model=cnn --clients=10 --rounds=10 --partition=dirichlet:0.5\n"
      "Attacks: --attackers=0.2 --attack=signflip makes a --seed-chosen fifth of the clients "
      "malicious (listed in --out/attackers.txt); see --attack.");
  // `--secure` alone means SecAgg; absl wants a value for a string flag.
  std::vector<char*> args(argv, argv + argc);
  char secure_default[] = "--secure=secagg";
  for (char*& a : args) {
    if (std::string(a) == "--secure") a = secure_default;
  }
  // --help lists this binary's own flags (those defined in its main.cc).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "/sim_flags.cc") || absl::EndsWith(file, "/strategy_flags.cc") ||
           absl::EndsWith(file, "/async_flags.cc") ||
           absl::EndsWith(file, "/attack_flags.cc") || absl::EndsWith(file, "/task_flags.cc") ||
           absl::EndsWith(file, "/evaluation_flags.cc") ||
           absl::EndsWith(file, "/privacy_flags.cc") ||
           absl::EndsWith(file, "/compression_flags.cc") ||
           absl::EndsWith(file, "/config_file.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  // --config=FILE sets fedge-sim's own flags (which it passes on to its
  // children as usual); then the command line overrides the file.
  if (absl::Status c = fedge::LoadConfigFromArgs(static_cast<int>(args.size()), args.data(),
                                                 usage.contains_help_flags);
      !c.ok()) {
    std::fprintf(stderr, "fedge-sim: --config: %s\n", std::string(c.message()).c_str());
    return 2;
  }
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  fedge::SetLogTag("sim");
  const std::string launcher = absl::GetFlag(FLAGS_launcher);
  const absl::Time started = absl::Now();
  // flags.txt holds every effective value, those from --config included, so
  // it names no config file: `--flagfile=flags.txt` repeats the run alone.
  const auto is_run_flag = [&usage](absl::string_view file) {
    return !absl::EndsWith(file, "/config_file.cc") && usage.contains_help_flags(file);
  };
  if (absl::Status r = fedge::sim::RecordRun(launcher, argc, argv, is_run_flag); !r.ok()) {
    FEDGE_LOG(kError, "%s", r.ToString());
    return absl::IsInvalidArgument(r) ? 2 : 1;
  }
  absl::Status s = launcher == "local" ? fedge::sim::RunLocal()
                   : launcher == "mpi"
                       ? fedge::sim::RunMpi()
                       : absl::InvalidArgumentError(
                             absl::StrCat("--launcher=", launcher, ": want local or mpi"));
  fedge::sim::ReportRun(s, started);
  if (!s.ok()) {
    FEDGE_LOG(kError, "%s", s.ToString());
    return absl::IsInvalidArgument(s) ? 2 : 1;
  }
  return 0;
}
