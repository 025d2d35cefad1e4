#ifndef FEDGE_LIBTORCH_MODEL_EXPORT_H_
#define FEDGE_LIBTORCH_MODEL_EXPORT_H_

// Deployment of a global model (no torch in this header; the implementation
// is in fedge_torch). docs/inference.md shows how to use the files.
//
// Exported files are self-contained TorchScript archives: plain LibTorch
// (`torch::jit::load`) or PyTorch (`torch.jit.load`) loads one and calls
// `forward` with a [N, *input_shape] float32 tensor (images scaled to [0, 1];
// the built-ins take [N, 1, 28, 28]); it returns what the model's task
// (protocol/task_spec.h) wants: [N, K] logits for classes:K and multilabel:K,
// [N] or [N, 1] logits for binary, [N, *target_shape] for real targets. No
// fedge code is needed to run them. The task is recorded in the archive
// (extra/fedge_export.txt: input_shape=, target=, loss= lines) so Predictor
// knows how to feed the file. Files are written crash-safely (temporary file,
// fsync, rename, fsync of the directory): a crash leaves the old file or the
// complete new one.
//
// The int8 variant is dynamically quantised, as PyTorch's quantize_dynamic
// does: every Linear layer's weight is stored as int8 (symmetric, one scale
// per output channel) and its input activations are quantised to uint8 at run
// time from their observed range; the matrix product runs in LibTorch's
// quantized kernels (`quantized::linear_dynamic`). Convolutions (the cnn's
// conv1, conv2) stay float32: dynamic quantisation covers only Linear layers.
// The archive records the quantized engine it was made for (attribute
// `qengine`) and whether activations use 7 bits (`reduce_range`: needed by
// oneDNN/FBGEMM on CPUs without VNNI, ignored by QNNPACK). Predictor sets
// both right for the engine it runs on; a PyTorch user loading the file on
// another engine sets `torch.backends.quantized.engine` before loading and
// `module.reduce_range` after.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "protocol/model_payload.h"
#include "protocol/task_spec.h"

namespace fedge::client {

// Writes `model` (built-in mlp or cnn, or a TorchScript architecture with the
// weights loaded into it) as a float32 TorchScript file at `path`. Errors:
// InvalidArgument when the architecture is corrupt, missing (a payload whose
// `architecture` bytes were omitted; built-ins are recovered from the id) or
// does not match the manifest and weights; the file system's error otherwise.
absl::Status ExportTorchScript(const protocol::ModelPayload& model, const std::string& path);

struct QuantizeOptions {
  // Quantized engine to pack the weights for: "qnnpack" (ARM devices; also
  // x86 here), "onednn", "fbgemm" or "x86"; empty picks the first of
  // qnnpack, onednn, fbgemm, x86 that this LibTorch supports.
  std::string engine;
};

// Writes the int8 dynamically quantised variant of a built-in mlp or cnn at
// `path`. Errors as ExportTorchScript, plus Unimplemented for TorchScript
// architectures (their Linear layers are not found from C++; quantise those
// in PyTorch with torch.ao.quantization.quantize_dynamic) and
// FailedPrecondition when the engine is unknown or not in this LibTorch.
absl::Status ExportQuantizedInt8(const protocol::ModelPayload& model, const std::string& path,
                                 const QuantizeOptions& options = {});

// The file contents the two functions above write.
absl::StatusOr<std::string> TorchScriptBytes(const protocol::ModelPayload& model);
absl::StatusOr<std::string> QuantizedInt8Bytes(const protocol::ModelPayload& model,
                                               const QuantizeOptions& options = {});

// Quantized engines this LibTorch supports, by the names above.
std::vector<std::string> SupportedQuantizedEngines();

struct PredictorOptions {
  // LibTorch intra-op threads, and OpenBLAS threads when LibTorch's BLAS is
  // OpenBLAS. Process-wide: the last Predictor loaded (or Trainer created)
  // sets them. >1 is slower on 2 cores.
  int threads = 1;
  // Quantized engine for int8 files: empty uses the one the file was made
  // for if supported, else the default order of QuantizeOptions. Also
  // process-wide in LibTorch. Ignored for float32 files.
  std::string quantized_engine;
  // Load only: the task of a file that does not record one (written by
  // PyTorch, or by fedge before tasks existed). Unset, such a file is taken
  // to be an image classifier of 28x28 single-channel images, its class
  // count read off its output. A file's recorded task wins over this.
  std::optional<protocol::TaskSpec> task;
};

// Offline inference with an exported file or a model payload, for the
// model's task: inputs are examples of task().input_shape (input_size()
// float32 values each, row-major); outputs are output_size() floats per
// example, the model's outputs flattened as the target wants them (K logits
// for classes:K and multilabel:K, one logit for binary, the target's values
// for real). Thread-safe: Predict calls are serialised.
class Predictor {
 public:
  ~Predictor();
  Predictor(const Predictor&) = delete;
  Predictor& operator=(const Predictor&) = delete;

  // Loads `torchscript_path` and checks it with two examples of zeros.
  // Errors: NotFound when the file is missing; DataLoss when it is not a
  // loadable TorchScript archive (truncated, corrupt); InvalidArgument when
  // it loads but its outputs do not fit its task's target (or, for a file
  // without a task, are not [N, classes] float logits), or its recorded task
  // is malformed; FailedPrecondition for an unsupported quantized engine.
  static absl::StatusOr<std::unique_ptr<Predictor>> Load(const std::string& torchscript_path,
                                                         const PredictorOptions& options = {});
  // The float32 model of a payload, for payload.task, without a file in
  // between, e.g. the newest model of a ModelStore (client/model_store.h):
  // offline inference with what the device last accepted. Errors as
  // ExportTorchScript, and InvalidArgument as Load.
  static absl::StatusOr<std::unique_ptr<Predictor>> FromModel(
      const protocol::ModelPayload& model, const PredictorOptions& options = {});

  // Outputs for `n` examples: `inputs` holds n x input_size() floats,
  // `outputs` receives n x output_size(). InvalidArgument when a span has
  // the wrong size (naming the size wanted) or n is 0.
  absl::Status Predict(absl::Span<const float> inputs, size_t n, absl::Span<float> outputs);

  const protocol::TaskSpec& task() const;
  size_t input_size() const;   // floats per example in
  size_t output_size() const;  // floats per example out
  // True when the file holds dynamically quantised layers.
  bool quantized() const;
  // The quantized engine in use ("" for float32 files).
  const std::string& engine() const;

  class Impl;

 private:
  explicit Predictor(std::unique_ptr<Impl> impl);
  // `name` says what `bytes` are in error messages; `task` is the model's
  // (FromModel) or null (Load: the file's record, else options.task).
  static absl::StatusOr<std::unique_ptr<Predictor>> FromBytes(const std::string& bytes,
                                                              const std::string& name,
                                                              const protocol::TaskSpec* task,
                                                              const PredictorOptions& options);
  std::unique_ptr<Impl> impl_;
};

// Floats per example a model of `task` outputs, flattened: num_classes for
// classes and multilabel targets, 1 for binary, the target's values for real.
inline int64_t OutputSize(const protocol::TaskSpec& task) {
  return task.target == protocol::TargetKind::kClass ? int64_t{task.num_classes}
                                                     : task.TargetSize();
}

}  // namespace fedge::client

#endif  // FEDGE_LIBTORCH_MODEL_EXPORT_H_
