#include "client/architecture.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/sha256.h"
#include "base/status_macros.h"

namespace fedge::client {
namespace {
constexpr char kBuiltinPrefix[] = "builtin:";
constexpr char kTorchScriptPrefix[] = "torchscript:";
constexpr size_t kMaxTorchScriptBytes = size_t{200} << 20;
}  // namespace

absl::StatusOr<Architecture> ResolveArchitecture(const std::string& model_flag,
                                                 const std::string& flag_name) {
  if (model_flag == "mlp" || model_flag == "cnn") {
    return Architecture{absl::StrCat(kBuiltinPrefix, model_flag), model_flag};
  }
  absl::StatusOr<std::string> bytes = ReadFile(model_flag, kMaxTorchScriptBytes);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag_name, " '", model_flag, "' is neither mlp, cnn nor a readable TorchScript file: ",
        bytes.status().message()));
  }
  return Architecture{absl::StrCat(kTorchScriptPrefix, Sha256Hex(*bytes)), *std::move(bytes)};
}

absl::Status VerifyArchitecture(const std::string& id, const std::string& bytes) {
  if (absl::StartsWith(id, kBuiltinPrefix)) {
    std::string name = id.substr(sizeof(kBuiltinPrefix) - 1);
    if (name != "mlp" && name != "cnn") {
      return absl::InvalidArgumentError(absl::StrCat("unknown built-in architecture '", id, "'"));
    }
    if (bytes != name) {
      return absl::InvalidArgumentError(absl::StrCat("architecture bytes do not name ", id));
    }
    return absl::OkStatus();
  }
  if (absl::StartsWith(id, kTorchScriptPrefix)) {
    std::string want = id.substr(sizeof(kTorchScriptPrefix) - 1);
    std::string got = Sha256Hex(bytes);
    if (got != want) {
      return absl::InvalidArgumentError(absl::StrCat(
          "TorchScript architecture is corrupt: its SHA-256 is ", got, ", expected ", want));
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown architecture id '", id, "'"));
}

}  // namespace fedge::client
