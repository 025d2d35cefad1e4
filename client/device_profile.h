#ifndef FEDGE_CLIENT_DEVICE_PROFILE_H_
#define FEDGE_CLIENT_DEVICE_PROFILE_H_

// A simulated device's speed and availability (fedge-sim --device_profile),
// applied by ClientHost to a logical client so round times are real:
//   - a device `slowdown` times slower than this machine holds each update
//     back for (slowdown - 1) x the time its training took, without holding
//     up the other logical clients of its process (ClientHost keeps the
//     result and sends it when due);
//   - a device `online` with probability p takes a given task with
//     probability p; otherwise it stays silent for that task (it keeps its
//     connection and heartbeats, as a phone that is busy or on a metered
//     link would), and the coordinator's deadline or quorum deals with it.
// The coin is a function of (seed, client id, round), so a simulation with
// the same seed skips the same tasks.
//
// The file fedge-sim writes and fedge-client --device_profile_file reads:
//   # comment
//   CLIENT_ID SLOWDOWN ONLINE
// one line per client, e.g. "7 5 0.9": client 7, 5x slower, online 90 %.

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace fedge::client {

struct DeviceProfile {
  double slowdown = 1;  // >= 1
  double online = 1;    // in (0, 1]
  bool operator==(const DeviceProfile& o) const {
    return slowdown == o.slowdown && online == o.online;
  }
};

// InvalidArgument unless slowdown is finite and >= 1 and online in (0, 1].
absl::Status ValidateDeviceProfile(const DeviceProfile& p);

// The file's text, clients in id order, numbers exact to the digit.
std::string FormatDeviceProfiles(const std::map<uint64_t, DeviceProfile>& profiles);

// Parses that text; InvalidArgument naming `file_name` and the line for a
// malformed line, an invalid profile or a client listed twice.
absl::StatusOr<std::map<uint64_t, DeviceProfile>> ParseDeviceProfiles(absl::string_view text,
                                                                      absl::string_view file_name);

// Whether client `client_id` takes the task of `round`: true with
// probability p.online, the same answer for the same arguments.
bool TakesTask(const DeviceProfile& p, uint64_t seed, uint64_t client_id, uint64_t round);

// How long an update whose training took `trained` is held back.
absl::Duration HoldFor(const DeviceProfile& p, absl::Duration trained);

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_DEVICE_PROFILE_H_
