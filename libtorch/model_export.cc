// Builds deployable TorchScript modules from model payloads (float32 and int8
// dynamically quantised). The built-ins are written as TorchScript source
// compiled here, so the file needs nothing but LibTorch to run; the int8
// variant stores each Linear layer as LibTorch's packed quantized weights
// (`quantized::linear_prepack`) and calls `quantized::linear_dynamic`.

#include "libtorch/model_export.h"

#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/csrc/jit/frontend/sugared_value.h>
#include <torch/script.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/substitute.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "client/architecture.h"
#include "libtorch/model_export_internal.h"
#include "libtorch/torch_model.h"

namespace fedge::client {
namespace {

using NamedTensors = std::map<std::string, torch::Tensor>;

struct EngineName {
  const char* name;
  at::QEngine engine;
};
// Also the default preference order.
constexpr EngineName kEngines[] = {{"qnnpack", at::QEngine::QNNPACK},
                                   {"onednn", at::QEngine::ONEDNN},
                                   {"fbgemm", at::QEngine::FBGEMM},
                                   {"x86", at::QEngine::X86}};

bool Supported(at::QEngine engine) {
  for (at::QEngine e : at::globalContext().supportedQEngines()) {
    if (e == engine) return true;
  }
  return false;
}

// Resolves `torch.x` to aten::x (as the default resolver does) and
// `quantized.x` to quantized::x, the LibTorch quantized operators.
struct ExportResolver : torch::jit::Resolver {
  std::shared_ptr<torch::jit::SugaredValue> resolveValue(const std::string& name,
                                                         torch::jit::GraphFunction&,
                                                         const torch::jit::SourceRange&) override {
    if (name == "torch") return std::make_shared<torch::jit::BuiltinModule>("aten");
    if (name == "quantized") return std::make_shared<torch::jit::BuiltinModule>("quantized");
    return nullptr;
  }
  c10::TypePtr resolveType(const std::string&, const torch::jit::SourceRange&) override {
    return nullptr;
  }
};

// Creates script modules whose classes share one compilation unit; all
// modules of one kind share a class, and its methods are defined once.
class ModuleFactory {
 public:
  // A new module of class __torch__.fedge.<kind>; `method` is compiled into
  // the class the first time the kind is seen (empty for the root, which
  // callers define after adding children).
  torch::jit::Module New(const std::string& kind,
                         const std::function<void(torch::jit::Module&)>& add_slots,
                         const std::string& method) {
    auto it = types_.find(kind);
    if (it != types_.end()) {
      torch::jit::Module m(cu_, it->second);
      add_slots(m);
      return m;
    }
    torch::jit::Module m(c10::QualifiedName(absl::StrCat("__torch__.fedge.", kind)), cu_);
    add_slots(m);
    if (!method.empty()) m.define(method, resolver_);
    types_[kind] = m.type();
    return m;
  }
  const std::shared_ptr<ExportResolver>& resolver() const { return resolver_; }

 private:
  std::shared_ptr<torch::jit::CompilationUnit> cu_ =
      std::make_shared<torch::jit::CompilationUnit>();
  std::shared_ptr<ExportResolver> resolver_ = std::make_shared<ExportResolver>();
  std::map<std::string, c10::ClassTypePtr> types_;
};

// One example goes through a matrix-vector product: with this LibTorch and
// OpenBLAS a 1-row GEMM is ~3x slower (docs/inference.md has the figures).
constexpr char kLinearForward[] = R"(
def forward(self, x: Tensor) -> Tensor:
    if x.size(0) == 1:
        return torch.addmv(self.bias, self.weight, x[0]).unsqueeze(0)
    return torch.linear(x, self.weight, self.bias)
)";
// 5x5 convolutions with padding 2, as in the built-in cnn.
constexpr char kConvForward[] = R"(
def forward(self, x: Tensor) -> Tensor:
    return torch.conv2d(x, self.weight, self.bias, [1, 1], [2, 2])
)";
constexpr char kQuantizedLinearForward[] = R"(
def forward(self, x: Tensor, reduce_range: bool) -> Tensor:
    return quantized.linear_dynamic(x, self.packed_params, reduce_range)
)";
// $0.. are the Linear layer calls; `x` is the input.
constexpr char kMlpForward[] = R"(
def forward(self, x: Tensor) -> Tensor:
    x = x.reshape([x.size(0), -1])
    x = torch.relu($0)
    x = torch.relu($1)
    return $2
)";
constexpr char kCnnForward[] = R"(
def forward(self, x: Tensor) -> Tensor:
    x = torch.max_pool2d(torch.relu(self.conv1.forward(x)), [2, 2])
    x = torch.max_pool2d(torch.relu(self.conv2.forward(x)), [2, 2])
    x = x.reshape([x.size(0), -1])
    x = torch.relu($0)
    return $1
)";

