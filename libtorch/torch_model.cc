#include "libtorch/torch_model.h"

#include "libtorch/objective.h"

#include <dlfcn.h>

#include <atomic>
#include <set>
#include <sstream>

#include <ATen/Parallel.h>
#include <torch/script.h>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace fedge::client {
namespace {

// McMahan et al.'s MNIST 2NN: 784-200-200-10 with ReLU.
struct MlpImpl : torch::nn::Module {
  MlpImpl()
      : fc1(register_module("fc1", torch::nn::Linear(784, 200))),
        fc2(register_module("fc2", torch::nn::Linear(200, 200))),
        fc3(register_module("fc3", torch::nn::Linear(200, 10))) {}
  torch::Tensor forward(torch::Tensor x) {
    x = x.reshape({x.size(0), -1});
    x = torch::relu(fc1->forward(x));
    x = torch::relu(fc2->forward(x));
    return fc3->forward(x);
  }
  torch::nn::Linear fc1, fc2, fc3;
};

// McMahan et al.'s CNN: conv5x5x32 - pool - conv5x5x64 - pool - fc512 - fc10.
struct CnnImpl : torch::nn::Module {
  CnnImpl()
      : conv1(register_module("conv1", torch::nn::Conv2d(
                                           torch::nn::Conv2dOptions(1, 32, 5).padding(2)))),
        conv2(register_module("conv2", torch::nn::Conv2d(
                                           torch::nn::Conv2dOptions(32, 64, 5).padding(2)))),
        fc1(register_module("fc1", torch::nn::Linear(64 * 7 * 7, 512))),
        fc2(register_module("fc2", torch::nn::Linear(512, 10))) {}
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv1->forward(x)), 2);
    x = torch::max_pool2d(torch::relu(conv2->forward(x)), 2);
    x = x.reshape({x.size(0), -1});
    x = torch::relu(fc1->forward(x));
    return fc2->forward(x);
  }
  torch::nn::Conv2d conv1, conv2;
  torch::nn::Linear fc1, fc2;
};

template <typename Net>
class BuiltinModel final : public TorchModel {
 public:
  BuiltinModel() : net_(std::make_shared<Net>()) {
    // The built-in modules hold float32 parameters and no buffers.
    InitTensors(*FederatedTensors(*net_));
  }
  torch::Tensor Forward(const torch::Tensor& x) override { return net_->forward(x); }
  void SetTraining(bool training) override { net_->train(training); }

 private:
  std::shared_ptr<Net> net_;
};

class ScriptedModel final : public TorchModel {
 public:
  ScriptedModel(torch::jit::Module module, std::vector<FederatedTensor> tensors)
      : module_(std::move(module)) {
    InitTensors(std::move(tensors));
  }
  torch::Tensor Forward(const torch::Tensor& x) override {
    return module_.forward({x}).toTensor();
  }
  void SetTraining(bool training) override { module_.train(training); }
  bool HasTrainingLoss() const override {
    return module_.find_method("training_loss").has_value();
  }
  torch::Tensor TrainingLoss(const torch::Tensor& x, const torch::Tensor& y) override {
    return module_.run_method("training_loss", x, y).toTensor();
  }

 private:
  torch::jit::Module module_;
};

std::atomic<int64_t> live_models{0};

absl::StatusOr<protocol::TensorRole> BufferRole(const std::string& name, const torch::Tensor& t) {
  if (torch::isFloatingType(t.scalar_type())) return protocol::TensorRole::kBuffer;
  if (torch::isIntegralType(t.scalar_type(), /*includeBool=*/false)) {
    return protocol::TensorRole::kCounter;
  }
  return absl::InvalidArgumentError(absl::StrCat("buffer '", name, "' has dtype ",
                                                 c10::toString(t.scalar_type()),
                                                 "; only floating and integer buffers travel"));
}

absl::Status CheckParameter(const std::string& name, const torch::Tensor& t) {
  if (t.scalar_type() == torch::kFloat32) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "parameter '", name, "' is ", c10::toString(t.scalar_type()), "; only float32 is trained"));
}

