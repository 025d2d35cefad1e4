#ifndef FEDGE_CLIENT_MODEL_EXPORT_INTERNAL_H_
#define FEDGE_CLIENT_MODEL_EXPORT_INTERNAL_H_

// Shared by model_export.cc and predictor.cc (no torch here).

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fedge::client {

struct ExportedEngine {
  std::string name;   // "qnnpack", "onednn", "fbgemm", "x86"
  bool reduce_range;  // quantise activations to 7 bits (all but QNNPACK)
};

// Makes `name` LibTorch's process-wide quantized engine, or when empty the
// first supported of qnnpack, onednn, fbgemm, x86. FailedPrecondition for an
// unknown or unsupported engine.
absl::StatusOr<ExportedEngine> SelectQuantizedEngine(const std::string& name);

// An extra file in int8 archives (extra/fedge_export.txt) naming the engine
// the weights were packed for, readable before the module is loaded (loading
// re-packs the weights for the current engine).
inline constexpr char kExportInfoRecord[] = "fedge_export.txt";
inline std::string EncodeExportInfo(const ExportedEngine& engine) {
  return "qengine=" + engine.name + "\n";
}
// The engine named in that record, "" if none.
inline std::string ParseExportInfoEngine(absl::string_view record) {
  constexpr absl::string_view kKey = "qengine=";
  if (record.substr(0, kKey.size()) != kKey) return "";
  absl::string_view rest = record.substr(kKey.size());
  return std::string(rest.substr(0, rest.find('\n')));
}

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_MODEL_EXPORT_INTERNAL_H_