// The architecture a payload names, with the built-in bytes restored when the
// payload omitted them.
absl::StatusOr<Architecture> PayloadArchitecture(const protocol::ModelPayload& model) {
  FEDGE_RETURN_IF_ERROR(protocol::ValidateManifest(model.manifest, model.weights.size()));
  Architecture arch{model.architecture_id, model.architecture};
  if (arch.bytes.empty()) {
    if (!absl::StartsWith(arch.id, "builtin:")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model ", arch.id, " comes without its TorchScript architecture bytes"));
    }
    arch.bytes = arch.id.substr(sizeof("builtin:") - 1);
  }
  FEDGE_RETURN_IF_ERROR(VerifyArchitecture(arch.id, arch.bytes));
  return arch;
}

// The payload's weights by manifest name, checked against a built-in's
// architecture.
absl::StatusOr<NamedTensors> BuiltinWeights(const protocol::ModelPayload& model,
                                            const Architecture& arch) {
  FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<TorchModel> reference, TorchModel::Create(arch));
  if (reference->manifest() != model.manifest) {
    return absl::InvalidArgumentError(
        absl::StrCat("model manifest does not match architecture ", arch.id));
  }
  NamedTensors named;
  size_t offset = 0;
  for (const protocol::TensorSpec& spec : model.manifest.tensors) {
    named[spec.name] = torch::from_blob(const_cast<float*>(model.weights.data() + offset),
                                        spec.shape, torch::kFloat32)
                           .clone();
    offset += spec.NumElements();
  }
  return named;
}

torch::jit::Module FloatLayer(ModuleFactory& f, const std::string& kind, const NamedTensors& w,
                              const std::string& name) {
  return f.New(
      kind,
      [&](torch::jit::Module& m) {
        m.register_parameter("weight", w.at(name + ".weight"), false);
        m.register_parameter("bias", w.at(name + ".bias"), false);
      },
      kind == "Conv2d" ? kConvForward : kLinearForward);
}

// Symmetric int8 weights, one scale per output channel, packed for the
// current engine.
c10::IValue PackLinear(const torch::Tensor& weight, const torch::Tensor& bias) {
  torch::Tensor scales = (weight.abs().amax({1}) / 127.5)
                             .clamp_min(std::numeric_limits<float>::epsilon())
                             .to(torch::kDouble);
  torch::Tensor zero_points = torch::zeros({weight.size(0)}, torch::kLong);
  torch::Tensor qweight =
      torch::quantize_per_channel(weight, scales, zero_points, 0, torch::kQInt8);
  static const c10::OperatorHandle prepack =
      c10::Dispatcher::singleton().findSchemaOrThrow("quantized::linear_prepack", "");
  torch::jit::Stack stack{qweight, c10::optional<torch::Tensor>(bias)};
  prepack.callBoxed(&stack);
  return stack.at(0);
}

torch::jit::Module QuantizedLayer(ModuleFactory& f, const NamedTensors& w,
                                  const std::string& name) {
  c10::IValue packed = PackLinear(w.at(name + ".weight"), w.at(name + ".bias"));
  return f.New(
      "DynamicQuantizedLinear",
      [&](torch::jit::Module& m) { m.register_attribute("packed_params", packed.type(), packed); },
      kQuantizedLinearForward);
}

