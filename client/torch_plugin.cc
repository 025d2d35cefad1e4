#include "client/torch_plugin.h"

#include <dlfcn.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"

namespace fedge::client {

constexpr char kPluginName[] = "libfedge_torch_plugin.so";
constexpr char kFactorySymbol[] = "fedge_torch_plugin_make_trainer";

absl::StatusOr<std::unique_ptr<Trainer>> LoadTorchTrainer(const TorchTrainerOptions& options) {
  const std::string dir = ExecutableDir();
  const std::vector<std::string> candidates = {
      absl::StrCat(dir, "/", kPluginName), absl::StrCat(dir, "/../lib/fedge/", kPluginName)};
  void* handle = nullptr;
  std::vector<std::string> errors;
  for (const std::string& path : candidates) {
    if (::access(path.c_str(), R_OK) != 0) continue;
    handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) break;
    errors.push_back(::dlerror());
  }
  if (handle == nullptr) {
    handle = ::dlopen(kPluginName, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) errors.push_back(::dlerror());
  }
  if (handle == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot load ", kPluginName, " (looked in ",
                                            absl::StrJoin(candidates, ", "),
                                            " and the library path): ",
                                            absl::StrJoin(errors, "; ")));
  }
  // The module stays loaded for the life of the process: LibTorch does not
  // support being unloaded.
  using Factory = Trainer* (*)(int threads);
  auto factory = reinterpret_cast<Factory>(::dlsym(handle, kFactorySymbol));
  if (factory == nullptr) {
    return absl::InternalError(absl::StrCat(kPluginName, " does not export ", kFactorySymbol));
  }
  Trainer* trainer = factory(options.threads);
  if (trainer == nullptr) return absl::InternalError("the torch plugin failed to build a trainer");
  return std::unique_ptr<Trainer>(trainer);
}

}  // namespace fedge::client
