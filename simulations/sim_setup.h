#ifndef FEDGE_SIMULATIONS_SIM_SETUP_H_
#define FEDGE_SIMULATIONS_SIM_SETUP_H_

// What fedge-sim decides before any process starts, and the command lines
// and summary built from it; shared by the local launcher (main.cc) and
// --launcher=mpi (mpi_run.h). Reads fedge-sim's flags.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/device_profile.h"
#include "data/dataset.h"
#include "protocol/task_spec.h"
#include "simulations/attack_plan.h"
#include "simulations/fault_plan.h"
#include "simulations/partition.h"
#include "simulations/subprocess.h"
#include "simulations/supervisor.h"

namespace fedge::sim {

// The simulation's data and task, loaded and checked against each other
// before any process starts, so bad data is a clear error naming the flag.
struct SimData {
  std::string train_source, test_source;  // as passed on ("" test: none; "holdout")
  data::Dataset train;
  protocol::TaskSpec task;
};

struct SimSetup {
  std::string out;
  std::string metrics_path;    // OUT/metrics.jsonl (removed)
  std::string partition_path;  // OUT/partition.txt
  std::string holdout_path;    // OUT/holdout.txt
  // --device_profile: OUT/devices.txt and what it holds ("" / empty: none).
  std::string devices_path;
  std::map<uint64_t, client::DeviceProfile> profiles;
  SimData data;                // training examples dropped: the clients load their own
  std::optional<AttackPlan> attack;
  int clients = 0;
  int rounds = 0;
  int per_process = 0;
  // devices[d]: the client ids client process d hosts, balanced by examples.
  std::vector<std::vector<uint64_t>> devices;
  std::vector<ProcessFaults> faults;  // per device
  int min_clients = 0;  // the clients that survive injected faults
  int quorum = 0;
};

// Checks the flags and data and writes partition.txt, holdout.txt and
// attackers.txt into --out. InvalidArgument for flags that cannot work.
absl::StatusOr<SimSetup> Prepare();

// fedge-coordinator's command line (after the binary path) for `listen`;
// without transport security and fault injection, which the launcher adds.
std::vector<std::string> CoordinatorArgs(const SimSetup& s, const std::string& listen);

// Device d's fedge-client command line (after the binary path), reading the
// partition and held-out files at the given paths; without transport
// security.
std::vector<std::string> ClientArgs(const SimSetup& s, size_t d, const std::string& endpoint,
                                    const std::string& partition_path,
                                    const std::string& holdout_path);

// Logical clients per client process: --clients_per_process, or (0) the
// clients spread over the cores, in both cases within what the process's
// open-descriptor limit can host. InvalidArgument naming the flag when an
// explicit value cannot fit.
absl::StatusOr<int> ClientsPerProcess(int clients);
// --connections=shared: a client process's logical clients share one
// connection (fedge-client --multiplex).
bool SharedConnections();

// Reads metrics.jsonl, writes results.csv and prints the summary. Internal
// when a client process failed or not every round completed.
// --gateways: the pairings that cannot work, as usage errors naming the flags.
absl::Status CheckGatewayFlags(int gateways, int client_processes);

absl::Status Report(const SimSetup& s, const ExitInfo& coordinator, const ClientTally& clients,
                    absl::Time start);

// fedge-coordinator (`argv`, ChildEnv()) started with its stderr copied to
// ours through a fresh `*tee`; `*endpoint` gets the endpoint it bound. A
// start failure carries the child's last error line.
absl::StatusOr<Subprocess> StartCoordinator(const std::vector<std::string>& argv,
                                            std::string* endpoint,
                                            std::unique_ptr<StderrTee>* tee);

// The environment every child gets: one intra-op thread per process (more
// fight over 2 cores).
std::vector<std::string> ChildEnv();

}  // namespace fedge::sim

#endif  // FEDGE_SIMULATIONS_SIM_SETUP_H_
