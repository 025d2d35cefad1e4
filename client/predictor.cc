// Predictor: offline inference with an exported TorchScript file
// (client/model_export.h).

#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <sstream>

#include <ATen/Parallel.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/script.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "client/model_export.h"
#include "client/model_export_internal.h"

namespace fedge::client {
namespace {

// Larger files are refused rather than read (the built-in cnn is ~7 MB).
constexpr size_t kMaxModelFileBytes = size_t{1} << 30;

// The engine recorded in an int8 archive, "" for other archives. Throws
// c10::Error when `bytes` is not a zip archive.
std::string RecordedEngine(const std::string& bytes) {
  std::istringstream in(bytes);
  caffe2::serialize::PyTorchStreamReader reader(&in);
  const std::string record = absl::StrCat("extra/", kExportInfoRecord);
  if (!reader.hasRecord(record)) return "";
  auto [data, size] = reader.getRecord(record);
  return ParseExportInfoEngine(absl::string_view(static_cast<const char*>(data.get()), size));
}

// The engine to run an archive made for `recorded` with: the caller's
// choice, else the recorded one when this LibTorch has it, else the default.
std::string EngineFor(const std::string& recorded, const PredictorOptions& options) {
  if (!options.quantized_engine.empty()) return options.quantized_engine;
  std::vector<std::string> have = SupportedQuantizedEngines();
  return std::find(have.begin(), have.end(), recorded) != have.end() ? recorded : "";
}

// LibTorch's BLAS on Debian is OpenBLAS (through libblas.so.3), whose own
// thread pool ignores at::set_num_threads; set it too when it is there.
void SetThreads(int threads) {
  at::set_num_threads(threads);
  using SetBlasThreads = void (*)(int);
  if (auto set_blas = reinterpret_cast<SetBlasThreads>(
          dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set_blas(threads);
  }
}

}  // namespace

class Predictor::Impl {
 public:
  Impl(torch::jit::Module module, std::string name)
      : module_(std::move(module)), name_(std::move(name)) {}

  // Loads the archive in `bytes` (`name` says what it is in errors); for
  // int8 archives first selects the engine (loading packs the int8 weights
  // for the current one) and then sets the module's reduce_range for it.
  static absl::StatusOr<std::unique_ptr<Impl>> Create(const std::string& bytes,
                                                      const std::string& name,
                                                      const PredictorOptions& options) {
    const std::string recorded = RecordedEngine(bytes);
    std::optional<ExportedEngine> engine;
    if (!recorded.empty()) {
      FEDGE_ASSIGN_OR_RETURN(engine, SelectQuantizedEngine(EngineFor(recorded, options)));
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
    // One example of zeros: checks the contract and warms the executor.
    const std::vector<float> zeros(kPredictorInputPixels, 0.0f);
    for (int i = 0; i < 2; ++i) {
      FEDGE_ASSIGN_OR_RETURN(torch::Tensor y, impl->Run(zeros.data(), 1));
      impl->classes = static_cast<size_t>(y.size(1));
    }
    return impl;
  }

  // Runs the model on [n, 1, 28, 28] and checks the output is [n, classes].
  absl::StatusOr<torch::Tensor> Run(const float* images, int64_t n) {
    torch::InferenceMode inference;
    torch::Tensor x =
        torch::from_blob(const_cast<float*>(images), {n, 1, 28, 28}, torch::kFloat32);
    torch::jit::IValue out = module_.forward({x});
    if (!out.isTensor()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name_, " returns a ", out.tagKind(), ", not a tensor of logits"));
    }
    torch::Tensor y = out.toTensor();
    if (y.dim() != 2 || y.size(0) != n || y.size(1) < 1 || y.scalar_type() != torch::kFloat32 ||
        (classes != 0 && y.size(1) != static_cast<int64_t>(classes))) {
      return absl::InvalidArgumentError(absl::StrCat(
          name_, " maps [", n, ", 1, 28, 28] to ", c10::str(y.sizes()), " ",
          c10::toString(y.scalar_type()), ", not [", n, ", classes] float logits"));
    }
    return y.contiguous();
  }

  const std::string& name() const { return name_; }

  absl::Mutex mu;  // serialises Run
  size_t classes = 0;
  bool quantized = false;
  std::string engine;

 private:
  torch::jit::Module module_;
  const std::string name_;
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
  return FromBytes(*bytes, absl::StrCat("model file ", path), options);
}

absl::StatusOr<std::unique_ptr<Predictor>> Predictor::FromModel(
    const protocol::ModelPayload& model, const PredictorOptions& options) {
  FEDGE_ASSIGN_OR_RETURN(std::string bytes, TorchScriptBytes(model));
  return FromBytes(bytes, absl::StrCat("model ", model.architecture_id), options);
}

absl::StatusOr<std::unique_ptr<Predictor>> Predictor::FromBytes(const std::string& bytes,
                                                                const std::string& name,
                                                                const PredictorOptions& options) {
  SetThreads(std::max(1, options.threads));
  try {
    FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl, Impl::Create(bytes, name, options));
    return std::unique_ptr<Predictor>(new Predictor(std::move(impl)));
  } catch (const c10::Error& e) {
    return absl::DataLossError(
        absl::StrCat(name, " is not a loadable TorchScript model: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(name, " cannot be loaded: ", e.what()));
  }
}

absl::Status Predictor::Predict(absl::Span<const float> images, size_t n,
                                absl::Span<float> scores) {
  if (n == 0) return absl::InvalidArgumentError("Predict needs at least one image");
  if (images.size() != n * kPredictorInputPixels) {
    return absl::InvalidArgumentError(absl::StrCat("Predict of ", n, " images needs ",
                                                   n * kPredictorInputPixels,
                                                   " pixels, got ", images.size()));
  }
  if (scores.size() != n * impl_->classes) {
    return absl::InvalidArgumentError(absl::StrCat("Predict of ", n, " images with ",
                                                   impl_->classes, " classes needs ",
                                                   n * impl_->classes, " scores, got ",
                                                   scores.size()));
  }
  absl::MutexLock lock(&impl_->mu);
  try {
    FEDGE_ASSIGN_OR_RETURN(torch::Tensor y, impl_->Run(images.data(), static_cast<int64_t>(n)));
    std::memcpy(scores.data(), y.data_ptr<float>(), scores.size() * sizeof(float));
    return absl::OkStatus();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("inference with ", impl_->name(),
                                            " failed: ", e.what_without_backtrace()));
  }
}

size_t Predictor::num_classes() const { return impl_->classes; }
bool Predictor::quantized() const { return impl_->quantized; }
const std::string& Predictor::engine() const { return impl_->engine; }

}  // namespace fedge::client
