// fedge-export: writes a global model as TorchScript for on-device inference
// (float32, and optionally int8 dynamically quantised) and measures the files:
// size, test accuracy, and latency per example, as measured on this machine.

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage_config.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "base/file_util.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "data/source.h"
#include "data/task_flags.h"
#include "libtorch/model_export.h"
#include "client/model_file.h"
#include "libtorch/predictor_eval.h"
#include "client/trainer.h"

ABSL_FLAG(std::string, model_file, "",
          "A model-store file (model-<version>.fms) holding the model to export");
ABSL_FLAG(std::string, architecture, "",
          "With --model_file: the TorchScript file of its architecture, if the stored model "
          "omits the bytes (built-ins never need it)");
ABSL_FLAG(std::string, model, "",
          "Instead of --model_file: a freshly initialised mlp, cnn or TorchScript file "
          "(for trying the tool; see --train_epochs), solving the task of --task and "
          "--input_shape");
ABSL_FLAG(uint64_t, seed, 0, "Seed of the fresh --model and of --train_epochs shuffling");
ABSL_FLAG(uint32_t, train_epochs, 0,
          "Train the model centrally for this many epochs on the train split of --data "
          "before exporting (SGD, batch 32, lr 0.05, as the federated runs)");
ABSL_FLAG(std::string, data, "/usr/share/datasets/fashion-mnist",
          "Fashion-MNIST directory for --train_epochs");
ABSL_FLAG(std::string, save_model_file, "",
          "Also write the (trained) model as a model-store file (version 0), which "
          "--model_file reads back: train once, export and measure many times");
ABSL_FLAG(std::string, out, "model.pt", "Float32 TorchScript file to write");
ABSL_FLAG(bool, int8, false,
          "Also write the int8 dynamically quantised variant next to --out "
          "(model.pt -> model.int8.pt); built-in models only");
ABSL_FLAG(std::string, qengine, "",
          "Quantized engine for --int8: qnnpack, onednn, fbgemm or x86 (default: the first "
          "this LibTorch supports of qnnpack, onednn)");
ABSL_FLAG(std::string, evaluate, "",
          "Fashion-MNIST directory: load the written files as a device would and print test "
          "accuracy on the t10k split, file sizes, and latency per example at batch 1 and 64");
ABSL_FLAG(std::vector<std::string>, evaluate_engines, {},
          "With --evaluate and --int8: run the int8 file on each of these quantized engines "
          "(comma-separated; default: the one it was made for)");
ABSL_FLAG(int, threads, 1, "LibTorch intra-op threads for training and inference");

namespace fedge::client {
namespace {

constexpr size_t kMaxModelFileBytes = size_t{1} << 30;

std::string Int8Path(const std::string& out) {
  if (absl::EndsWith(out, ".pt")) return absl::StrCat(out.substr(0, out.size() - 3), ".int8.pt");
  return absl::StrCat(out, ".int8");
}

absl::StatusOr<protocol::ModelPayload> LoadModel() {
  const std::string file = absl::GetFlag(FLAGS_model_file);
  const std::string fresh = absl::GetFlag(FLAGS_model);
  if (file.empty() == fresh.empty()) {
    return absl::InvalidArgumentError("give exactly one of --model_file and --model (see --help)");
  }
  if (!fresh.empty()) {
    // The task flags (data/task_flags.h); the default is Fashion-MNIST's.
    FEDGE_ASSIGN_OR_RETURN(protocol::TaskSpec task, data::TaskFromFlags({}));
    return MakeInitialModel(fresh, absl::GetFlag(FLAGS_seed), task);
  }
  FEDGE_ASSIGN_OR_RETURN(std::string bytes, ReadFile(file, kMaxModelFileBytes));
  absl::StatusOr<ModelFile> decoded = DecodeModelFile(bytes, kMaxModelFileBytes);
  if (!decoded.ok()) {
    return absl::Status(decoded.status().code(),
                        absl::StrCat(file, ": ", decoded.status().message()));
  }
  std::printf("model file %s: version %llu, %s\n", file.c_str(),
              static_cast<unsigned long long>(decoded->version),
              decoded->payload.architecture_id.c_str());
  if (decoded->payload.architecture.empty() && !absl::GetFlag(FLAGS_architecture).empty()) {
    FEDGE_ASSIGN_OR_RETURN(decoded->payload.architecture,
                           ReadFile(absl::GetFlag(FLAGS_architecture), kMaxModelFileBytes));
  }
  return std::move(decoded->payload);
}

absl::Status Train(protocol::ModelPayload& model, uint32_t epochs) {
  FEDGE_ASSIGN_OR_RETURN(Dataset train,
                         data::LoadDataset(absl::GetFlag(FLAGS_data), data::SourceOptions{"train"}));
  protocol::Task task;
  task.model = model;
  task.config.local_epochs = epochs;
  task.config.batch_size = 32;
  task.config.learning_rate = 0.05f;
  task.config.seed = absl::GetFlag(FLAGS_seed);
  auto trainer = MakeTorchTrainer({absl::GetFlag(FLAGS_threads)});
  TrainOutcome outcome;
  const absl::Time start = absl::Now();
  FEDGE_RETURN_IF_ERROR(trainer->Train(task, train, nullptr, &outcome));
  for (size_t i = 0; i < model.weights.size(); ++i) model.weights[i] += outcome.delta[i];
  std::printf("trained %u epoch(s) on %lld examples in %.1f s: last-epoch train accuracy %.4f\n",
              epochs, static_cast<long long>(train.size()),
              absl::ToDoubleSeconds(absl::Now() - start), outcome.metrics.accuracy);
  return absl::OkStatus();
}

// A file to evaluate and the quantized engine to run it on ("" for the default).
struct Candidate {
  std::string path;
  std::string engine;
};

absl::Status Evaluate(const std::string& dir, const std::vector<Candidate>& candidates) {
  FEDGE_ASSIGN_OR_RETURN(LabelledImages test, LoadLabelledImages(dir, "t10k"));
  std::vector<std::unique_ptr<Predictor>> predictors;
  std::vector<Predictor*> raw;
  std::vector<ClassifierScore> results;
  for (const auto& [path, engine] : candidates) {
    FEDGE_ASSIGN_OR_RETURN(FileStamp stamp, StatFile(path));
    PredictorOptions options;
    options.threads = absl::GetFlag(FLAGS_threads);
    options.quantized_engine = engine;
    FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<Predictor> p, Predictor::Load(path, options));
    // --evaluate is Fashion-MNIST's test split: image classifiers only.
    absl::StatusOr<ClassifierScore> e = ScoreClassifier(*p, test);
    if (!e.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.status().message(),
                                                     " (--evaluate takes image classifiers)"));
    }
    std::printf("%-24s %10lld bytes  %s  test accuracy %.4f on %zu images\n", path.c_str(),
                static_cast<long long>(stamp.size),
                p->quantized() ? absl::StrCat("int8 (", p->engine(), ")").c_str() : "float32",
                e->accuracy, test.size());
    results.push_back(*std::move(e));
    raw.push_back(p.get());
    predictors.push_back(std::move(p));
  }
  for (size_t k = 1; k < results.size(); ++k) {
    std::printf("int8 (%s) and float32 predict the same class for %.2f%% of the test images\n",
                raw[k]->engine().c_str(), 100.0 * Agreement(results[0], results[k]));
  }
  for (size_t batch : {size_t{1}, size_t{64}}) {
    const int calls = batch == 1 ? 200 : 10;
    FEDGE_ASSIGN_OR_RETURN(std::vector<double> us,
                           PerExampleLatencyUs(raw, test.images, batch, calls, 15));
    std::string line = absl::StrFormat("latency per example, batch %2d, %d thread(s):", batch,
                                       absl::GetFlag(FLAGS_threads));
    for (size_t k = 0; k < us.size(); ++k) {
      absl::StrAppendFormat(&line, "  %s %.1f us",
                            raw[k]->quantized() ? absl::StrCat("int8/", raw[k]->engine())
                                                : "float32",
                            us[k]);
      if (k > 0) absl::StrAppendFormat(&line, " (%.2fx)", us[k] / us[0]);
    }
    std::printf("%s\n", line.c_str());
  }
  return absl::OkStatus();
}

