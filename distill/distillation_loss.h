#ifndef FEDGE_DISTILL_DISTILLATION_LOSS_H_
#define FEDGE_DISTILL_DISTILLATION_LOSS_H_

// The soft-label loss of Hinton, Vinyals and Dean, "Distilling the Knowledge
// in a Neural Network" (2015). Includes torch: only the distillation loop and
// its tests include this header.

#include <torch/torch.h>

namespace fedge::distill {

// KL(softmax(teacher / T) || softmax(student / T)) * T^2, averaged over the
// batch: `student_logits` and `teacher_logits` are [N, K]; the teacher's are
// treated as constants (no gradient flows into them). The T^2 factor keeps the
// gradients' scale independent of T (the soft targets' gradients shrink as
// 1/T^2), so a learning rate tuned at one temperature suits another. It is
// exactly 0 when the logits are equal and > 0 otherwise (unless they differ
// by a constant per row, which softmax ignores). REQUIRES: temperature > 0,
// equal [N, K] shapes with N, K >= 1.
torch::Tensor DistillationLoss(const torch::Tensor& student_logits,
                               const torch::Tensor& teacher_logits, double temperature);

}  // namespace fedge::distill

#endif  // FEDGE_DISTILL_DISTILLATION_LOSS_H_
