#include "distill/distillation_loss.h"

namespace fedge::distill {

torch::Tensor DistillationLoss(const torch::Tensor& student_logits,
                               const torch::Tensor& teacher_logits, double temperature) {
  // Both sides in log space: log_softmax is stable for large logits, and the
  // difference of two log-probabilities is exactly 0 for equal inputs, where
  // softmax followed by log could leave rounding noise.
  const torch::Tensor log_p_teacher =
      torch::log_softmax(teacher_logits.detach() / temperature, /*dim=*/1);
  const torch::Tensor log_p_student = torch::log_softmax(student_logits / temperature, 1);
  const torch::Tensor kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(1);
  return kl.mean() * (temperature * temperature);
}

}  // namespace fedge::distill