absl::Status Main() {
  FEDGE_ASSIGN_OR_RETURN(protocol::ModelPayload model, LoadModel());
  if (const uint32_t epochs = absl::GetFlag(FLAGS_train_epochs); epochs > 0) {
    FEDGE_RETURN_IF_ERROR(Train(model, epochs));
  }
  if (const std::string save = absl::GetFlag(FLAGS_save_model_file); !save.empty()) {
    FEDGE_ASSIGN_OR_RETURN(std::string file, EncodeModelFile(0, model, ""));
    FEDGE_RETURN_IF_ERROR(WriteFileAtomically(save, file));
    std::printf("wrote %s: model-store file of the model\n", save.c_str());
  }
  const std::string out = absl::GetFlag(FLAGS_out);
  std::vector<Candidate> written = {{out, ""}};
  FEDGE_RETURN_IF_ERROR(ExportTorchScript(model, out));
  std::printf("wrote %s: float32 TorchScript of %s, %zu parameters\n", out.c_str(),
              model.architecture_id.c_str(), model.weights.size());
  if (absl::GetFlag(FLAGS_int8)) {
    const std::string int8 = Int8Path(out);
    FEDGE_RETURN_IF_ERROR(ExportQuantizedInt8(model, int8, {absl::GetFlag(FLAGS_qengine)}));
    std::printf("wrote %s: Linear layers int8 (per-channel weights, dynamic activations)%s\n",
                int8.c_str(),
                model.architecture_id == "builtin:cnn" ? ", convolutions float32" : "");
    std::vector<std::string> engines = absl::GetFlag(FLAGS_evaluate_engines);
    if (engines.empty()) engines.push_back("");
    for (const std::string& engine : engines) written.push_back({int8, engine});
  }
  if (!absl::GetFlag(FLAGS_evaluate).empty()) {
    FEDGE_RETURN_IF_ERROR(Evaluate(absl::GetFlag(FLAGS_evaluate), written));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace fedge::client

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(absl::StrCat(
      "Exports a global model for on-device inference as a TorchScript file that plain "
      "LibTorch (torch::jit::load) or PyTorch (torch.jit.load) runs: forward takes "
      "[N, *input_shape] float32 (the built-ins: [N,1,28,28] in [0,1]) and returns what the "
      "model's task wants (the built-ins: [N,10] logits); the file records the task. "
      "--int8 also writes a variant "
      "whose Linear layers are dynamically quantised to int8. --evaluate measures both.\n"
      "Examples:\n"
      "  fedge-export --model_file=store/model-20.fms --out=model.pt --int8\n"
      "  fedge-export --model=mlp --train_epochs=1 --out=/tmp/mlp.pt --int8 "
      "--evaluate=/usr/share/datasets/fashion-mnist\n"
      "Quantized engines in this LibTorch: ",
      absl::StrJoin(fedge::client::SupportedQuantizedEngines(), ", "),
      ". docs/inference.md explains the files."));
  // --help lists this binary's own flags.
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "/export_main.cc") || absl::EndsWith(file, "/task_flags.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  absl::Status status = fedge::client::Main();
  if (!status.ok()) {
    FEDGE_LOG(kError, "fedge-export: %s", status.ToString());
    return 1;
  }
  return 0;
}
