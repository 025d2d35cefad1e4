// Predictor: offline inference with an exported TorchScript file or a model
// payload, for the model's task (libtorch/model_export.h).

#include <algorithm>
#include <cstring>
#include <optional>
#include <sstream>

#include <caffe2/serialize/inline_container.h>
#include <torch/script.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "libtorch/model_export.h"
#include "libtorch/model_export_internal.h"
#include "libtorch/objective.h"
#include "libtorch/torch_model.h"

namespace fedge::client {
namespace {

// Larger files are refused rather than read (the built-in cnn is ~7 MB).
constexpr size_t kMaxModelFileBytes = size_t{1} << 30;

// The archive's export record (model_export_internal.h); an empty record
// when it has none. Throws c10::Error when `bytes` is not a zip archive.
absl::StatusOr<ExportInfo> RecordedInfo(const std::string& bytes) {
  std::istringstream in(bytes);
  caffe2::serialize::PyTorchStreamReader reader(&in);
  const std::string record = absl::StrCat("extra/", kExportInfoRecord);
  if (!reader.hasRecord(record)) return ExportInfo();
  auto [data, size] = reader.getRecord(record);
  return ParseExportInfo(absl::string_view(static_cast<const char*>(data.get()), size));
}

// [n, *shape].
std::vector<int64_t> WithBatch(int64_t n, const std::vector<int64_t>& shape) {
  std::vector<int64_t> out = {n};
  out.insert(out.end(), shape.begin(), shape.end());
  return out;
}

// The engine to run an archive made for `recorded` with: the caller's
// choice, else the recorded one when this LibTorch has it, else the default.
std::string EngineFor(const std::string& recorded, const PredictorOptions& options) {
  if (!options.quantized_engine.empty()) return options.quantized_engine;
  std::vector<std::string> have = SupportedQuantizedEngines();
  return std::find(have.begin(), have.end(), recorded) != have.end() ? recorded : "";
}

}  // namespace

class Predictor::Impl {
 public:
  Impl(torch::jit::Module module, std::string name)
      : module_(std::move(module)), name_(std::move(name)) {}

  // Loads the archive in `bytes` (`name` says what it is in errors) for
  // `task` (null: the archive's recorded task, else options.task, else an
  // image classifier); for int8 archives first selects the engine (loading
  // packs the int8 weights for the current one) and then sets the module's
  // reduce_range for it.
  static absl::StatusOr<std::unique_ptr<Impl>> Create(const std::string& bytes,
                                                      const std::string& name,
                                                      const protocol::TaskSpec* task,
                                                      const PredictorOptions& options) {
    FEDGE_ASSIGN_OR_RETURN(ExportInfo info, RecordedInfo(bytes));
    std::optional<ExportedEngine> engine;
    if (!info.engine.empty()) {
      FEDGE_ASSIGN_OR_RETURN(engine, SelectQuantizedEngine(EngineFor(info.engine, options)));
    }
    std::istringstream in(bytes);
    auto impl = std::make_unique<Impl>(torch::jit::load(in, torch::kCPU), name);
    impl->module_.eval();
    if (engine) {
      if (!impl->module_.hasattr("reduce_range")) {
        return absl::InvalidArgumentError(
            absl::StrCat("int8 ", name, " lacks its reduce_range attribute"));
      }
      impl->module_.setattr("reduce_range", engine->reduce_range);
      impl->quantized = true;
      impl->engine = engine->name;
    }
    if (task == nullptr) task = info.task ? &*info.task : options.task ? &*options.task : nullptr;
    FEDGE_RETURN_IF_ERROR(task != nullptr ? impl->SetTask(*task) : impl->LearnImageTask());
    // Two examples of zeros check the contract (a batch of 1 takes the mlp's
    // matrix-vector path, so both run) and warm the executor.
    const std::vector<float> zeros(2 * impl->input_size, 0.0f);
    try {
      for (int64_t n : {1, 2}) FEDGE_RETURN_IF_ERROR(impl->Run(zeros.data(), n).status());
    } catch (const std::exception& e) {  // c10::Error, or the interpreter's JITException
      const auto* c10 = dynamic_cast<const c10::Error*>(&e);
      return absl::InvalidArgumentError(absl::StrCat(
          name, " does not take inputs [N,", protocol::ShapeString(impl->task_.input_shape),
          "] (its task's input shape): ", c10 ? c10->what_without_backtrace() : e.what()));
    }
    return impl;
  }