// The built-in mlp or cnn as a script module; Linear layers quantised when
// `engine` is set.
torch::jit::Module BuildBuiltin(const std::string& name, const NamedTensors& w,
                                const std::optional<ExportedEngine>& engine) {
  ModuleFactory f;
  const bool is_cnn = name == "cnn";
  const std::vector<std::string> linears = is_cnn ? std::vector<std::string>{"fc1", "fc2"}
                                                  : std::vector<std::string>{"fc1", "fc2", "fc3"};
  std::vector<std::string> calls;
  torch::jit::Module root = f.New(
      is_cnn ? "Cnn" : "Mlp",
      [&](torch::jit::Module& m) {
        if (is_cnn) {
          for (const char* conv : {"conv1", "conv2"}) {
            m.register_module(conv, FloatLayer(f, "Conv2d", w, conv));
          }
        }
        for (const std::string& fc : linears) {
          if (engine) {
            m.register_module(fc, QuantizedLayer(f, w, fc));
            calls.push_back(absl::StrCat("self.", fc, ".forward(x, self.reduce_range)"));
          } else {
            m.register_module(fc, FloatLayer(f, "Linear", w, fc));
            calls.push_back(absl::StrCat("self.", fc, ".forward(x)"));
          }
        }
        if (engine) {
          m.register_attribute("reduce_range", c10::BoolType::get(), engine->reduce_range);
          m.register_attribute("qengine", c10::StringType::get(), engine->name);
        }
      },
      "");
  root.define(is_cnn ? absl::Substitute(kCnnForward, calls[0], calls[1])
                     : absl::Substitute(kMlpForward, calls[0], calls[1], calls[2]),
              f.resolver());
  root.eval();
  return root;
}

// A TorchScript architecture with the payload's weights in its parameters.
torch::jit::Module LoadScripted(const protocol::ModelPayload& model, const Architecture& arch) {
  std::istringstream in(arch.bytes);
  torch::jit::Module module = torch::jit::load(in, torch::kCPU);
  absl::StatusOr<std::vector<FederatedTensor>> tensors = FederatedTensors(module);
  TORCH_CHECK(tensors.ok(), "TorchScript architecture ", arch.id, ": ",
              std::string(tensors.status().message()));
  TORCH_CHECK(ManifestOf(*tensors) == model.manifest,
              "model manifest does not match TorchScript architecture ", arch.id);
  absl::Status copied = CopyIntoTensors(model.weights, *tensors);
  TORCH_CHECK(copied.ok(), std::string(copied.message()));
  module.eval();
  return module;
}

std::string Serialize(const torch::jit::Module& module, const torch::jit::ExtraFilesMap& extra) {
  std::ostringstream out;
  module.save(out, extra);
  return out.str();
}

}  // namespace

std::vector<std::string> SupportedQuantizedEngines() {
  std::vector<std::string> names;
  for (const EngineName& e : kEngines) {
    if (Supported(e.engine)) names.push_back(e.name);
  }
  return names;
}

absl::StatusOr<ExportedEngine> SelectQuantizedEngine(const std::string& name) {
  for (const EngineName& e : kEngines) {
    if (!name.empty() && name != e.name) continue;
    if (!Supported(e.engine)) {
      if (name.empty()) continue;
      return absl::FailedPreconditionError(absl::StrCat(
          "quantized engine '", name, "' is not in this LibTorch; it has: ",
          absl::StrJoin(SupportedQuantizedEngines(), ", ")));
    }
    at::globalContext().setQEngine(e.engine);
    // QNNPACK uses all 8 activation bits; the x86 engines saturate 16-bit
    // intermediate sums without VNNI unless activations keep to 7 bits.
    return ExportedEngine{e.name, e.engine != at::QEngine::QNNPACK};
  }
  return absl::FailedPreconditionError(
      name.empty() ? std::string("this LibTorch has no quantized engine")
                   : absl::StrCat("unknown quantized engine '", name,
                                  "' (qnnpack, onednn, fbgemm or x86)"));
}

std::string EncodeExportInfo(const protocol::TaskSpec& task, const ExportedEngine* engine) {
  std::string out = absl::StrCat("input_shape=", protocol::ShapeString(task.input_shape),
                                 "\ntarget=", protocol::TargetName(task),
                                 "\nloss=", protocol::LossName(task.loss), "\n");
  if (engine != nullptr) absl::StrAppend(&out, "qengine=", engine->name, "\n");
  return out;
}

