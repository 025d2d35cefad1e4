// fedge-distill: distils a global model (the teacher) into a smaller student
// on unlabelled examples the server holds, then writes the student as a
// signed model-store file (what devices accept) and as TorchScript (float32,
// int8), and measures both models on the test split. docs/distillation.md.
//
// Exit codes: 0 done; 2 usage error (a bad flag, a missing or unusable
// file, a student that does not fit the teacher's task), named in the
// message, before any training; 1 a failure after that.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "libtorch/model_export.h"
#include "client/model_file.h"
#include "libtorch/predictor_eval.h"
#include "distill/distiller.h"
#include "distill/evaluation.h"
#include "distill/server_data.h"
#include "distill/signed_model_file.h"

ABSL_FLAG(std::string, teacher, "",
          "Required. The teacher: a model-store file (model-<version>.fms, as a device stores "
          "it or fedge-export --save_model_file writes it) holding a classes:K model, built-in "
          "or TorchScript");
ABSL_FLAG(std::string, teacher_architecture, "",
          "The teacher's TorchScript file, if the stored model omits the architecture bytes");
ABSL_FLAG(std::string, student, "mlp",
          "The student: mlp, cnn or a TorchScript file (freshly initialised with --seed). It "
          "must take the teacher's inputs and output its K logits");
ABSL_FLAG(std::string, data, "/usr/share/datasets/fashion-mnist",
          "Unlabelled server data: an IDX directory (only its <split>-images file is read, "
          "never the labels), FEATURES,TARGETS (only FEATURES is read) or one FEATURES file "
          "(IDX or .npy)");
ABSL_FLAG(std::string, unlabelled_split, "train", "Split of a directory --data: train or t10k");
ABSL_FLAG(int64_t, unlabelled_offset, 0, "First example of --data to distil on");
ABSL_FLAG(int64_t, unlabelled_examples, 0,
          "Examples of --data to distil on, from --unlabelled_offset (0: all the rest)");
ABSL_FLAG(double, temperature, 4,
          "Softmax temperature T of the soft labels; the loss is KL(teacher/T || student/T) * T^2");
ABSL_FLAG(uint32_t, epochs, 10, "Passes over the unlabelled examples");
ABSL_FLAG(uint32_t, batch_size, 64, "Examples per step");
ABSL_FLAG(double, lr, 0.05, "Learning rate");
ABSL_FLAG(std::string, optimizer, "sgd", "sgd (with --momentum) or adam");
ABSL_FLAG(double, momentum, 0.9, "SGD momentum, in [0, 1)");
ABSL_FLAG(uint64_t, seed, 0, "Seed of the student's initialisation and of the shuffling");
ABSL_FLAG(int, threads, 1,
          "LibTorch threads for distillation and measurement (>1 is slower on 2 cores)");
ABSL_FLAG(std::string, out, "student.pt", "Float32 TorchScript file of the student to write");
ABSL_FLAG(bool, int8, false,
          "Also write the student's int8 dynamically quantised variant next to --out "
          "(student.pt -> student.int8.pt); built-in students only");
ABSL_FLAG(std::string, qengine, "",
          "Quantized engine for --int8: qnnpack, onednn, fbgemm or x86 (default: the first "
          "this LibTorch supports of qnnpack, onednn)");
ABSL_FLAG(std::string, save_model_file, "",
          "Write the student as a model-store file signed with --key_file (name it "
          "model-<version>.fms to drop it into a device's store directory)");
ABSL_FLAG(std::string, key_file, "",
          "The coordinator's key file (coordinator.key, fedge-keygen): signs --save_model_file "
          "as the coordinator signs global models");
ABSL_FLAG(bool, unsigned_model, false,
          "Write --save_model_file without a signature (only devices that pin no coordinator "
          "key accept it)");
ABSL_FLAG(uint64_t, version, 0,
          "Model version of --save_model_file; must be above the teacher's, or devices refuse "
          "it as a rollback (0: the teacher's + 1)");
ABSL_FLAG(std::string, evaluate, "/usr/share/datasets/fashion-mnist",
          "IDX directory whose t10k split measures teacher and student (accuracy, sizes, "
          "latency per example at batch 1 and 64); empty: skip");