// Whether a module of this type name normalises activations (what FedBN
// keeps local): BatchNorm1d/2d/3d, GroupNorm, LayerNorm, InstanceNorm*, in
// TorchScript ("__torch__.torch.nn.modules.batchnorm.BatchNorm2d") or C++
// ("torch::nn::BatchNorm2dImpl") spelling.
bool IsNormalization(const std::string& type_name) {
  for (const char* kind : {"BatchNorm", "GroupNorm", "LayerNorm", "InstanceNorm"}) {
    if (type_name.find(kind) != std::string::npos) return true;
  }
  return false;
}

// Marks the tensors whose owning module (the name up to the last dot) is a
// normalisation module.
void MarkNormalization(const std::set<std::string>& norm_modules,
                       std::vector<FederatedTensor>* tensors) {
  for (FederatedTensor& t : *tensors) {
    const size_t dot = t.name.rfind('.');
    const std::string owner = dot == std::string::npos ? std::string() : t.name.substr(0, dot);
    t.normalization = norm_modules.count(owner) > 0;
  }
}

}  // namespace

absl::StatusOr<std::vector<FederatedTensor>> FederatedTensors(const torch::jit::Module& module) {
  std::vector<FederatedTensor> out;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) {
    FEDGE_RETURN_IF_ERROR(CheckParameter(p.name, p.value));
    out.push_back({p.name, p.value, protocol::TensorRole::kParameter});
  }
  for (const auto& b : module.named_buffers(/*recurse=*/true)) {
    FEDGE_ASSIGN_OR_RETURN(protocol::TensorRole role, BufferRole(b.name, b.value));
    out.push_back({b.name, b.value, role});
  }
  std::set<std::string> norm_modules;
  for (const auto& m : module.named_modules()) {
    const auto& type = m.value.type()->name();
    if (type.has_value() && IsNormalization(type->qualifiedName())) norm_modules.insert(m.name);
  }
  MarkNormalization(norm_modules, &out);
  return out;
}

absl::StatusOr<std::vector<FederatedTensor>> FederatedTensors(const torch::nn::Module& module) {
  std::vector<FederatedTensor> out;
  for (const auto& p : module.named_parameters()) {
    FEDGE_RETURN_IF_ERROR(CheckParameter(p.key(), p.value()));
    out.push_back({p.key(), p.value(), protocol::TensorRole::kParameter});
  }
  for (const auto& b : module.named_buffers()) {
    FEDGE_ASSIGN_OR_RETURN(protocol::TensorRole role, BufferRole(b.key(), b.value()));
    out.push_back({b.key(), b.value(), role});
  }
  std::set<std::string> norm_modules;
  for (const auto& m : module.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    if (IsNormalization(m.value()->name())) norm_modules.insert(m.key());
  }
  MarkNormalization(norm_modules, &out);
  return out;
}

protocol::ModelManifest ManifestOf(const std::vector<FederatedTensor>& tensors) {
  protocol::ModelManifest manifest;
  for (const FederatedTensor& t : tensors) {
    protocol::TensorSpec spec;
    spec.name = t.name;
    spec.shape.assign(t.tensor.sizes().begin(), t.tensor.sizes().end());
    spec.role = t.role;
    spec.normalization = t.normalization;
    manifest.tensors.push_back(std::move(spec));
  }
  return manifest;
}

absl::Status CopyIntoTensors(absl::Span<const float> weights,
                             const std::vector<FederatedTensor>& tensors) {
  size_t total = 0;
  for (const FederatedTensor& t : tensors) total += static_cast<size_t>(t.tensor.numel());
  if (weights.size() != total) {
    return absl::InvalidArgumentError(
        absl::StrCat("model has ", total, " weights, got ", weights.size()));
  }
  torch::NoGradGuard no_grad;
  size_t offset = 0;
  for (const FederatedTensor& t : tensors) {
    torch::Tensor dst = t.tensor;
    torch::Tensor src = torch::from_blob(const_cast<float*>(weights.data() + offset),
                                         dst.sizes(), torch::kFloat32);
    if (t.role == protocol::TensorRole::kCounter) src = src.round();
    dst.copy_(src);  // converts to the tensor's dtype
    offset += static_cast<size_t>(dst.numel());
  }
  return absl::OkStatus();
}

TorchModel::TorchModel() { live_models.fetch_add(1, std::memory_order_relaxed); }
TorchModel::~TorchModel() { live_models.fetch_sub(1, std::memory_order_relaxed); }
int64_t TorchModel::LiveCount() { return live_models.load(std::memory_order_relaxed); }

