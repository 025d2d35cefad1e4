#ifndef FEDGE_LIBTORCH_PREDICTOR_EVAL_H_
#define FEDGE_LIBTORCH_PREDICTOR_EVAL_H_

// Measuring deployed models the way a device runs them, through Predictor
// (libtorch/model_export.h): a classifier's test accuracy and the latency per
// example. Shared by the tools that report these figures (fedge-export,
// fedge-distill). No torch here.

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "libtorch/model_export.h"

namespace fedge::client {

// A labelled image classification test set, the images scaled to [0, 1].
struct LabelledImages {
  std::vector<int64_t> example_shape;  // {1, 28, 28} for Fashion-MNIST
  std::vector<float> images;           // size() * example size values
  std::vector<float> labels;           // class indices
  size_t size() const { return labels.size(); }
};

// The `split` ("t10k") of an IDX directory of uint8 images (data/source.h).
// Errors as data::LoadDataset; InvalidArgument naming `dir` when its
// examples are not bytes or its targets not one class index each.
absl::StatusOr<LabelledImages> LoadLabelledImages(const std::string& dir,
                                                  const std::string& split);

struct ClassifierScore {
  double accuracy = 0;
  std::vector<int> predictions;  // argmax class per example, in order
};

// `p`'s argmax predictions on `test`, in batches of 100 (larger conv batches
// are slow in this LibTorch). InvalidArgument when `p` does not take the
// test set's examples or is not a classifier.
absl::StatusOr<ClassifierScore> ScoreClassifier(Predictor& p, const LabelledImages& test);

// Share of examples on which two score sets predict the same class.
double Agreement(const ClassifierScore& a, const ClassifierScore& b);

// Per-example latency of Predict on `batch` examples from `inputs`, in
// microseconds, for each predictor: the median over `blocks` blocks of the
// mean of `calls` calls. The predictors are timed in alternating blocks
// (after one warm-up block) so a busy machine affects them alike. `inputs`
// must hold `batch` examples for every predictor. InvalidArgument otherwise.
absl::StatusOr<std::vector<double>> PerExampleLatencyUs(const std::vector<Predictor*>& predictors,
                                                        absl::Span<const float> inputs,
                                                        size_t batch, int calls, int blocks);

}  // namespace fedge::client

#endif  // FEDGE_LIBTORCH_PREDICTOR_EVAL_H_
