#include "simulations/mpi_run.h"

#include <signal.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/file_util.h"
#include "base/id_list.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "simulations/cluster.h"
#include "simulations/sim_flags.h"
#include "simulations/sim_keys.h"
#include "simulations/sim_setup.h"
#include "simulations/subprocess.h"
#include "simulations/supervisor.h"

namespace fedge::sim {
namespace {

// A list of strings as one MPI message: each as "<length>:<bytes>".
std::string Pack(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) absl::StrAppend(&out, p.size(), ":", p);
  return out;
}

absl::StatusOr<std::vector<std::string>> Unpack(absl::string_view in) {
  std::vector<std::string> parts;
  while (!in.empty()) {
    const size_t colon = in.find(':');
    size_t n = 0;
    if (colon == absl::string_view::npos || !absl::SimpleAtoi(in.substr(0, colon), &n) ||
        n > in.size() - colon - 1) {
      return absl::InternalError("a malformed message between ranks");
    }
    parts.emplace_back(in.substr(colon + 1, n));
    in.remove_prefix(colon + 1 + n);
  }
  return parts;
}

std::string RankDir(const std::string& out, int rank) {
  return absl::StrCat(out, "/rank-", rank);
}

// Flags whose meaning needs every process on one host.
absl::Status CheckMpiFlags(const Cluster& cluster) {
  if (cluster.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--launcher=mpi runs on ", cluster.size(),
        " rank; it needs at least 2 (mpirun -np N, N >= 2): rank 0 runs the coordinator, "
        "the others host the client processes"));
  }
  if (absl::GetFlag(FLAGS_transport) != "tcp") {
    return absl::InvalidArgumentError("--transport=ipc cannot cross hosts: not with --launcher=mpi");
  }
  if (absl::GetFlag(FLAGS_kill_clients) > 0 || absl::GetFlag(FLAGS_stragglers) > 0 ||
      absl::GetFlag(FLAGS_kill_coordinator_at_round) > 0) {
    return absl::InvalidArgumentError(
        "--kill_clients, --stragglers and --kill_coordinator_at_round are for local runs, "
        "not with --launcher=mpi");
  }
  if (!absl::GetFlag(FLAGS_device_profile).empty()) {
    // The profiles file lives in rank 0's --out; other hosts would not see it.
    return absl::InvalidArgumentError(
        "--device_profile is for local runs, not with --launcher=mpi");
  }
  if (absl::GetFlag(FLAGS_mpi_port) < 0 || absl::GetFlag(FLAGS_mpi_port) > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--mpi_port=", absl::GetFlag(FLAGS_mpi_port), ": want 0..65535"));
  }
  return absl::OkStatus();
}

// "tcp://0.0.0.0:PORT" as the coordinator bound it -> "tcp://HOST:PORT".
absl::StatusOr<std::string> Advertised(const std::string& bound, const std::string& host) {
  const size_t colon = bound.rfind(':');
  if (!absl::StartsWith(bound, "tcp://") || colon == std::string::npos) {
    return absl::InternalError(absl::StrCat("unexpected coordinator endpoint ", bound));
  }
  return absl::StrCat("tcp://", host, bound.substr(colon));
}