void TorchModel::InitTensors(std::vector<FederatedTensor> tensors) {
  manifest_ = ManifestOf(tensors);
  for (FederatedTensor& t : tensors) {
    if (t.role != protocol::TensorRole::kParameter) continue;
    t.tensor.set_requires_grad(true);
    params_.push_back(t.tensor);
  }
  tensors_ = std::move(tensors);
}

absl::Status TorchModel::Load(const protocol::ModelPayload& payload) {
  if (manifest_ != payload.manifest) {
    return absl::InvalidArgumentError(
        absl::StrCat("task manifest does not match architecture ", payload.architecture_id));
  }
  return SetWeights(payload.weights);
}

absl::Status CatchTorch(const std::function<absl::Status()>& body, absl::string_view what) {
  try {
    return body();
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": ", e.what()));
  }
}

absl::Status TorchModel::SetWeights(absl::Span<const float> weights) {
  return CopyIntoTensors(weights, tensors_);
}

void TorchModel::GetWeights(std::vector<float>* out) {
  out->resize(manifest_.NumElements());
  torch::NoGradGuard no_grad;
  size_t offset = 0;
  for (const FederatedTensor& t : tensors_) {
    torch::Tensor c = t.tensor.detach().to(torch::kFloat32).contiguous();
    std::memcpy(out->data() + offset, c.data_ptr<float>(), c.numel() * sizeof(float));
    offset += static_cast<size_t>(c.numel());
  }
}

absl::StatusOr<std::unique_ptr<TorchModel>> TorchModel::Create(const Architecture& arch) {
  FEDGE_RETURN_IF_ERROR(VerifyArchitecture(arch.id, arch.bytes));
  if (arch.id == "builtin:mlp") return std::unique_ptr<TorchModel>(new BuiltinModel<MlpImpl>());
  if (arch.id == "builtin:cnn") return std::unique_ptr<TorchModel>(new BuiltinModel<CnnImpl>());
  try {
    std::istringstream in(arch.bytes);
    torch::jit::Module module = torch::jit::load(in, torch::kCPU);
    absl::StatusOr<std::vector<FederatedTensor>> tensors = FederatedTensors(module);
    if (!tensors.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("TorchScript model: ", tensors.status().message()));
    }
    auto model = std::make_unique<ScriptedModel>(std::move(module), *std::move(tensors));
    if (model->parameters().empty()) {
      return absl::InvalidArgumentError("TorchScript model has no parameters to train");
    }
    return std::unique_ptr<TorchModel>(std::move(model));
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load TorchScript model: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot load TorchScript model: ", e.what()));
  }
}

torch::Tensor TorchModel::TrainingLoss(const torch::Tensor&, const torch::Tensor&) {
  throw std::logic_error("built-in models have no training_loss method");
}

// LibTorch's BLAS on Debian is OpenBLAS (through libblas.so.3), whose own
// thread pool ignores at::set_num_threads; set it too when it is there.
void SetTorchThreads(int threads) {
  at::set_num_threads(threads);
  using SetBlasThreads = void (*)(int);
  if (auto set_blas = reinterpret_cast<SetBlasThreads>(
          dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set_blas(threads);
  }
}

absl::StatusOr<protocol::ModelPayload> InitialModelPayload(const std::string& model_flag,
                                                           uint64_t seed,
                                                           const protocol::TaskSpec& task,
                                                           const std::string& flag_name) {
  FEDGE_ASSIGN_OR_RETURN(Architecture arch, ResolveArchitecture(model_flag, flag_name));
  FEDGE_RETURN_IF_ERROR(protocol::ValidateTaskSpec(task));
  torch::manual_seed(seed);
  FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<TorchModel> model, TorchModel::Create(arch));
  // Fails here, before any round, when the model cannot take the task's
  // inputs or its outputs do not fit the target.
  absl::Status fits = CheckModelFitsTask(*model, task);
  if (!fits.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag_name, "=", model_flag, ": ", fits.message()));
  }
  protocol::ModelPayload payload;
  payload.task = task;
  payload.manifest = model->manifest();
  payload.architecture_id = arch.id;
  payload.architecture = std::move(arch.bytes);
  model->GetWeights(&payload.weights);
  return payload;
}

}  // namespace fedge::client
