#ifndef FEDGE_SIMULATIONS_GATEWAYS_H_
#define FEDGE_SIMULATIONS_GATEWAYS_H_

// fedge-sim --gateways=G: the client processes (devices) are spread over G
// fedge-gateway processes, round-robin, and the root coordinator sees the G
// gateways as its clients (ids clients..clients+G-1). Every root round runs
// over every gateway and, through them, every device, so a run equals the
// flat run on the same seed (docs/topologies.md).
//
// Keys, as an operator would make them: the root enrols each gateway's
// device key for its id; each gateway has its own coordinator key and an
// allow-list of its devices; devices pin the identity their gateway writes
// (its CURVE key, the root's signing key), so they verify the root's
// signature through the gateway.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "simulations/sim_setup.h"
#include "simulations/supervisor.h"

namespace fedge::sim {

struct GatewayPlan {
  int gateways = 0;
  // Each gateway's security flags (--key_file, --allowlist, --root_key_file,
  // --root_pub, --device_pub_out; or --insecure).
  std::vector<std::vector<std::string>> gateway_security;
  // The root's --key_file and --allowlist (enrolling the gateways).
  std::vector<std::string> root_security;
  // Per client process: its gateway, and its --key_file/--coordinator_pub.
  std::vector<int> gateway_of;
  std::vector<std::vector<std::string>> device_security;
};

// The keys and assignment for `gateways` gateways (writes OUT/keys/...).
absl::StatusOr<GatewayPlan> PlanGateways(const SimSetup& s, int gateways, bool insecure);

// Starts the gateways against the root at `root_endpoint`; their device
// endpoints into `endpoints` (one per gateway).
absl::StatusOr<std::vector<ProcessRole>> StartGateways(const SimSetup& s, const GatewayPlan& plan,
                                                       const std::string& root_endpoint,
                                                       std::vector<std::string>* endpoints);

// The coordinator's arguments for a root of gateways: --min_clients and
// --quorum are the gateways, not the devices; --secure runs among each
// gateway's devices, not at the root.
void UseGatewaysAsCohort(const GatewayPlan& plan, std::vector<std::string>* coordinator_argv);

}  // namespace fedge::sim

#endif  // FEDGE_SIMULATIONS_GATEWAYS_H_
