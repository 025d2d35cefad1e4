#include "libtorch/predictor_eval.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "data/source.h"

namespace fedge::client {

absl::StatusOr<LabelledImages> LoadLabelledImages(const std::string& dir,
                                                  const std::string& split) {
  FEDGE_ASSIGN_OR_RETURN(data::Dataset test, data::LoadDataset(dir, data::SourceOptions{split}));
  if (test.storage != data::Storage::kUint8 || test.TargetSize() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": ", split, " is not images of bytes with one class index each"));
  }
  LabelledImages out;
  out.example_shape = test.example_shape;
  out.images.resize(test.bytes.size());
  for (size_t i = 0; i < out.images.size(); ++i) out.images[i] = test.bytes[i] / 255.0f;
  out.labels = std::move(test.targets);
  return out;
}

absl::StatusOr<ClassifierScore> ScoreClassifier(Predictor& p, const LabelledImages& test) {
  if (p.task().input_shape != test.example_shape ||
      p.task().target != protocol::TargetKind::kClass) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the model solves ", protocol::DescribeTask(p.task()), "; the test set holds classes of [",
        protocol::ShapeString(test.example_shape), "] examples"));
  }
  constexpr size_t kBatch = 100;
  const size_t n = test.size(), c = p.output_size(), in = p.input_size();
  ClassifierScore score;
  score.predictions.reserve(n);
  std::vector<float> outputs(kBatch * c);
  size_t correct = 0;
  for (size_t b = 0; b < n; b += kBatch) {
    const size_t m = std::min(kBatch, n - b);
    FEDGE_RETURN_IF_ERROR(p.Predict(absl::MakeConstSpan(test.images).subspan(b * in, m * in), m,
                                    absl::MakeSpan(outputs).subspan(0, m * c)));
    for (size_t i = 0; i < m; ++i) {
      const float* s = outputs.data() + i * c;
      const int label = static_cast<int>(std::max_element(s, s + c) - s);
      score.predictions.push_back(label);
      correct += label == test.labels[b + i];
    }
  }
  score.accuracy = n == 0 ? 0 : static_cast<double>(correct) / static_cast<double>(n);
  return score;
}

double Agreement(const ClassifierScore& a, const ClassifierScore& b) {
  const size_t n = std::min(a.predictions.size(), b.predictions.size());
  if (n == 0) return 0;
  size_t same = 0;
  for (size_t i = 0; i < n; ++i) same += a.predictions[i] == b.predictions[i];
  return static_cast<double>(same) / static_cast<double>(n);
}

absl::StatusOr<std::vector<double>> PerExampleLatencyUs(const std::vector<Predictor*>& predictors,
                                                        absl::Span<const float> inputs,
                                                        size_t batch, int calls, int blocks) {
  if (batch == 0 || calls <= 0 || blocks <= 0) {
    return absl::InvalidArgumentError("latency needs a batch, calls and blocks above 0");
  }
  for (Predictor* p : predictors) {
    if (inputs.size() < batch * p->input_size()) {
      return absl::InvalidArgumentError(absl::StrCat("latency at batch ", batch, " needs ",
                                                     batch * p->input_size(), " input values, got ",
                                                     inputs.size()));
    }
  }
  std::vector<std::vector<double>> per_block(predictors.size());
  std::vector<float> outputs;
  for (int block = -1; block < blocks; ++block) {  // block -1 warms up
    for (size_t k = 0; k < predictors.size(); ++k) {
      Predictor& p = *predictors[k];
      const absl::Span<const float> in = inputs.subspan(0, batch * p.input_size());
      outputs.resize(batch * p.output_size());
      const absl::Time start = absl::Now();
      for (int i = 0; i < calls; ++i) {
        FEDGE_RETURN_IF_ERROR(p.Predict(in, batch, absl::MakeSpan(outputs)));
      }
      const double us = absl::ToDoubleMicroseconds(absl::Now() - start) / (calls * batch);
      if (block >= 0) per_block[k].push_back(us);
    }
  }
  std::vector<double> medians;
  for (std::vector<double>& v : per_block) {
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    medians.push_back(v[v.size() / 2]);
  }
  return medians;
}

}  // namespace fedge::client
