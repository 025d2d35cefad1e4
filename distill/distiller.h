#ifndef FEDGE_DISTILL_DISTILLER_H_
#define FEDGE_DISTILL_DISTILLER_H_

// Knowledge distillation of a global model (the teacher) into a smaller
// student, on examples the server holds *without labels*: the student learns
// to match the teacher's temperature-softened class probabilities (Hinton et
// al. 2015; distill/distillation_loss.h), so the only supervision is the
// teacher's outputs. The examples reach this code as data::UnlabelledData,
// a type with no targets, so no label can be consulted. No torch in this
// header; the implementation is LibTorch (fedge_distill).
//
// Only classifiers (classes:K tasks) are distilled: soft labels are a
// distribution over classes. Deterministic for a given seed with one thread.
// Not thread-safe (LibTorch's thread count and seed are process-wide).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/source.h"
#include "protocol/model_payload.h"

namespace fedge::distill {

enum class Optimizer : uint8_t { kSgd, kAdam };

struct EpochReport {
  uint32_t epoch = 0;         // 1-based
  double mean_loss = 0;       // DistillationLoss, averaged over the epoch's batches
  double agreement = 0;       // share of examples where student and teacher argmax agree
  double seconds = 0;
};

struct DistillOptions {
  double temperature = 4;  // T > 0; soft labels are softmax(teacher logits / T)
  uint32_t epochs = 10;
  uint32_t batch_size = 64;
  double learning_rate = 0.05;
  Optimizer optimizer = Optimizer::kSgd;
  double momentum = 0.9;  // SGD only, in [0, 1)
  // Seeds the shuffling of the examples each epoch (a fresh student's
  // initialisation is MakeStudent's seed).
  uint64_t seed = 0;
  int threads = 1;  // LibTorch intra-op threads; > 1 is slower on 2 cores
  // Called after every epoch (progress output); may be empty.
  std::function<void(const EpochReport&)> on_epoch;
};

struct DistillReport {
  int64_t examples = 0;
  double teacher_seconds = 0;  // computing the soft labels, once for all epochs
  std::vector<EpochReport> epochs;
};

// Checks that `teacher` can be distilled: a valid task whose target is
// classes:K, an architecture that is present and matches its id. Errors:
// InvalidArgument saying what is wrong (a binary, multi-label or real target
// is refused: soft labels need a class distribution).
absl::Status CheckTeacher(const protocol::ModelPayload& teacher);

// A freshly initialised student (seeded) for `model_flag` (mlp, cnn or a
// TorchScript file), carrying `task` (the teacher's). InvalidArgument naming
// `flag_name` when the file is unreadable, or the model does not take the
// task's inputs or its outputs do not fit the target (e.g. 5 logits for a
// 10-class teacher).
absl::StatusOr<protocol::ModelPayload> MakeStudent(const std::string& model_flag, uint64_t seed,
                                                   const protocol::TaskSpec& task,
                                                   const std::string& flag_name = "--student");

// Trains `student` (its weights updated in place) to match `teacher` on
// `examples`. The teacher runs once over the examples (in evaluation mode)
// to compute its logits; each epoch then visits the examples in a fresh
// shuffled order. Errors, all before the first step: InvalidArgument for
// bad options, a teacher CheckTeacher refuses, a student whose task differs
// from the teacher's, examples whose shape is not the task's input shape,
// NaN or infinite features, or no examples; Internal if LibTorch fails.
absl::StatusOr<DistillReport> Distill(const protocol::ModelPayload& teacher,
                                      const data::UnlabelledData& examples,
                                      const DistillOptions& options,
                                      protocol::ModelPayload* student);

}  // namespace fedge::distill

#endif  // FEDGE_DISTILL_DISTILLER_H_
