#include "distill/distillation_loss.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

namespace fedge::distill {
namespace {

using Rows = std::vector<std::vector<double>>;

torch::Tensor ToTensor(const Rows& rows) {
  const int64_t n = static_cast<int64_t>(rows.size()), k = static_cast<int64_t>(rows[0].size());
  torch::Tensor t = torch::empty({n, k}, torch::kFloat64);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < k; ++j) t[i][j] = rows[i][j];
  }
  return t;
}

std::vector<double> Softmax(const std::vector<double>& z, double t) {
  double sum = 0;
  std::vector<double> p;
  for (double v : z) sum += std::exp(v / t);
  for (double v : z) p.push_back(std::exp(v / t) / sum);
  return p;
}

// The definition written out: T^2 / N * sum_i sum_k p_t log(p_t / p_s).
double ClosedForm(const Rows& student, const Rows& teacher, double t) {
  double total = 0;
  for (size_t i = 0; i < student.size(); ++i) {
    const std::vector<double> ps = Softmax(student[i], t), pt = Softmax(teacher[i], t);
    for (size_t k = 0; k < ps.size(); ++k) total += pt[k] * std::log(pt[k] / ps[k]);
  }
  return t * t * total / static_cast<double>(student.size());
}

const Rows kStudent = {{1.0, -0.5, 2.0}, {0.3, 0.3, -1.2}};
const Rows kTeacher = {{2.5, 0.1, -1.0}, {-0.7, 1.9, 0.4}};

TEST(DistillationLossTest, MatchesTheClosedFormAtSeveralTemperatures) {
  for (double t : {0.5, 1.0, 2.0, 4.0, 10.0}) {
    const double got = DistillationLoss(ToTensor(kStudent), ToTensor(kTeacher), t).item<double>();
    EXPECT_NEAR(got, ClosedForm(kStudent, kTeacher, t), 1e-12) << "T = " << t;
    EXPECT_GT(got, 0.0);
  }
}

TEST(DistillationLossTest, IsScaledByTheSquareOfTheTemperature) {
  // The same softened distributions at T = 1 and T = 3 (logits scaled by 3):
  // only the T^2 factor differs.
  Rows student3 = kStudent, teacher3 = kTeacher;
  for (Rows* rows : {&student3, &teacher3}) {
    for (auto& row : *rows) {
      for (double& v : row) v *= 3;
    }
  }
  const double at1 = DistillationLoss(ToTensor(kStudent), ToTensor(kTeacher), 1).item<double>();
  const double at3 = DistillationLoss(ToTensor(student3), ToTensor(teacher3), 3).item<double>();
  EXPECT_NEAR(at3, 9 * at1, 1e-12);
}

TEST(DistillationLossTest, IsExactlyZeroWhenTheStudentMatchesTheTeacher) {
  for (double t : {1.0, 4.0}) {
    EXPECT_EQ(DistillationLoss(ToTensor(kTeacher), ToTensor(kTeacher), t).item<double>(), 0.0);
    // float32 and large logits too (log-space: no overflow, no rounding noise).
    torch::Tensor big = ToTensor({{300.0, -200.0, 50.0}}).to(torch::kFloat32);
    EXPECT_EQ(DistillationLoss(big, big.clone(), t).item<float>(), 0.0f);
  }
}

TEST(DistillationLossTest, GradientIsTimesTheSoftenedDifferenceAndSkipsTheTeacher) {
  // d/dz_s of T^2 KL = T (softmax(z_s/T) - softmax(z_t/T)) / N: with the T^2
  // factor the gradient grows with T instead of shrinking as 1/T.
  const double t = 4;
  torch::Tensor student = ToTensor(kStudent).requires_grad_(true);
  torch::Tensor teacher = ToTensor(kTeacher).requires_grad_(true);
  DistillationLoss(student, teacher, t).backward();
  for (size_t i = 0; i < kStudent.size(); ++i) {
    const std::vector<double> ps = Softmax(kStudent[i], t), pt = Softmax(kTeacher[i], t);
    for (size_t k = 0; k < ps.size(); ++k) {
      EXPECT_NEAR(student.grad()[i][k].item<double>(), t * (ps[k] - pt[k]) / kStudent.size(),
                  1e-12);
    }
  }
  EXPECT_FALSE(teacher.grad().defined());
}

}  // namespace
}  // namespace fedge::distill
