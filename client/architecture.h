#ifndef FEDGE_CLIENT_ARCHITECTURE_H_
#define FEDGE_CLIENT_ARCHITECTURE_H_

// Naming of model architectures (no torch). An architecture is either a
// built-in ("builtin:mlp", "builtin:cnn") or a TorchScript archive identified
// by the SHA-256 of its bytes ("torchscript:<hex>"), so a client can cache it
// and check that what it received is what was meant.

#include <string>

#include "absl/status/statusor.h"

namespace fedge::client {

struct Architecture {
  std::string id;     // as above
  std::string bytes;  // the built-in name, or the TorchScript archive
};

// From a --model value: "mlp", "cnn", or a path to a TorchScript file.
// InvalidArgument, naming `flag_name`, for anything else.
absl::StatusOr<Architecture> ResolveArchitecture(const std::string& model_flag,
                                                 const std::string& flag_name = "--model");

// Checks that `bytes` is what `id` names. InvalidArgument otherwise.
absl::Status VerifyArchitecture(const std::string& id, const std::string& bytes);

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_ARCHITECTURE_H_