absl::StatusOr<ExportInfo> ParseExportInfo(absl::string_view record) {
  ExportInfo info;
  std::map<std::string, std::string> kv;
  for (absl::string_view line : absl::StrSplit(record, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> p = absl::StrSplit(line, absl::MaxSplits('=', 1));
    kv[p.first] = p.second;
  }
  info.engine = kv["qengine"];
  if (!kv.count("input_shape") && !kv.count("target")) return info;  // an older file
  // Errors read "extra/fedge_export.txt: --target=...: want ...".
  const auto named = [](const absl::Status& s) {
    return absl::InvalidArgumentError(absl::StrCat("extra/", kExportInfoRecord, ": ", s.message()));
  };
  protocol::TaskSpec task;
  absl::StatusOr<std::vector<int64_t>> shape = protocol::ParseShape(kv["input_shape"], "input_shape");
  if (!shape.ok()) return named(shape.status());
  task.input_shape = *std::move(shape);
  if (absl::Status s = protocol::ParseTarget(kv["target"], "target", &task); !s.ok()) return named(s);
  absl::StatusOr<protocol::LossKind> loss = protocol::ParseLoss(kv["loss"], task.target, "loss");
  if (!loss.ok()) return named(loss.status());
  task.loss = *loss;
  if (absl::Status s = protocol::ValidateTaskSpec(task); !s.ok()) return named(s);
  info.task = std::move(task);
  return info;
}

absl::StatusOr<std::string> TorchScriptBytes(const protocol::ModelPayload& model) {
  FEDGE_ASSIGN_OR_RETURN(Architecture arch, PayloadArchitecture(model));
  const torch::jit::ExtraFilesMap info = {{kExportInfoRecord, EncodeExportInfo(model.task, nullptr)}};
  std::string bytes;
  FEDGE_RETURN_IF_ERROR(CatchTorch(
      [&]() -> absl::Status {
        if (absl::StartsWith(arch.id, "builtin:")) {
          FEDGE_ASSIGN_OR_RETURN(NamedTensors w, BuiltinWeights(model, arch));
          bytes = Serialize(BuildBuiltin(arch.bytes, w, std::nullopt), info);
        } else {
          bytes = Serialize(LoadScripted(model, arch), info);
        }
        return absl::OkStatus();
      },
      absl::StrCat("exporting ", arch.id)));
  return bytes;
}

absl::StatusOr<std::string> QuantizedInt8Bytes(const protocol::ModelPayload& model,
                                               const QuantizeOptions& options) {
  FEDGE_ASSIGN_OR_RETURN(Architecture arch, PayloadArchitecture(model));
  if (!absl::StartsWith(arch.id, "builtin:")) {
    return absl::UnimplementedError(absl::StrCat(
        "int8 export of TorchScript architecture ", arch.id,
        " is not supported: quantise it in PyTorch with "
        "torch.ao.quantization.quantize_dynamic before scripting"));
  }
  FEDGE_ASSIGN_OR_RETURN(NamedTensors w, BuiltinWeights(model, arch));
  const at::QEngine previous = at::globalContext().qEngine();
  absl::Cleanup restore = [previous] { at::globalContext().setQEngine(previous); };
  FEDGE_ASSIGN_OR_RETURN(ExportedEngine engine, SelectQuantizedEngine(options.engine));
  std::string bytes;
  FEDGE_RETURN_IF_ERROR(CatchTorch(
      [&] {
        bytes = Serialize(BuildBuiltin(arch.bytes, w, engine),
                          {{kExportInfoRecord, EncodeExportInfo(model.task, &engine)}});
        return absl::OkStatus();
      },
      absl::StrCat("exporting int8 ", arch.id)));
  return bytes;
}

absl::Status ExportTorchScript(const protocol::ModelPayload& model, const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(std::string bytes, TorchScriptBytes(model));
  return WriteFileAtomically(path, bytes);
}

absl::Status ExportQuantizedInt8(const protocol::ModelPayload& model, const std::string& path,
                                 const QuantizeOptions& options) {
  FEDGE_ASSIGN_OR_RETURN(std::string bytes, QuantizedInt8Bytes(model, options));
  return WriteFileAtomically(path, bytes);
}

}  // namespace fedge::client
