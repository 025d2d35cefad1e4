#ifndef FEDGE_SIMULATIONS_DEVICE_PROFILES_H_
#define FEDGE_SIMULATIONS_DEVICE_PROFILES_H_

// fedge-sim --device_profile: heterogeneous devices. Each logical client gets
// a DeviceProfile (client/device_profile.h: how much slower than this machine
// it is, and the probability it takes a task), which its fedge-client process
// applies by really holding updates back and leaving tasks unanswered, so
// round times and stragglers are real.
//
// SPEC: comma-separated terms
//   slow=FRACTION:FACTOR  a --seed-chosen FRACTION of the clients (rounded)
//                         are FACTOR times slower; the rest run at full speed
//   lognormal=SIGMA       speeds spread log-normally: slowdown_i =
//                         exp(SIGMA * (z_max - z_i)), z_i ~ N(0, 1), so the
//                         fastest client runs at this machine's speed
//   base=FACTOR           every client FACTOR times slower than this machine
//                         (slow and lognormal multiply it): devices slower
//                         than a server core, as phones are, so that their
//                         waiting, not this machine's cores, bounds a round
//   online=P              every client takes each task with probability P
//   file=PATH             per-client lines 'CLIENT_ID SLOWDOWN ONLINE'
//                         (unlisted clients: 1 1); alone
// slow and lognormal exclude each other. E.g. slow=0.3:5 (FedBuff's
// setting: 30 % of the devices 5x slower), lognormal=0.5,online=0.9.

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "client/device_profile.h"

namespace fedge::sim {

// Every client's profile (ids 0..clients-1), the same for the same seed.
// InvalidArgument naming --device_profile and the bad term.
absl::StatusOr<std::map<uint64_t, client::DeviceProfile>> DeviceProfilesFromSpec(
    const std::string& spec, int clients, uint64_t seed);

// "30 of 100 clients slower (1x-5x, mean 2.2x); online 0.9": for the summary.
std::string DescribeDeviceProfiles(const std::map<uint64_t, client::DeviceProfile>& profiles);

}  // namespace fedge::sim

#endif  // FEDGE_SIMULATIONS_DEVICE_PROFILES_H_
