#include "simulations/sim_keys.h"

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "secure/allow_list.h"
#include "secure/key_files.h"
#include "secure/random.h"

namespace fedge::sim {

absl::StatusOr<DeviceKeyFiles> MakeDeviceKey(const std::string& dir, size_t index) {
  FEDGE_RETURN_IF_ERROR(MakeDirs(dir));
  const std::string stem = absl::StrCat(dir, "/device-", index);
  FEDGE_ASSIGN_OR_RETURN(secure::DeviceKey device,
                         secure::GenerateDeviceKey(secure::SecureRandom::Default()));
  FEDGE_RETURN_IF_ERROR(secure::WriteDeviceKeyFile(stem + ".key", device));
  const secure::DevicePublicKey pub = secure::PublicPart(device);
  FEDGE_RETURN_IF_ERROR(secure::WriteDevicePublicKeyFile(stem + ".pub", pub));
  return DeviceKeyFiles{stem + ".key", secure::FormatDevicePublicKey(pub)};
}

absl::StatusOr<SimKeys> MakeCoordinatorKeys(const std::string& dir,
                                            const std::vector<std::vector<uint64_t>>& devices,
                                            const std::vector<std::string>& device_public) {
  if (device_public.size() != devices.size()) {
    return absl::InvalidArgumentError(absl::StrCat(devices.size(), " devices but ",
                                                   device_public.size(), " public keys"));
  }
  FEDGE_RETURN_IF_ERROR(MakeDirs(dir));
  SimKeys keys;
  keys.coordinator_key = dir + "/coordinator.key";
  keys.coordinator_pub = dir + "/coordinator.pub";
  keys.allowlist = dir + "/allowlist.txt";
  FEDGE_ASSIGN_OR_RETURN(secure::CoordinatorKey coordinator,
                         secure::GenerateCoordinatorKey(secure::SecureRandom::Default()));
  FEDGE_RETURN_IF_ERROR(secure::WriteCoordinatorKeyFile(keys.coordinator_key, coordinator));
  FEDGE_RETURN_IF_ERROR(
      secure::WriteCoordinatorIdentityFile(keys.coordinator_pub, secure::PublicPart(coordinator)));
  std::string allowlist = "# Written by fedge-sim: one device per client process.\n";
  for (size_t i = 0; i < devices.size(); ++i) {
    FEDGE_ASSIGN_OR_RETURN(
        secure::DevicePublicKey pub,
        secure::ParseDevicePublicKey(device_public[i], absl::StrCat("device ", i, "'s key")));
    absl::StrAppend(&allowlist, secure::AllowList::FormatLine(pub.curve_public, devices[i]), "\n");
  }
  // Checked as the coordinator will read it.
  FEDGE_RETURN_IF_ERROR(secure::AllowList::Parse(allowlist, keys.allowlist).status());
  FEDGE_RETURN_IF_ERROR(WriteFileAtomically(keys.allowlist, allowlist));
  return keys;
}

absl::StatusOr<SimKeys> MakeSimKeys(const std::string& dir,
                                    const std::vector<std::vector<uint64_t>>& devices) {
  std::vector<std::string> device_keys, device_public;
  for (size_t i = 0; i < devices.size(); ++i) {
    FEDGE_ASSIGN_OR_RETURN(DeviceKeyFiles d, MakeDeviceKey(dir, i));
    device_keys.push_back(d.key_path);
    device_public.push_back(d.public_text);
  }
  FEDGE_ASSIGN_OR_RETURN(SimKeys keys, MakeCoordinatorKeys(dir, devices, device_public));
  keys.device_keys = std::move(device_keys);
  return keys;
}

}  // namespace fedge::sim
