#include "coordinator/federated_evaluation.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace fedge::coordinator {
namespace {

protocol::Update Result(uint64_t examples, float loss, float accuracy) {
  protocol::Update u;
  u.round = 1;
  u.num_examples = examples;
  u.metrics.loss = loss;
  u.metrics.accuracy = accuracy;
  return u;
}

const absl::Time kDeadline = absl::FromUnixSeconds(100);

TEST(FederatedEvaluationTest, CombinesMeansWeightedByExamples) {
  FederatedEvaluation e({"a", "b", "c"}, /*has_accuracy=*/true, kDeadline);
  EXPECT_EQ(e.OnResult("a", Result(10, 1.0f, 0.5f)), std::nullopt);
  EXPECT_FALSE(e.Done(absl::FromUnixSeconds(1)));
  EXPECT_EQ(e.OnResult("b", Result(30, 2.0f, 0.75f)), std::nullopt);
  e.Drop("c");
  EXPECT_TRUE(e.Done(absl::FromUnixSeconds(1)));
  const FederatedMetrics m = e.Result();
  EXPECT_EQ(m.asked, 3u);
  EXPECT_EQ(m.clients, 2u);
  EXPECT_EQ(m.examples, 40);
  EXPECT_DOUBLE_EQ(m.loss, (10 * 1.0 + 30 * 2.0) / 40);
  EXPECT_DOUBLE_EQ(m.accuracy, (10 * 0.5 + 30 * 0.75) / 40);
}

TEST(FederatedEvaluationTest, RefusesWhatIsNotAnEvaluationResult) {
  FederatedEvaluation e({"a", "b"}, true, kDeadline);
  protocol::Update training = Result(10, 1, 1);
  training.delta = {0.5f};
  std::optional<Refusal> r = e.OnResult("a", training);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, protocol::ErrorCode::kWrongRound);
  EXPECT_FALSE(r->drop);
  r = e.OnResult("x", Result(10, 1, 1));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, protocol::ErrorCode::kNotInCohort);
  EXPECT_EQ(e.OnResult("a", Result(10, 1, 1)), std::nullopt);
  r = e.OnResult("a", Result(10, 1, 1));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, protocol::ErrorCode::kDuplicate);
  r = e.OnResult("b", Result(10, NAN, 1));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, protocol::ErrorCode::kNonFinite);
  EXPECT_TRUE(r->drop);
  EXPECT_TRUE(e.Done(absl::FromUnixSeconds(1)));  // b is no longer waited for
  EXPECT_EQ(e.Result().clients, 1u);
  EXPECT_DOUBLE_EQ(e.Result().loss, 1.0);  // the refused result counts nowhere
}

TEST(FederatedEvaluationTest, EndsAtTheDeadlineWithWhatArrived) {
  FederatedEvaluation e({"a", "b"}, false, kDeadline);
  protocol::Update u = Result(4, 0.5f, 0);
  u.metrics.mse = 0.5f;
  u.metrics.mae = 0.25f;
  EXPECT_EQ(e.OnResult("a", u), std::nullopt);
  EXPECT_FALSE(e.Done(kDeadline - absl::Seconds(1)));
  EXPECT_TRUE(e.Done(kDeadline));
  const FederatedMetrics m = e.Result();
  EXPECT_FALSE(m.has_accuracy);
  EXPECT_DOUBLE_EQ(m.mse, 0.5);
  EXPECT_DOUBLE_EQ(m.mae, 0.25);
  FederatedEvaluation none({"a"}, true, kDeadline);
  EXPECT_EQ(none.Result().clients, 0u);
  EXPECT_EQ(none.Result().examples, 0);
}

}  // namespace
}  // namespace fedge::coordinator
