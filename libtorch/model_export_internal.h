#ifndef FEDGE_LIBTORCH_MODEL_EXPORT_INTERNAL_H_
#define FEDGE_LIBTORCH_MODEL_EXPORT_INTERNAL_H_

// Shared by model_export.cc and predictor.cc (no torch here).

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "protocol/task_spec.h"

namespace fedge::client {

struct ExportedEngine {
  std::string name;   // "qnnpack", "onednn", "fbgemm", "x86"
  bool reduce_range;  // quantise activations to 7 bits (all but QNNPACK)
};

// Makes `name` LibTorch's process-wide quantized engine, or when empty the
// first supported of qnnpack, onednn, fbgemm, x86. FailedPrecondition for an
// unknown or unsupported engine.
absl::StatusOr<ExportedEngine> SelectQuantizedEngine(const std::string& name);

// An extra file in every exported archive (extra/fedge_export.txt), one
// key=value per line: the model's task (input_shape=, target=, loss=, in the
// flag syntax of protocol/task_spec.h) and, in int8 archives, the engine the
// weights were packed for (qengine=), readable before the module is loaded
// (loading re-packs the weights for the current engine). Files written
// before the task was recorded hold only the qengine line, or no record.
inline constexpr char kExportInfoRecord[] = "fedge_export.txt";

struct ExportInfo {
  std::string engine;                     // "" for float32 archives
  std::optional<protocol::TaskSpec> task;  // nullopt: not recorded
};

std::string EncodeExportInfo(const protocol::TaskSpec& task, const ExportedEngine* engine);
// InvalidArgument naming the bad line; unknown keys are ignored (newer files).
absl::StatusOr<ExportInfo> ParseExportInfo(absl::string_view record);

}  // namespace fedge::client

#endif  // FEDGE_LIBTORCH_MODEL_EXPORT_INTERNAL_H_
