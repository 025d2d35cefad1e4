#include "client/torch_plugin.h"

#include <dlfcn.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"

namespace fedge::client {
namespace {

constexpr char kPluginName[] = "libfedge_torch_plugin.so";
constexpr char kTrainerSymbol[] = "fedge_torch_plugin_make_trainer";
constexpr char kPredictorSymbol[] = "fedge_torch_plugin_make_predictor";

// The module stays loaded for the life of the process: LibTorch does not
// support being unloaded.
absl::StatusOr<void*> OpenPlugin(const std::vector<std::string>& first_dirs) {
  const std::string dir = ExecutableDir();
  std::vector<std::string> candidates;
  for (const std::string& d : first_dirs) candidates.push_back(absl::StrCat(d, "/", kPluginName));
  candidates.push_back(absl::StrCat(dir, "/", kPluginName));
  candidates.push_back(absl::StrCat(dir, "/../lib/fedge/", kPluginName));
  void* handle = nullptr;
  std::vector<std::string> errors;
  for (const std::string& path : candidates) {
    if (::access(path.c_str(), R_OK) != 0) continue;
    handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) return handle;
    errors.push_back(::dlerror());
  }
  handle = ::dlopen(kPluginName, RTLD_NOW | RTLD_LOCAL);
  if (handle != nullptr) return handle;
  errors.push_back(::dlerror());
  return absl::NotFoundError(absl::StrCat("cannot load ", kPluginName, " (looked in ",
                                          absl::StrJoin(candidates, ", "),
                                          " and the library path): ",
                                          absl::StrJoin(errors, "; ")));
}

template <typename Fn>
absl::StatusOr<Fn> Symbol(const std::vector<std::string>& first_dirs, const char* name) {
  absl::StatusOr<void*> handle = OpenPlugin(first_dirs);
  if (!handle.ok()) return handle.status();
  auto fn = reinterpret_cast<Fn>(::dlsym(*handle, name));
  if (fn == nullptr) {
    return absl::InternalError(absl::StrCat(kPluginName, " does not export ", name));
  }
  return fn;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Trainer>> LoadTorchTrainer(
    const TorchTrainerOptions& options, const std::vector<std::string>& first_dirs) {
  using Factory = Trainer* (*)(int threads, int keep_models);
  absl::StatusOr<Factory> factory = Symbol<Factory>(first_dirs, kTrainerSymbol);
  if (!factory.ok()) return factory.status();
  Trainer* trainer = (*factory)(options.threads, options.keep_models ? 1 : 0);
  if (trainer == nullptr) return absl::InternalError("the torch plugin failed to build a trainer");
  return std::unique_ptr<Trainer>(trainer);
}

absl::StatusOr<std::unique_ptr<PluginPredictor>> LoadTorchPredictor(
    const protocol::ModelPayload& model, int threads, const std::vector<std::string>& first_dirs) {
  using Factory = PluginPredictor* (*)(const protocol::ModelPayload*, int, absl::Status*);
  absl::StatusOr<Factory> factory = Symbol<Factory>(first_dirs, kPredictorSymbol);
  if (!factory.ok()) return factory.status();
  absl::Status status;
  PluginPredictor* predictor = (*factory)(&model, threads, &status);
  if (predictor == nullptr) {
    return status.ok() ? absl::InternalError("the torch plugin failed to build a predictor")
                       : status;
  }
  return std::unique_ptr<PluginPredictor>(predictor);
}

}  // namespace fedge::client