// Rank 0: the coordinator and the results.
absl::Status Coordinate(Cluster& cluster, absl::Time start) {
  FEDGE_ASSIGN_OR_RETURN(const SimSetup s, Prepare());
  const bool insecure = absl::GetFlag(FLAGS_insecure);
  const int hosts = cluster.size() - 1;
  std::vector<int> rank_of(s.devices.size());
  std::vector<std::string> assignment = {insecure ? "insecure" : "curve"};
  for (size_t d = 0; d < s.devices.size(); ++d) {
    rank_of[d] = 1 + static_cast<int>(d % static_cast<size_t>(hosts));
    assignment.push_back(absl::StrCat(rank_of[d]));
  }
  std::string message = Pack(assignment);
  FEDGE_RETURN_IF_ERROR(cluster.Broadcast(&message));

  // Every rank's devices' public keys, as (device, key file text) pairs.
  FEDGE_ASSIGN_OR_RETURN(std::vector<std::string> gathered, cluster.Gather(""));
  std::vector<std::string> device_public(s.devices.size());
  for (const std::string& from_rank : gathered) {
    FEDGE_ASSIGN_OR_RETURN(std::vector<std::string> pairs, Unpack(from_rank));
    for (size_t i = 0; i + 1 < pairs.size(); i += 2) {
      size_t d = 0;
      if (!absl::SimpleAtoi(pairs[i], &d) || d >= device_public.size()) {
        return absl::InternalError("a rank sent a key for no device");
      }
      device_public[d] = pairs[i + 1];
    }
  }
  std::vector<std::string> security = {"--insecure"};
  std::string coordinator_pub;
  if (!insecure) {
    FEDGE_ASSIGN_OR_RETURN(SimKeys keys,
                           MakeCoordinatorKeys(s.out + "/keys", s.devices, device_public));
    security = {"--key_file=" + keys.coordinator_key, "--allowlist=" + keys.allowlist};
    FEDGE_ASSIGN_OR_RETURN(coordinator_pub, ReadFile(keys.coordinator_pub));
  }

  const std::string listen = absl::StrCat("tcp://0.0.0.0:", absl::GetFlag(FLAGS_mpi_port) == 0
                                                               ? std::string("*")
                                                               : absl::StrCat(absl::GetFlag(FLAGS_mpi_port)));
  std::vector<std::string> argv = {ExecutableDir() + "/fedge-coordinator"};
  for (std::string& a : CoordinatorArgs(s, listen)) argv.push_back(std::move(a));
  argv.insert(argv.end(), security.begin(), security.end());
  std::string bound;
  std::unique_ptr<StderrTee> tee;
  FEDGE_ASSIGN_OR_RETURN(Subprocess coordinator, StartCoordinator(argv, &bound, &tee));
  const std::string host =
      absl::GetFlag(FLAGS_advertise_host).empty() ? cluster.host() : absl::GetFlag(FLAGS_advertise_host);
  FEDGE_ASSIGN_OR_RETURN(const std::string endpoint, Advertised(bound, host));
  FEDGE_LOG(kInfo, "coordinator listening on %s (reached as %s); %d clients in %d processes on %d ranks",
            bound, endpoint, s.clients, s.devices.size(), hosts);

  FEDGE_ASSIGN_OR_RETURN(std::string partition, ReadFile(s.partition_path));
  FEDGE_ASSIGN_OR_RETURN(std::string holdout, ReadFile(s.holdout_path));
  std::vector<std::string> launch = {coordinator_pub, partition, holdout};
  for (size_t d = 0; d < s.devices.size(); ++d) {
    const std::string dir = RankDir(s.out, rank_of[d]);
    launch.push_back(Pack(ClientArgs(s, d, endpoint, dir + "/partition.txt",
                                     dir + "/holdout.txt")));
  }
  message = Pack(launch);
  FEDGE_RETURN_IF_ERROR(cluster.Broadcast(&message));

  std::vector<ProcessRole> none;
  FEDGE_ASSIGN_OR_RETURN(std::optional<ExitInfo> exit,
                         Supervise(coordinator, none, start + absl::GetFlag(FLAGS_timeout)));
  if (!exit) {
    coordinator.Kill(SIGKILL);
    return absl::DeadlineExceededError("simulation exceeded --timeout");
  }
  if (!exit->ok()) {
    return absl::InternalError(absl::StrCat("the coordinator exited (", exit->ToString(),
                                            ") before the simulation ended; its last error: ",
                                            tee->last_error()));
  }
  FEDGE_ASSIGN_OR_RETURN(gathered, cluster.Gather(""));
  ClientTally total;
  for (const std::string& t : gathered) {
    if (t.empty()) continue;
    const std::vector<std::string> f = absl::StrSplit(t, ' ');
    ClientTally one;
    if (f.size() != 3 || !absl::SimpleAtoi(f[0], &one.peak_rss_kb) ||
        !absl::SimpleAtoi(f[1], &one.failures) || !absl::SimpleAtoi(f[2], &one.kills)) {
      return absl::InternalError(absl::StrCat("a malformed tally from a rank: ", t));
    }
    total.peak_rss_kb = std::max(total.peak_rss_kb, one.peak_rss_kb);
    total.failures += one.failures;
    total.kills += one.kills;
  }
  return Report(s, *exit, total, start);
}

