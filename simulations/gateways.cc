#include "simulations/gateways.h"

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/id_list.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "simulations/sim_flags.h"
#include "simulations/sim_keys.h"

namespace fedge::sim {

absl::StatusOr<GatewayPlan> PlanGateways(const SimSetup& s, int gateways, bool insecure) {
  GatewayPlan plan;
  plan.gateways = gateways;
  const size_t devices = s.devices.size();
  plan.gateway_of.resize(devices);
  std::vector<std::vector<size_t>> members(gateways);
  for (size_t d = 0; d < devices; ++d) {
    plan.gateway_of[d] = static_cast<int>(d % gateways);
    members[d % gateways].push_back(d);
  }
  plan.device_security.assign(devices, {"--insecure"});
  plan.gateway_security.assign(gateways, {"--insecure"});
  plan.root_security = {"--insecure"};
  if (insecure) return plan;
  // The root's devices are the gateways.
  std::vector<std::vector<uint64_t>> gateway_ids;
  for (int g = 0; g < gateways; ++g) {
    gateway_ids.push_back({static_cast<uint64_t>(s.clients + g)});
  }
  const std::string dir = s.out + "/keys";
  FEDGE_ASSIGN_OR_RETURN(SimKeys root, MakeSimKeys(dir + "/root", gateway_ids));
  plan.root_security = {"--key_file=" + root.coordinator_key, "--allowlist=" + root.allowlist};
  for (int g = 0; g < gateways; ++g) {
    std::vector<std::vector<uint64_t>> ids;
    for (size_t d : members[g]) ids.push_back(s.devices[d]);
    const std::string gdir = absl::StrCat(dir, "/gateway-", g);
    FEDGE_ASSIGN_OR_RETURN(SimKeys keys, MakeSimKeys(gdir, ids));
    const std::string pin = gdir + "/devices-pin.pub";
    plan.gateway_security[g] = {"--key_file=" + keys.coordinator_key,
                                "--allowlist=" + keys.allowlist,
                                "--root_key_file=" + root.device_keys[g],
                                "--root_pub=" + root.coordinator_pub,
                                "--device_pub_out=" + pin};
    for (size_t k = 0; k < members[g].size(); ++k) {
      plan.device_security[members[g][k]] = {"--key_file=" + keys.device_keys[k],
                                             "--coordinator_pub=" + pin};
    }
  }
  return plan;
}

absl::StatusOr<std::vector<ProcessRole>> StartGateways(const SimSetup& s, const GatewayPlan& plan,
                                                       const std::string& root_endpoint,
                                                       std::vector<std::string>* endpoints) {
  std::vector<ProcessRole> roles;
  endpoints->clear();
  for (int g = 0; g < plan.gateways; ++g) {
    size_t logical = 0;
    for (size_t d = 0; d < s.devices.size(); ++d) {
      if (plan.gateway_of[d] == g) logical += s.devices[d].size();
    }
    std::vector<std::string> argv = {
        ExecutableDir() + "/fedge-gateway", "--listen=tcp://127.0.0.1:*",
        "--root=" + root_endpoint,
        absl::StrCat("--gateway_id=", s.clients + g),
        absl::StrCat("--min_devices=", logical),
        absl::StrCat("--round_timeout=", absl::FormatDuration(absl::GetFlag(FLAGS_round_timeout))),
        absl::StrCat("--heartbeat_interval=",
                     absl::FormatDuration(absl::GetFlag(FLAGS_heartbeat_interval))),
        "--secure=" + absl::GetFlag(FLAGS_secure),
        absl::StrCat("--secagg_dropout=", absl::GetFlag(FLAGS_secagg_dropout)),
        absl::StrCat("--secagg_clip=", absl::GetFlag(FLAGS_secagg_clip))};
    argv.insert(argv.end(), plan.gateway_security[g].begin(), plan.gateway_security[g].end());
    auto tee = std::make_unique<StderrTee>();
    std::string endpoint;
    absl::StatusOr<Subprocess> p =
        StartWithReadyFd(argv, ChildEnv(), &endpoint, absl::Seconds(60), tee->write_fd());
    tee->CloseWriteEnd();
    if (!p.ok()) {
      return absl::Status(p.status().code(),
                          absl::StrCat("gateway ", g, ": ", p.status().message(),
                                       "; its last error: ", tee->last_error()));
    }
    FEDGE_LOG(kInfo, "gateway %d (client %d of the root, %d devices) listening on %s", g,
              s.clients + g, logical, endpoint);
    endpoints->push_back(endpoint);
    roles.push_back({absl::StrCat("gateway ", g), *std::move(p), false, std::move(tee)});
  }
  return roles;
}

void UseGatewaysAsCohort(const GatewayPlan& plan, std::vector<std::string>* argv) {
  for (std::string& a : *argv) {
    // --secure runs among each gateway's devices; the root sees means.
    if (absl::StartsWith(a, "--secure=")) a = "--secure=none";
    if (absl::StartsWith(a, "--min_clients=")) a = absl::StrCat("--min_clients=", plan.gateways);
    if (absl::StartsWith(a, "--quorum=")) a = absl::StrCat("--quorum=", plan.gateways);
  }
}

}  // namespace fedge::sim
