// PredictionService: every refusal, and the options Create refuses (fakes
// and fixture: prediction_service_fixture.h).

#include "tests/gateway/prediction_service_fixture.h"

namespace fedge::gateway {
namespace {

TEST_F(PredictionServiceTest, WithoutAModelRequestsAreRefusedAtOnce) {
  Start();
  Send("dev-1", Request(7, 2));
  // On the serving thread, inside OnFrame: no worker round trip.
  ASSERT_EQ(outbox_.size(), 1u);
  PredictReply r = ExpectRefused("dev-1", 7, ErrorCode::kNoModel);
  EXPECT_THAT(r.message, HasSubstr("no verified model"));
  EXPECT_EQ(log_->factory_calls.load(), 0);
  EXPECT_TRUE(log_->Calls().empty());
  EXPECT_EQ(service_->stats().refused, 1u);
  EXPECT_EQ(service_->stats().requests, 0u);
  EXPECT_EQ(service_->SendFinished(), 0u);
}

TEST_F(PredictionServiceTest, ARequestOverMaxRequestIsRefusedTooLarge) {
  PredictionOptions o = Options();
  o.max_request = 4;
  o.max_queued = 4;
  Start(o);
  service_->SetModel(1, protocol::ModelPayload());
  Send("dev-1", Request(5, 5));
  ASSERT_EQ(outbox_.size(), 1u);  // at once
  PredictReply r = ExpectRefused("dev-1", 5, ErrorCode::kTooLarge);
  EXPECT_THAT(r.message, HasSubstr("a request of 5 examples"));
  EXPECT_THAT(r.message, HasSubstr("at most 4"));
  // The largest allowed still runs.
  const PredictRequest q = Request(6, 4);
  Send("dev-2", q);
  AwaitSent(2);
  ExpectAnswered("dev-2", q, 1);
  EXPECT_THAT(log_->Calls(), ElementsAre(4u));
}

TEST_F(PredictionServiceTest, AFullQueueRefusesBusy) {
  PredictionOptions o = Options();
  o.max_request = 4;
  o.max_queued = 4;
  Start(o);
  service_->SetModel(1, protocol::ModelPayload());
  std::shared_ptr<Gate> gate = BlockNextCall();
  const PredictRequest first = Request(1, 4);
  Send("dev-0", first);
  // Taken off the queue: the queue is empty again while it runs.
  ASSERT_TRUE(gate->entered.WaitForNotificationWithTimeout(absl::Seconds(60)));
  const PredictRequest three = Request(2, 3);
  Send("dev-1", three);
  EXPECT_EQ(outbox_.size(), 0u);
  Send("dev-2", Request(3, 2));  // 3 + 2 > 4
  ASSERT_EQ(outbox_.size(), 1u);  // at once
  PredictReply r = ExpectRefused("dev-2", 3, ErrorCode::kBusy);
  EXPECT_THAT(r.message, HasSubstr("3 examples wait already"));
  EXPECT_THAT(r.message, HasSubstr("--predict_queue=4"));
  const PredictRequest one = Request(4, 1);  // 3 + 1 fits
  Send("dev-3", one);
  EXPECT_EQ(outbox_.size(), 1u);
  gate->release.Notify();
  AwaitSent(4);
  ExpectAnswered("dev-0", first, 1);
  ExpectAnswered("dev-1", three, 1);
  ExpectAnswered("dev-3", one, 1);
  EXPECT_THAT(log_->Calls(), ElementsAre(4u, 4u));
  EXPECT_EQ(service_->stats().refused, 1u);

  // The queue drained: a request of the largest size is taken again.
  const PredictRequest again = Request(5, 4);
  Send("dev-2", again);
  AwaitSent(5);
  ASSERT_EQ(outbox_.RepliesTo("dev-2").size(), 2u);
  EXPECT_TRUE(outbox_.RepliesTo("dev-2")[1].ok);
  EXPECT_EQ(outbox_.RepliesTo("dev-2")[1].request_id, 5u);
}

// A frame larger than max_request examples of the model's input could
// carry is refused before it is decoded, with TOO_LARGE.
TEST_F(PredictionServiceTest, AFrameLargerThanTheModelCanBeAskedIsRefusedUndecoded) {
  PredictionOptions options = Options();
  options.max_request = 4;
  Start(options);
  protocol::ModelPayload model;
  model.task.input_shape = {static_cast<int64_t>(kIn)};
  service_->SetModel(1, model);
  PredictRequest huge = Request(1, 1);
  huge.count = 200;  // whole examples, so only the size can refuse it
  huge.inputs.assign(200 * kIn, 0.5f);
  service_->OnFrame(coordinator::Sender{"dev-1", ""}, protocol::Encode(huge), absl::Now());
  ASSERT_EQ(outbox_.size(), 1u);  // at once
  std::vector<protocol::ErrorReply> errors = outbox_.ErrorsTo("dev-1");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, ErrorCode::kTooLarge);
  EXPECT_THAT(errors[0].message, HasSubstr("prediction request"));
  // A request of the largest size still fits.
  const PredictRequest largest = Request(2, 4);
  Send("dev-2", largest);
  AwaitSent(2);
  ExpectAnswered("dev-2", largest, 1);
  EXPECT_EQ(log_->factory_calls.load(), 1);
}

TEST_F(PredictionServiceTest, AnUndecodableFrameGetsAnErrorReply) {
  Start();
  service_->SetModel(1, protocol::ModelPayload());
  PredictRequest no_examples;
  no_examples.request_id = 9;
  no_examples.count = 0;
  service_->OnFrame(coordinator::Sender{"dev-1", ""}, protocol::Encode(no_examples), absl::Now());
  std::string cut = protocol::Encode(Request(10, 2));
  cut.resize(cut.size() - 3);
  service_->OnFrame(coordinator::Sender{"dev-2", ""}, cut, absl::Now());
  std::string other_version = protocol::Encode(Request(11, 1));
  other_version[4] = static_cast<char>(protocol::kProtocolVersion + 1);
  service_->OnFrame(coordinator::Sender{"dev-3", ""}, other_version, absl::Now());

  ASSERT_EQ(outbox_.size(), 3u);  // at once
  for (const char* peer : {"dev-1", "dev-2", "dev-3"}) {
    EXPECT_TRUE(outbox_.RepliesTo(peer).empty()) << peer;
    ASSERT_EQ(outbox_.ErrorsTo(peer).size(), 1u) << peer;
    EXPECT_THAT(outbox_.ErrorsTo(peer)[0].message, HasSubstr("prediction request")) << peer;
  }
  EXPECT_EQ(outbox_.ErrorsTo("dev-1")[0].code, ErrorCode::kMalformed);
  EXPECT_THAT(outbox_.ErrorsTo("dev-1")[0].message, HasSubstr("whole examples"));
  EXPECT_EQ(outbox_.ErrorsTo("dev-2")[0].code, ErrorCode::kMalformed);
  EXPECT_EQ(outbox_.ErrorsTo("dev-3")[0].code, ErrorCode::kVersionMismatch);
  EXPECT_EQ(service_->stats().refused, 3u);
  EXPECT_TRUE(log_->Calls().empty());
  EXPECT_EQ(log_->factory_calls.load(), 0);
}

TEST_F(PredictionServiceTest, AModelThatCannotLoadIsRefusedInternalAndNotRetried) {
  Start();
  log_->fail_factory = true;
  service_->SetModel(9, protocol::ModelPayload());
  Send("dev-1", Request(1, 2));
  AwaitSent(1);
  PredictReply r = ExpectRefused("dev-1", 1, ErrorCode::kInternal);
  EXPECT_THAT(r.message, HasSubstr("cannot run model 9"));
  EXPECT_THAT(r.message, HasSubstr("not a TorchScript archive"));
  EXPECT_EQ(log_->factory_calls.load(), 1);

  // The same version fails the same way: not loaded again.
  Send("dev-2", Request(2, 1));
  AwaitSent(2);
  r = ExpectRefused("dev-2", 2, ErrorCode::kInternal);
  EXPECT_THAT(r.message, HasSubstr("cannot run model 9"));
  EXPECT_EQ(log_->factory_calls.load(), 1);
  EXPECT_TRUE(log_->Calls().empty());
  EXPECT_EQ(service_->stats().refused, 2u);
  EXPECT_EQ(service_->stats().batches, 0u);

  // A newer model is tried.
  log_->fail_factory = false;
  service_->SetModel(10, protocol::ModelPayload());
  const PredictRequest q = Request(3, 1);
  Send("dev-3", q);
  AwaitSent(3);
  ExpectAnswered("dev-3", q, 10);
  EXPECT_EQ(log_->factory_calls.load(), 2);
}

// Also when the first model anyone serves is version 0 (see above).
TEST_F(PredictionServiceTest, AVersionZeroModelThatCannotLoadIsRefusedInternal) {
  Start();
  log_->fail_factory = true;
  service_->SetModel(0, protocol::ModelPayload());
  Send("dev-1", Request(1, 1));
  AwaitSent(1);
  PredictReply r = ExpectRefused("dev-1", 1, ErrorCode::kInternal);
  EXPECT_THAT(r.message, HasSubstr("cannot run model 0"));
  Send("dev-1", Request(2, 1));
  AwaitSent(2);
  EXPECT_EQ(outbox_.RepliesTo("dev-1").back().code, ErrorCode::kInternal);
  EXPECT_EQ(log_->factory_calls.load(), 1);
}

TEST_F(PredictionServiceTest, AFailedPredictionRefusesEveryRequestOfTheBatch) {
  Start();
  service_->SetModel(2, protocol::ModelPayload());
  log_->fail_predict = true;
  std::shared_ptr<Gate> gate = BlockNextCall();
  Send("dev-0", Request(1, 1));
  ASSERT_TRUE(gate->entered.WaitForNotificationWithTimeout(absl::Seconds(60)));
  Send("dev-1", Request(2, 1));
  Send("dev-2", Request(3, 2));
  gate->release.Notify();
  AwaitSent(3);
  for (const auto& [peer, id] : std::vector<std::pair<std::string, uint64_t>>{
           {"dev-0", 1}, {"dev-1", 2}, {"dev-2", 3}}) {
    PredictReply r = ExpectRefused(peer, id, ErrorCode::kInternal);
    EXPECT_THAT(r.message, HasSubstr("the model blew up"));
  }
  EXPECT_THAT(log_->Calls(), ElementsAre(1u, 3u));
  const PredictionStats s = service_->stats();
  EXPECT_EQ(s.requests, 0u);
  EXPECT_EQ(s.examples, 0u);
  EXPECT_EQ(s.batches, 2u);
  EXPECT_EQ(s.refused, 3u);
}

TEST(PredictionServiceCreateTest, OptionsOutOfRangeAreRefused) {
  RecordingOutbox outbox;
  PredictionOptions o = Options();
  o.max_batch = 0;
  EXPECT_THAT(PredictionService::Create(o, &outbox),
              StatusIs(absl::StatusCode::kInvalidArgument, "--predict_max_batch"));
  o = Options();
  o.max_request = 0;
  EXPECT_THAT(PredictionService::Create(o, &outbox),
              StatusIs(absl::StatusCode::kInvalidArgument, "--predict_max_request"));
  o = Options();
  o.threads = 0;
  EXPECT_THAT(PredictionService::Create(o, &outbox),
              StatusIs(absl::StatusCode::kInvalidArgument, "--predict_threads"));
  o = Options();
  o.max_request = 4;
  o.max_queued = 3;
  EXPECT_THAT(PredictionService::Create(o, &outbox),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--predict_queue (3) must be at least --predict_max_request (4)"));
  o.max_queued = 4;
  o.max_batch = 1;
  EXPECT_THAT(PredictionService::Create(o, &outbox), IsOk());
  EXPECT_TRUE(outbox.sent().empty());
}

}  // namespace
}  // namespace fedge::gateway
