// PredictionService: answers, batching, models (fakes and fixture:
// prediction_service_fixture.h).

#include "tests/gateway/prediction_service_fixture.h"

namespace fedge::gateway {
namespace {

TEST_F(PredictionServiceTest, ARequestIsAnsweredWithTheModelsOutputs) {
  Start();
  service_->SetModel(4, protocol::ModelPayload());
  const PredictRequest q = Request(7, 2);
  Send("dev-1", q);
  AwaitSent(1);
  ExpectAnswered("dev-1", q, 4);
  EXPECT_THAT(log_->Calls(), ElementsAre(2u));
  EXPECT_EQ(log_->factory_calls.load(), 1);

  // The predictor is kept for the next request.
  const PredictRequest q2 = Request(8, 1);
  Send("dev-2", q2);
  AwaitSent(2);
  ExpectAnswered("dev-2", q2, 4);
  EXPECT_EQ(log_->factory_calls.load(), 1);
}

// The root's first task carries model version 0 (coordinator/rounds.cc
// increments after each round), so a gateway serves version 0 first.
TEST_F(PredictionServiceTest, ModelVersionZeroIsServed) {
  Start();
  service_->SetModel(0, protocol::ModelPayload());
  const PredictRequest q = Request(3, 1);
  Send("dev-1", q);
  AwaitSent(1);
  ExpectAnswered("dev-1", q, 0);
  EXPECT_EQ(log_->factory_calls.load(), 1);
}

TEST_F(PredictionServiceTest, RequestsQueuedBehindARunningBatchRunAsOneCall) {
  Start();
  service_->SetModel(1, protocol::ModelPayload());
  std::shared_ptr<Gate> gate = BlockNextCall();
  const PredictRequest first = Request(1, 1);
  Send("dev-0", first);
  ASSERT_TRUE(gate->entered.WaitForNotificationWithTimeout(absl::Seconds(60)));

  // Five devices ask while the worker runs the first; the same request id
  // from two of them, which only the peer tells apart.
  std::vector<std::pair<std::string, PredictRequest>> queued;
  for (uint32_t i = 1; i <= 5; ++i) {
    queued.emplace_back(absl::StrCat("dev-", i), Request(i == 5 ? 11 : 10 + i, i, i * 100.0f));
  }
  uint32_t total = 0;
  for (const auto& [peer, q] : queued) {
    Send(peer, q);
    total += q.count;
  }
  EXPECT_EQ(outbox_.size(), 0u);  // all queued, none refused
  gate->release.Notify();
  AwaitSent(6);

  EXPECT_THAT(log_->Calls(), ElementsAre(1u, total));
  ExpectAnswered("dev-0", first, 1);
  for (const auto& [peer, q] : queued) ExpectAnswered(peer, q, 1);
  const PredictionStats s = service_->stats();
  EXPECT_EQ(s.batches, 2u);
  EXPECT_EQ(s.requests, 6u);
  EXPECT_EQ(s.examples, 1u + total);
  EXPECT_EQ(s.largest_batch, total);
  EXPECT_EQ(s.refused, 0u);
}

TEST_F(PredictionServiceTest, MaxBatchBoundsABatchButNeverSplitsARequest) {
  PredictionOptions o = Options();
  o.max_batch = 3;
  Start(o);
  service_->SetModel(1, protocol::ModelPayload());
  std::shared_ptr<Gate> gate = BlockNextCall();
  const PredictRequest first = Request(1, 2);
  Send("dev-0", first);
  ASSERT_TRUE(gate->entered.WaitForNotificationWithTimeout(absl::Seconds(60)));
  std::vector<PredictRequest> queued;
  for (uint64_t i = 1; i <= 4; ++i) {
    queued.push_back(Request(10 + i, 2));
    Send(absl::StrCat("dev-", i), queued.back());
  }
  gate->release.Notify();
  AwaitSent(5);
  // Two requests of 2 are more than 3: one request a call.
  EXPECT_THAT(log_->Calls(), ElementsAre(2u, 2u, 2u, 2u, 2u));
  ExpectAnswered("dev-0", first, 1);
  for (uint64_t i = 1; i <= 4; ++i) ExpectAnswered(absl::StrCat("dev-", i), queued[i - 1], 1);
}

TEST_F(PredictionServiceTest, BatchesFillUpToMaxBatchInOrderAndALargerRequestRunsAlone) {
  PredictionOptions o = Options();
  o.max_batch = 5;
  o.max_request = 8;  // may exceed max_batch
  o.max_queued = 64;
  Start(o);
  service_->SetModel(1, protocol::ModelPayload());
  std::shared_ptr<Gate> gate = BlockNextCall();
  const PredictRequest first = Request(1, 2);
  Send("dev-0", first);
  ASSERT_TRUE(gate->entered.WaitForNotificationWithTimeout(absl::Seconds(60)));
  // Queued in this order: [2 2 1] [3] [7] [1] (3 + 7 > 5; 7 alone).
  const std::vector<uint32_t> counts = {2, 2, 1, 3, 7, 1};
  std::vector<PredictRequest> queued;
  for (size_t i = 0; i < counts.size(); ++i) {
    queued.push_back(Request(20 + i, counts[i]));
    Send(absl::StrCat("dev-", i + 1), queued.back());
  }
  EXPECT_EQ(outbox_.size(), 0u);
  gate->release.Notify();
  AwaitSent(1 + counts.size());
  EXPECT_THAT(log_->Calls(), ElementsAre(2u, 5u, 3u, 7u, 1u));
  ExpectAnswered("dev-0", first, 1);
  for (size_t i = 0; i < counts.size(); ++i) {
    ExpectAnswered(absl::StrCat("dev-", i + 1), queued[i], 1);
  }
  EXPECT_EQ(service_->stats().largest_batch, 7u);
  EXPECT_EQ(service_->stats().batches, 5u);
}

TEST_F(PredictionServiceTest, WrongInputLengthIsRefusedAndTheRestOfTheBatchRuns) {
  Start();
  service_->SetModel(6, protocol::ModelPayload());
  std::shared_ptr<Gate> gate = BlockNextCall();
  const PredictRequest first = Request(1, 1);
  Send("dev-0", first);
  ASSERT_TRUE(gate->entered.WaitForNotificationWithTimeout(absl::Seconds(60)));
  const PredictRequest good1 = Request(2, 2);
  PredictRequest bad;  // whole examples on the wire, of 2 floats, not 3
  bad.request_id = 3;
  bad.count = 2;
  bad.inputs = {1, 2, 3, 4};
  const PredictRequest good2 = Request(4, 3);
  Send("dev-a", good1);
  Send("dev-b", bad);
  Send("dev-c", good2);
  gate->release.Notify();
  AwaitSent(4);

  PredictReply r = ExpectRefused("dev-b", 3, ErrorCode::kWrongLength);
  EXPECT_THAT(r.message, HasSubstr("4 inputs for 2 examples"));
  EXPECT_THAT(r.message, HasSubstr("takes 3 floats per example"));
  EXPECT_THAT(r.message, HasSubstr("model 6"));
  ExpectAnswered("dev-a", good1, 6);
  ExpectAnswered("dev-c", good2, 6);
  // The good ones ran as one call, without the bad one's inputs.
  EXPECT_THAT(log_->Calls(), ElementsAre(1u, 5u));
  EXPECT_EQ(service_->stats().refused, 1u);
  EXPECT_EQ(service_->stats().requests, 3u);
}

TEST_F(PredictionServiceTest, OnlyANewerModelReplacesTheServedOne) {
  Start();
  service_->SetModel(5, protocol::ModelPayload());
  Send("dev-1", Request(1, 1));
  AwaitSent(1);
  EXPECT_EQ(outbox_.RepliesTo("dev-1").back().model_version, 5u);
  EXPECT_EQ(log_->factory_calls.load(), 1);

  service_->SetModel(3, protocol::ModelPayload());  // older: ignored
  service_->SetModel(5, protocol::ModelPayload());  // the same: ignored
  Send("dev-1", Request(2, 1));
  AwaitSent(2);
  ASSERT_TRUE(outbox_.RepliesTo("dev-1").back().ok);
  EXPECT_EQ(outbox_.RepliesTo("dev-1").back().model_version, 5u);
  EXPECT_EQ(log_->factory_calls.load(), 1);

  service_->SetModel(7, protocol::ModelPayload());  // newer: loaded
  const PredictRequest q = Request(3, 2);
  Send("dev-2", q);
  AwaitSent(3);
  ExpectAnswered("dev-2", q, 7);
  EXPECT_EQ(log_->factory_calls.load(), 2);
}

TEST_F(PredictionServiceTest, StatsCountRequestsExamplesBatchesAndRefusals) {
  PredictionOptions o = Options();
  o.max_request = 8;
  Start(o);
  EXPECT_EQ(service_->stats().requests, 0u);
  Send("dev-9", Request(99, 1));  // no model: refused
  service_->SetModel(1, protocol::ModelPayload());
  std::shared_ptr<Gate> gate = BlockNextCall();
  Send("dev-0", Request(1, 2));
  ASSERT_TRUE(gate->entered.WaitForNotificationWithTimeout(absl::Seconds(60)));
  Send("dev-1", Request(2, 3));
  Send("dev-2", Request(3, 4));
  PredictRequest bad;
  bad.request_id = 4;
  bad.count = 1;
  bad.inputs = {1};
  Send("dev-3", bad);                // wrong length: refused by the worker
  Send("dev-4", Request(5, 9));      // too large: refused at once
  service_->OnFrame(coordinator::Sender{"dev-5", ""}, "FEDG", absl::Now());  // undecodable
  gate->release.Notify();
  AwaitSent(7);
  const PredictionStats s = service_->stats();
  EXPECT_EQ(s.requests, 3u);
  EXPECT_EQ(s.examples, 2u + 3u + 4u);
  EXPECT_EQ(s.batches, 2u);
  EXPECT_EQ(s.largest_batch, 7u);
  EXPECT_EQ(s.refused, 4u);
}

}  // namespace
}  // namespace fedge::gateway
