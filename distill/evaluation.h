#ifndef FEDGE_DISTILL_EVALUATION_H_
#define FEDGE_DISTILL_EVALUATION_H_

// Teacher and student side by side, measured as a device runs them
// (client::Predictor, libtorch/predictor_eval.h): test accuracy, sizes, and
// latency per example at batch 1 and 64. No torch.

#include <string>

#include "absl/status/status.h"
#include "libtorch/predictor_eval.h"
#include "protocol/model_payload.h"

namespace fedge::distill {

// The files fedge-distill read and wrote; empty paths were not written.
struct OutputFiles {
  std::string teacher_model_file;  // the teacher's model-store file (read)
  std::string float32;             // the student's TorchScript
  std::string int8;                // its int8 variant
  std::string model_file;          // its model-store file
};

// Prints one block per model (teacher float32, student float32, student
// int8 if written): parameters, file sizes, test accuracy, agreement with
// the teacher, and latency per example at batch 1 (200 calls per block) and
// 64 (10 calls per block), the median of 15 blocks timed alternately.
// Errors as Predictor::Load / FromModel and ScoreClassifier.
absl::Status Measure(const protocol::ModelPayload& teacher, const protocol::ModelPayload& student,
                     const OutputFiles& files, const client::LabelledImages& test, int threads);

}  // namespace fedge::distill

#endif  // FEDGE_DISTILL_EVALUATION_H_