// Rank k > 0: the client processes of the devices assigned to it.
absl::Status Host(Cluster& cluster, absl::Time start) {
  std::string message;
  FEDGE_RETURN_IF_ERROR(cluster.Broadcast(&message));
  FEDGE_ASSIGN_OR_RETURN(std::vector<std::string> assignment, Unpack(message));
  if (assignment.empty()) return absl::InternalError("an empty assignment from rank 0");
  const bool insecure = assignment[0] == "insecure";
  const std::string dir = RankDir(absl::GetFlag(FLAGS_out), cluster.rank());
  FEDGE_RETURN_IF_ERROR(MakeDirs(dir));
  std::vector<size_t> mine;
  std::vector<std::string> keys;  // key file per device of mine
  std::vector<std::string> public_parts;
  for (size_t d = 0; d + 1 < assignment.size(); ++d) {
    if (assignment[d + 1] != absl::StrCat(cluster.rank())) continue;
    mine.push_back(d);
    if (insecure) continue;
    FEDGE_ASSIGN_OR_RETURN(DeviceKeyFiles k, MakeDeviceKey(dir + "/keys", d));
    keys.push_back(k.key_path);
    public_parts.push_back(absl::StrCat(d));
    public_parts.push_back(k.public_text);
  }
  FEDGE_RETURN_IF_ERROR(cluster.Gather(Pack(public_parts)).status());

  FEDGE_RETURN_IF_ERROR(cluster.Broadcast(&message));
  FEDGE_ASSIGN_OR_RETURN(std::vector<std::string> launch, Unpack(message));
  if (launch.size() != 3 + assignment.size() - 1) {
    return absl::InternalError("a malformed launch message from rank 0");
  }
  FEDGE_RETURN_IF_ERROR(WriteFileAtomically(dir + "/partition.txt", launch[1]));
  FEDGE_RETURN_IF_ERROR(WriteFileAtomically(dir + "/holdout.txt", launch[2]));
  const std::string coordinator_pub = dir + "/coordinator.pub";
  if (!insecure) FEDGE_RETURN_IF_ERROR(WriteFileAtomically(coordinator_pub, launch[0]));

  std::vector<ProcessRole> procs;
  for (size_t i = 0; i < mine.size(); ++i) {
    FEDGE_ASSIGN_OR_RETURN(std::vector<std::string> args, Unpack(launch[3 + mine[i]]));
    std::vector<std::string> argv = {ExecutableDir() + "/fedge-client"};
    argv.insert(argv.end(), args.begin(), args.end());
    if (insecure) {
      argv.push_back("--insecure");
    } else {
      argv.push_back("--key_file=" + keys[i]);
      argv.push_back("--coordinator_pub=" + coordinator_pub);
    }
    auto tee = std::make_unique<StderrTee>();
    FEDGE_ASSIGN_OR_RETURN(Subprocess p, Subprocess::Start(argv, ChildEnv(), -1, -1,
                                                           tee->write_fd()));
    tee->CloseWriteEnd();
    procs.push_back({absl::StrCat("device ", mine[i], " on ", cluster.host()), std::move(p),
                     false, std::move(tee)});
  }
  FEDGE_LOG(kInfo, "%d client processes on %s", procs.size(), cluster.host());
  FEDGE_ASSIGN_OR_RETURN(ClientTally tally,
                         SuperviseClients(procs, start + absl::GetFlag(FLAGS_timeout)));
  return cluster
      .Gather(absl::StrCat(tally.peak_rss_kb, " ", tally.failures, " ", tally.kills))
      .status();
}

}  // namespace

absl::Status RunMpi() {
  const absl::Time start = absl::Now();
  FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<Cluster> cluster, Cluster::Init());
  SetLogTag(absl::StrCat("sim rank ", cluster->rank()));
  absl::Status s = CheckMpiFlags(*cluster);
  if (s.ok()) s = cluster->rank() == 0 ? Coordinate(*cluster, start) : Host(*cluster, start);
  if (!s.ok()) {
    // The other ranks may be waiting in a collective step: end them all.
    FEDGE_LOG(kError, "%s", s.ToString());
    cluster->Abort(absl::IsInvalidArgument(s) ? 2 : 1);
  }
  return s;
}

}  // namespace fedge::sim
