#include "simulations/sim_keys.h"

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "secure/allow_list.h"
#include "secure/key_files.h"
#include "secure/random.h"

namespace fedge::sim {

absl::StatusOr<SimKeys> MakeSimKeys(const std::string& dir,
                                    const std::vector<std::vector<uint64_t>>& devices) {
  FEDGE_RETURN_IF_ERROR(MakeDirs(dir));
  secure::SecureRandom& random = secure::SecureRandom::Default();
  SimKeys keys;
  keys.coordinator_key = dir + "/coordinator.key";
  keys.coordinator_pub = dir + "/coordinator.pub";
  keys.allowlist = dir + "/allowlist.txt";
  FEDGE_ASSIGN_OR_RETURN(secure::CoordinatorKey coordinator,
                         secure::GenerateCoordinatorKey(random));
  FEDGE_RETURN_IF_ERROR(secure::WriteCoordinatorKeyFile(keys.coordinator_key, coordinator));
  FEDGE_RETURN_IF_ERROR(
      secure::WriteCoordinatorIdentityFile(keys.coordinator_pub, secure::PublicPart(coordinator)));
  std::string allowlist = "# Written by fedge-sim: one device per client process.\n";
  for (size_t i = 0; i < devices.size(); ++i) {
    const std::string stem = absl::StrCat(dir, "/device-", i);
    FEDGE_ASSIGN_OR_RETURN(secure::DeviceKey device, secure::GenerateDeviceKey(random));
    FEDGE_RETURN_IF_ERROR(secure::WriteDeviceKeyFile(stem + ".key", device));
    FEDGE_RETURN_IF_ERROR(
        secure::WriteDevicePublicKeyFile(stem + ".pub", secure::PublicPart(device)));
    absl::StrAppend(&allowlist, secure::AllowList::FormatLine(device.curve_public, devices[i]),
                    "\n");
    keys.device_keys.push_back(stem + ".key");
  }
  // Checked as the coordinator will read it.
  FEDGE_RETURN_IF_ERROR(secure::AllowList::Parse(allowlist, keys.allowlist).status());
  FEDGE_RETURN_IF_ERROR(WriteFileAtomically(keys.allowlist, allowlist));
  return keys;
}

}  // namespace fedge::sim