  // Runs the model on [n, *input_shape] and shapes the output as the task's
  // target wants it (InvalidArgument otherwise).
  absl::StatusOr<torch::Tensor> Run(const float* inputs, int64_t n) {
    torch::InferenceMode inference;
    torch::Tensor x = torch::from_blob(const_cast<float*>(inputs),
                                       WithBatch(n, task_.input_shape), torch::kFloat32);
    torch::jit::IValue out = module_.forward({x});
    if (!out.isTensor()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name_, " returns a ", out.tagKind(), ", not a tensor"));
    }
    absl::StatusOr<torch::Tensor> y = objective_->Shape(out.toTensor(), n);
    if (!y.ok()) return absl::InvalidArgumentError(absl::StrCat(name_, ": ", y.status().message()));
    return y->contiguous();
  }

  const std::string& name() const { return name_; }
  const protocol::TaskSpec& task() const { return task_; }

  absl::Mutex mu;  // serialises Run
  size_t input_size = 0, output_size = 0;
  bool quantized = false;
  std::string engine;

 private:
  absl::Status SetTask(const protocol::TaskSpec& task) {
    if (absl::Status s = protocol::ValidateTaskSpec(task); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(name_, ": ", s.message()));
    }
    task_ = task;
    objective_.emplace(task);
    input_size = static_cast<size_t>(task.InputSize());
    output_size = static_cast<size_t>(OutputSize(task));
    return absl::OkStatus();
  }

  // A file without a task: an image classifier of [N, 1, 28, 28] (the
  // built-ins' input, what fedge exported before tasks existed), whose class
  // count is read off its output for one example.
  absl::Status LearnImageTask() {
    protocol::TaskSpec task = protocol::FashionMnistTask();
    const std::vector<float> zeros(static_cast<size_t>(task.InputSize()), 0.0f);
    torch::InferenceMode inference;
    torch::jit::IValue out;
    try {
      out = module_.forward({torch::from_blob(const_cast<float*>(zeros.data()),
                                              WithBatch(1, task.input_shape), torch::kFloat32)});
    } catch (const std::exception&) {
      // Reported below: it does not take images.
    }
    if (!out.isTensor() || out.toTensor().dim() != 2 || out.toTensor().size(1) < 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          name_, " records no task and does not map [1,1,28,28] to [1, classes] logits; "
          "give its task (PredictorOptions::task)"));
    }
    task.num_classes = static_cast<uint32_t>(out.toTensor().size(1));
    return SetTask(task);
  }

  torch::jit::Module module_;
  const std::string name_;
  protocol::TaskSpec task_;
  std::optional<Objective> objective_;  // set with task_
};

Predictor::Predictor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Predictor::~Predictor() = default;

absl::StatusOr<std::unique_ptr<Predictor>> Predictor::Load(const std::string& path,
                                                           const PredictorOptions& options) {
  absl::StatusOr<std::string> bytes = ReadFile(path, kMaxModelFileBytes);
  if (absl::IsNotFound(bytes.status())) {
    return absl::NotFoundError(absl::StrCat("model file ", path, " does not exist"));
  }
  FEDGE_RETURN_IF_ERROR(bytes.status());
  return FromBytes(*bytes, absl::StrCat("model file ", path), nullptr, options);
}

absl::StatusOr<std::unique_ptr<Predictor>> Predictor::FromModel(
    const protocol::ModelPayload& model, const PredictorOptions& options) {
  FEDGE_ASSIGN_OR_RETURN(std::string bytes, TorchScriptBytes(model));
  return FromBytes(bytes, absl::StrCat("model ", model.architecture_id), &model.task, options);
}

absl::StatusOr<std::unique_ptr<Predictor>> Predictor::FromBytes(const std::string& bytes,
                                                                const std::string& name,
                                                                const protocol::TaskSpec* task,
                                                                const PredictorOptions& options) {
  SetTorchThreads(std::max(1, options.threads));
  try {
    FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl, Impl::Create(bytes, name, task, options));
    return std::unique_ptr<Predictor>(new Predictor(std::move(impl)));
  } catch (const c10::Error& e) {
    return absl::DataLossError(
        absl::StrCat(name, " is not a loadable TorchScript model: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(name, " cannot be loaded: ", e.what()));
  }
}

absl::Status Predictor::Predict(absl::Span<const float> inputs, size_t n,
                                absl::Span<float> outputs) {
  if (n == 0) return absl::InvalidArgumentError("Predict needs at least one example");
  const std::string shape = protocol::ShapeString(impl_->task().input_shape);
  if (inputs.size() != n * impl_->input_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Predict of ", n, " examples of [", shape, "] needs ", n * impl_->input_size,
        " input floats, got ", inputs.size()));
  }
  if (outputs.size() != n * impl_->output_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Predict of ", n, " examples for target ", protocol::TargetName(impl_->task()), " needs ",
        n * impl_->output_size, " output floats (", impl_->output_size, " each), got ",
        outputs.size()));
  }
  absl::MutexLock lock(&impl_->mu);
  try {
    FEDGE_ASSIGN_OR_RETURN(torch::Tensor y, impl_->Run(inputs.data(), static_cast<int64_t>(n)));
    std::memcpy(outputs.data(), y.data_ptr<float>(), outputs.size() * sizeof(float));
    return absl::OkStatus();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("inference with ", impl_->name(),
                                            " failed: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {  // the TorchScript interpreter's errors
    return absl::InternalError(absl::StrCat("inference with ", impl_->name(), " failed: ",
                                            e.what()));
  }
}

const protocol::TaskSpec& Predictor::task() const { return impl_->task(); }
size_t Predictor::input_size() const { return impl_->input_size; }
size_t Predictor::output_size() const { return impl_->output_size; }
bool Predictor::quantized() const { return impl_->quantized; }
const std::string& Predictor::engine() const { return impl_->engine; }

}  // namespace fedge::client
