#include "distill/evaluation.h"

#include <cstdio>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "libtorch/model_export.h"

namespace fedge::distill {
namespace {

struct Measured {
  std::string name;
  size_t parameters = 0;
  std::string sizes;  // "a bytes (what), ..."
  std::unique_ptr<client::Predictor> predictor;
  client::ClassifierScore score;
};

std::string FileSize(const std::string& path, const std::string& what) {
  absl::StatusOr<FileStamp> stamp = StatFile(path);
  if (!stamp.ok()) return "";
  return absl::StrFormat("%d B %s (%s)", stamp->size, what, path);
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) {
    if (p.empty()) continue;
    absl::StrAppend(&out, out.empty() ? "" : "; ", p);
  }
  return out;
}

absl::StatusOr<std::vector<Measured>> LoadAll(const protocol::ModelPayload& teacher,
                                              const protocol::ModelPayload& student,
                                              const OutputFiles& files, int threads) {
  client::PredictorOptions options;
  options.threads = threads;
  std::vector<Measured> all(1);
  all[0].name = "teacher float32";
  all[0].parameters = teacher.weights.size();
  FEDGE_ASSIGN_OR_RETURN(std::string teacher_pt, client::TorchScriptBytes(teacher));
  all[0].sizes = Join({FileSize(files.teacher_model_file, "model-store file"),
                       absl::StrFormat("%d B float32 TorchScript", teacher_pt.size())});
  FEDGE_ASSIGN_OR_RETURN(all[0].predictor, client::Predictor::FromModel(teacher, options));

  Measured f32;
  f32.name = "student float32";
  f32.parameters = student.weights.size();
  f32.sizes = Join({files.model_file.empty() ? "" : FileSize(files.model_file, "model-store file"),
                    FileSize(files.float32, "TorchScript")});
  FEDGE_ASSIGN_OR_RETURN(f32.predictor, client::Predictor::Load(files.float32, options));
  all.push_back(std::move(f32));
  if (!files.int8.empty()) {
    Measured q;
    q.parameters = student.weights.size();
    q.sizes = FileSize(files.int8, "TorchScript");
    FEDGE_ASSIGN_OR_RETURN(q.predictor, client::Predictor::Load(files.int8, options));
    q.name = absl::StrCat("student int8/", q.predictor->engine());
    all.push_back(std::move(q));
  }
  return all;
}

}  // namespace

absl::Status Measure(const protocol::ModelPayload& teacher, const protocol::ModelPayload& student,
                     const OutputFiles& files, const client::LabelledImages& test, int threads) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<Measured> all, LoadAll(teacher, student, files, threads));
  std::vector<client::Predictor*> predictors;
  for (Measured& m : all) {
    FEDGE_ASSIGN_OR_RETURN(m.score, client::ScoreClassifier(*m.predictor, test));
    predictors.push_back(m.predictor.get());
  }
  FEDGE_ASSIGN_OR_RETURN(std::vector<double> batch1,
                         client::PerExampleLatencyUs(predictors, test.images, 1, 200, 15));
  FEDGE_ASSIGN_OR_RETURN(std::vector<double> batch64,
                         client::PerExampleLatencyUs(predictors, test.images, 64, 10, 15));
  std::printf("measured on %zu test images, %d thread(s):\n", test.size(), threads);
  for (size_t k = 0; k < all.size(); ++k) {
    const Measured& m = all[k];
    std::printf("  %-22s %8zu parameters  test accuracy %.4f", m.name.c_str(), m.parameters,
                m.score.accuracy);
    if (k > 0) {
      std::printf(" (%+.2f points; same class as the teacher for %.2f%%)",
                  100.0 * (m.score.accuracy - all[0].score.accuracy),
                  100.0 * client::Agreement(all[0].score, m.score));
    }
    std::printf("\n  %-22s latency per example: batch 1 %.1f us, batch 64 %.1f us\n", "",
                batch1[k], batch64[k]);
    std::printf("  %-22s %s\n", "", m.sizes.c_str());
  }
  return absl::OkStatus();
}

}  // namespace fedge::distill