namespace fedge::distill {
namespace {

constexpr size_t kMaxModelFileBytes = size_t{1} << 30;

// Everything checked before training starts.
struct Plan {
  std::string teacher_path;
  client::ModelFile teacher;
  protocol::ModelPayload student;
  data::UnlabelledData examples;
  DistillOptions options;
  std::unique_ptr<protocol::ModelSigner> signer;  // null: unsigned or no file
  uint64_t version = 0;
  std::optional<client::LabelledImages> test;
};

// A usage error: `flag`=`value`: `what`.
absl::Status Usage(const std::string& flag, const std::string& value, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", value, ": ", what));
}

std::string Int8Path(const std::string& out) {
  if (absl::EndsWith(out, ".pt")) return absl::StrCat(out.substr(0, out.size() - 3), ".int8.pt");
  return absl::StrCat(out, ".int8");
}

absl::Status LoadTeacher(Plan& plan) {
  plan.teacher_path = absl::GetFlag(FLAGS_teacher);
  if (plan.teacher_path.empty()) {
    return absl::InvalidArgumentError("--teacher is required (a model-store file; see --help)");
  }
  absl::StatusOr<std::string> bytes = ReadFile(plan.teacher_path, kMaxModelFileBytes);
  if (!bytes.ok()) return Usage("teacher", plan.teacher_path, bytes.status().message());
  absl::StatusOr<client::ModelFile> decoded = client::DecodeModelFile(*bytes, kMaxModelFileBytes);
  if (!decoded.ok()) return Usage("teacher", plan.teacher_path, decoded.status().message());
  plan.teacher = *std::move(decoded);
  if (const std::string arch = absl::GetFlag(FLAGS_teacher_architecture); !arch.empty()) {
    absl::StatusOr<std::string> arch_bytes = ReadFile(arch, kMaxModelFileBytes);
    if (!arch_bytes.ok()) return Usage("teacher_architecture", arch, arch_bytes.status().message());
    if (plan.teacher.payload.architecture.empty()) {
      plan.teacher.payload.architecture = *std::move(arch_bytes);
    }
  }
  if (absl::Status s = CheckTeacher(plan.teacher.payload); !s.ok()) {
    const bool missing = plan.teacher.payload.architecture.empty();
    return Usage("teacher", plan.teacher_path,
                 absl::StrCat(s.message(), missing ? "; give --teacher_architecture" : ""));
  }
  return absl::OkStatus();
}

absl::Status ReadOptions(Plan& plan) {
  DistillOptions& o = plan.options;
  o.temperature = absl::GetFlag(FLAGS_temperature);
  o.epochs = absl::GetFlag(FLAGS_epochs);
  o.batch_size = absl::GetFlag(FLAGS_batch_size);
  o.learning_rate = absl::GetFlag(FLAGS_lr);
  o.momentum = absl::GetFlag(FLAGS_momentum);
  o.seed = absl::GetFlag(FLAGS_seed);
  o.threads = absl::GetFlag(FLAGS_threads);
  const auto number = [](double v) { return absl::StrCat(v); };
  if (!(o.temperature > 0) || !std::isfinite(o.temperature)) {
    return Usage("temperature", number(o.temperature), "want a number > 0");
  }
  if (o.epochs == 0) return Usage("epochs", "0", "want >= 1");
  if (o.batch_size == 0) return Usage("batch_size", "0", "want >= 1");
  if (!(o.learning_rate > 0) || !std::isfinite(o.learning_rate)) {
    return Usage("lr", number(o.learning_rate), "want a number > 0");
  }
  if (!(o.momentum >= 0 && o.momentum < 1)) {
    return Usage("momentum", number(o.momentum), "want a number in [0, 1)");
  }
  if (o.threads < 1) return Usage("threads", absl::StrCat(o.threads), "want >= 1");
  const std::string optimizer = absl::GetFlag(FLAGS_optimizer);
  if (optimizer != "sgd" && optimizer != "adam") {
    return Usage("optimizer", optimizer, "want sgd or adam");
  }
  o.optimizer = optimizer == "adam" ? Optimizer::kAdam : Optimizer::kSgd;
  return absl::OkStatus();
}

absl::Status LoadExamples(Plan& plan) {
  ServerDataSpec spec;
  spec.source = absl::GetFlag(FLAGS_data);
  spec.split = absl::GetFlag(FLAGS_unlabelled_split);
  spec.offset = absl::GetFlag(FLAGS_unlabelled_offset);
  spec.count = absl::GetFlag(FLAGS_unlabelled_examples);
  if (spec.offset < 0) return Usage("unlabelled_offset", absl::StrCat(spec.offset), "want >= 0");
  if (spec.count < 0) return Usage("unlabelled_examples", absl::StrCat(spec.count), "want >= 0");
  absl::StatusOr<data::UnlabelledData> examples = LoadServerData(spec);
  if (!examples.ok()) {
    return Usage("data", spec.source,
                 absl::StrCat(examples.status().message(),
                              absl::IsOutOfRange(examples.status())
                                  ? " (--unlabelled_offset, --unlabelled_examples)"
                                  : ""));
  }
  const std::vector<int64_t>& want = plan.teacher.payload.task.input_shape;
  if (examples->example_shape != want) {
    return Usage("data", spec.source,
                 absl::StrCat("examples are [", protocol::ShapeString(examples->example_shape),
                              "]; the teacher takes [", protocol::ShapeString(want), "]"));
  }
  plan.examples = *std::move(examples);
  return absl::OkStatus();
}

absl::Status LoadSigner(Plan& plan) {
  if (absl::GetFlag(FLAGS_save_model_file).empty()) return absl::OkStatus();
  const std::string key = absl::GetFlag(FLAGS_key_file);
  if (key.empty() && !absl::GetFlag(FLAGS_unsigned_model)) {
    return absl::InvalidArgumentError(
        "--save_model_file needs --key_file=coordinator.key to sign the student as devices "
        "require (or --unsigned_model for devices that pin no key)");
  }
  if (!key.empty()) {
    absl::StatusOr<std::unique_ptr<protocol::ModelSigner>> signer = SignerFromKeyFile(key);
    if (!signer.ok()) return Usage("key_file", key, signer.status().message());
    plan.signer = *std::move(signer);
  }
  const uint64_t teacher_version = plan.teacher.version;
  plan.version = absl::GetFlag(FLAGS_version);
  if (plan.version == 0) plan.version = teacher_version + 1;
  if (plan.version <= teacher_version) {
    return Usage("version", absl::StrCat(plan.version),
                 absl::StrCat("must be above the teacher's version ", teacher_version,
                              ": a device holding the teacher refuses an older version"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Plan> MakePlan() {
  Plan plan;
  FEDGE_RETURN_IF_ERROR(LoadTeacher(plan));
  FEDGE_RETURN_IF_ERROR(ReadOptions(plan));
  const std::string student = absl::GetFlag(FLAGS_student);
  FEDGE_ASSIGN_OR_RETURN(plan.student,
                         MakeStudent(student, plan.options.seed, plan.teacher.payload.task));
  if (absl::GetFlag(FLAGS_int8) && !absl::StartsWith(plan.student.architecture_id, "builtin:")) {
    return Usage("int8", "true", "int8 export covers the built-in students (mlp, cnn) only");
  }
  if (const std::string engine = absl::GetFlag(FLAGS_qengine); !engine.empty()) {
    const std::vector<std::string> have = client::SupportedQuantizedEngines();
    if (std::find(have.begin(), have.end(), engine) == have.end()) {
      return Usage("qengine", engine,
                   absl::StrCat("this LibTorch has ", absl::StrJoin(have, ", ")));
    }
  }
  FEDGE_RETURN_IF_ERROR(LoadSigner(plan));
  FEDGE_RETURN_IF_ERROR(LoadExamples(plan));
  if (const std::string dir = absl::GetFlag(FLAGS_evaluate); !dir.empty()) {
    absl::StatusOr<client::LabelledImages> test = client::LoadLabelledImages(dir, "t10k");
    if (!test.ok()) return Usage("evaluate", dir, test.status().message());
    plan.test = *std::move(test);
  }
  return plan;
}

absl::Status WriteStudent(const Plan& plan, OutputFiles& files) {
  files.float32 = absl::GetFlag(FLAGS_out);
  FEDGE_RETURN_IF_ERROR(client::ExportTorchScript(plan.student, files.float32));
  std::printf("wrote %s: float32 TorchScript of the student\n", files.float32.c_str());
  if (absl::GetFlag(FLAGS_int8)) {
    files.int8 = Int8Path(files.float32);
    FEDGE_RETURN_IF_ERROR(
        client::ExportQuantizedInt8(plan.student, files.int8, {absl::GetFlag(FLAGS_qengine)}));
    std::printf("wrote %s: int8 (dynamically quantised Linear layers)\n", files.int8.c_str());
  }
  if (const std::string path = absl::GetFlag(FLAGS_save_model_file); !path.empty()) {
    std::string bytes;
    if (plan.signer != nullptr) {
      FEDGE_ASSIGN_OR_RETURN(bytes,
                             EncodeSignedModelFile(plan.version, plan.student, *plan.signer));
    } else {
      FEDGE_ASSIGN_OR_RETURN(bytes, client::EncodeModelFile(plan.version, plan.student, ""));
    }
    FEDGE_RETURN_IF_ERROR(WriteFileAtomically(path, bytes));
    files.model_file = path;
    std::printf("wrote %s: model-store file, version %llu, %s\n", path.c_str(),
                static_cast<unsigned long long>(plan.version),
                plan.signer != nullptr ? "signed with the coordinator's key" : "UNSIGNED");
  }
  return absl::OkStatus();
}

absl::Status Run(Plan& plan) {
  std::printf("teacher %s: version %llu, %s, %zu parameters, %s\n", plan.teacher_path.c_str(),
              static_cast<unsigned long long>(plan.teacher.version),
              plan.teacher.payload.architecture_id.c_str(), plan.teacher.payload.weights.size(),
              protocol::DescribeTask(plan.teacher.payload.task).c_str());
  std::printf("student %s: %s, %zu parameters (%.1f%% of the teacher's)\n",
              absl::GetFlag(FLAGS_student).c_str(), plan.student.architecture_id.c_str(),
              plan.student.weights.size(),
              100.0 * plan.student.weights.size() / plan.teacher.payload.weights.size());
  std::printf("unlabelled data: %lld examples of %s (%s split, from example %lld); no labels "
              "read\n",
              static_cast<long long>(plan.examples.size()), absl::GetFlag(FLAGS_data).c_str(),
              absl::GetFlag(FLAGS_unlabelled_split).c_str(),
              static_cast<long long>(absl::GetFlag(FLAGS_unlabelled_offset)));
  plan.options.on_epoch = [](const EpochReport& r) {
    std::printf("epoch %u: distillation loss %.4f, agrees with the teacher on %.2f%% of the "
                "examples, %.1f s\n",
                r.epoch, r.mean_loss, 100.0 * r.agreement, r.seconds);
    std::fflush(stdout);
  };
  FEDGE_ASSIGN_OR_RETURN(DistillReport report,
                         Distill(plan.teacher.payload, plan.examples, plan.options, &plan.student));
  std::printf("teacher soft labels for %lld examples in %.1f s\n",
              static_cast<long long>(report.examples), report.teacher_seconds);
  OutputFiles files;
  files.teacher_model_file = plan.teacher_path;
  FEDGE_RETURN_IF_ERROR(WriteStudent(plan, files));
  if (plan.test.has_value()) {
    FEDGE_RETURN_IF_ERROR(Measure(plan.teacher.payload, plan.student, files, *plan.test,
                                  absl::GetFlag(FLAGS_threads)));
  }
  return absl::OkStatus();
}

// Abseil's parser exits with status 1 after --help and on a bad or unknown
// flag; this tool promises 0 for help and 2 for usage errors. While parsing,
// an exit handler substitutes the code (flushing first: _Exit does not).
std::atomic<int> parse_exit_code{-1};

void SubstituteParseExitCode() {
  const int code = parse_exit_code.load();
  if (code < 0) return;
  std::fflush(nullptr);
  std::_Exit(code);
}

void ParseFlags(int argc, char** argv) {
  bool help = false;
  for (int i = 1; i < argc; ++i) help |= absl::StartsWith(argv[i], "--help");
  parse_exit_code = help ? 0 : 2;
  std::atexit(SubstituteParseExitCode);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  parse_exit_code = -1;
  if (rest.size() > 1) {
    std::fprintf(stderr, "fedge-distill: unexpected argument '%s' (flags only; see --help)\n",
                 rest[1]);
    std::exit(2);
  }
}

}  // namespace
}  // namespace fedge::distill

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Distils a global classifier (the teacher, a model-store file) into a smaller student "
      "(built-in mlp or cnn, or a TorchScript file) on unlabelled examples the server holds: "
      "the student learns the teacher's temperature-softened class probabilities "
      "(KL(softmax(teacher/T) || softmax(student/T)) * T^2, Hinton et al. 2015); no label is "
      "read. Writes the student as TorchScript (float32, --int8) and, with --save_model_file, "
      "as a model-store file signed with the coordinator's key, which devices accept as any "
      "global model. --evaluate measures teacher and student on the test split.\n"
      "Example:\n"
      "  fedge-distill --teacher=teacher.fms --student=mlp --unlabelled_examples=10000 "
      "--epochs=10 --out=student.pt --int8 --key_file=keys/coordinator.key "
      "--save_model_file=model-2.fms\n"
      "Exit codes: 0 done, 2 usage error (named flag or file), 1 failure while running. "
      "docs/distillation.md explains the figures.");
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "distill/main.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  fedge::distill::ParseFlags(argc, argv);
  absl::StatusOr<fedge::distill::Plan> plan = fedge::distill::MakePlan();
  if (!plan.ok()) {
    std::fprintf(stderr, "fedge-distill: %s\n", std::string(plan.status().message()).c_str());
    return 2;
  }
  if (absl::Status s = fedge::distill::Run(*plan); !s.ok()) {
    FEDGE_LOG(kError, "fedge-distill: %s", s.ToString());
    return 1;
  }
  return 0;
}
