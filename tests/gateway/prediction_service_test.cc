// Gateway inference (gateway/prediction_service.h), sans I/O and sans
// LibTorch: a fake predictor and an outbox that decodes what it is given.
// The test is the serving thread: it hands frames to OnFrame and, when the
// service's eventfd turns readable, calls SendFinished, as the
// CoordinatorServer's loop would. The worker is held inside Predict by a gate
// (absl::Notification) so that requests queue behind a running batch; no
// test sleeps.

#include "gateway/prediction_service.h"

#include <poll.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "protocol/codec.h"
#include "tests/testing/status_matchers.h"

namespace fedge::gateway {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using protocol::ErrorCode;
using protocol::PredictReply;
using protocol::PredictRequest;

constexpr size_t kIn = 3;   // floats per example the fake model takes
constexpr size_t kOut = 2;  // and gives

// Holds one Predict call: it notifies `entered`, then waits for `release`.
struct Gate {
  absl::Notification entered;
  absl::Notification release;
};

// What the fake predictors and the factory saw; shared with the test (the
// predictors themselves belong to the service).
struct PredictorLog {
  absl::Mutex mu;
  std::vector<size_t> calls ABSL_GUARDED_BY(mu);  // n of each Predict call
  std::shared_ptr<Gate> next_gate ABSL_GUARDED_BY(mu);
  std::atomic<int> factory_calls{0};
  std::atomic<bool> fail_factory{false};
  std::atomic<bool> fail_predict{false};

  std::vector<size_t> Calls() {
    absl::MutexLock lock(&mu);
    return calls;
  }
};

// Example i's outputs: the sum of its inputs, plus j for output j.
class FakePredictor final : public client::PluginPredictor {
 public:
  explicit FakePredictor(std::shared_ptr<PredictorLog> log) : log_(std::move(log)) {}

  absl::Status Predict(absl::Span<const float> inputs, size_t n,
                       absl::Span<float> outputs) override {
    std::shared_ptr<Gate> gate;
    {
      absl::MutexLock lock(&log_->mu);
      log_->calls.push_back(n);
      gate = std::move(log_->next_gate);
      log_->next_gate = nullptr;
    }
    if (gate != nullptr) {
      gate->entered.Notify();
      gate->release.WaitForNotification();
    }
    if (inputs.size() != n * kIn || outputs.size() != n * kOut) {
      ADD_FAILURE() << "Predict given " << inputs.size() << " inputs and " << outputs.size()
                    << " outputs for " << n << " examples";
      return absl::InternalError("wrong sizes");
    }
    if (log_->fail_predict.load()) return absl::InternalError("the model blew up");
    for (size_t i = 0; i < n; ++i) {
      float sum = 0;
      for (size_t k = 0; k < kIn; ++k) sum += inputs[i * kIn + k];
      for (size_t j = 0; j < kOut; ++j) outputs[i * kOut + j] = sum + static_cast<float>(j);
    }
    return absl::OkStatus();
  }
  size_t input_size() const override { return kIn; }
  size_t output_size() const override { return kOut; }

 private:
  std::shared_ptr<PredictorLog> log_;
};

// What the fake predictor answers for `inputs`.
std::vector<float> Expected(const std::vector<float>& inputs) {
  std::vector<float> out;
  for (size_t i = 0; i < inputs.size() / kIn; ++i) {
    float sum = 0;
    for (size_t k = 0; k < kIn; ++k) sum += inputs[i * kIn + k];
    for (size_t j = 0; j < kOut; ++j) out.push_back(sum + static_cast<float>(j));
  }
  return out;
}

// `count` examples of inputs derived from `id` and `salt`.
PredictRequest Request(uint64_t id, uint32_t count, float salt = 0) {
  PredictRequest r;
  r.request_id = id;
  r.client_id = 1000 + id;
  r.count = count;
  for (size_t i = 0; i < count * kIn; ++i) {
    r.inputs.push_back(static_cast<float>(id) * 10.0f + salt + static_cast<float>(i) * 0.5f);
  }
  return r;
}

// Decodes and keeps every frame sent, with its peer, and checks that only
// the serving thread (the one that made it) sends.
class RecordingOutbox : public coordinator::Outbox {
 public:
  struct Sent {
    std::string peer;
    protocol::Message message;
  };

  absl::Status Send(const std::string& peer, std::shared_ptr<const std::string> frame) override {
    EXPECT_EQ(std::this_thread::get_id(), serving_thread_) << "sent off the serving thread";
    absl::StatusOr<protocol::Message> m = protocol::Decode(*frame);
    EXPECT_THAT(m, IsOk());
    if (m.ok()) sent_.push_back({peer, *std::move(m)});
    return absl::OkStatus();
  }

  size_t size() const { return sent_.size(); }
  const std::vector<Sent>& sent() const { return sent_; }
  // The PredictReplies sent to `peer`, oldest first.
  std::vector<PredictReply> RepliesTo(const std::string& peer) const {
    std::vector<PredictReply> out;
    for (const Sent& s : sent_) {
      if (s.peer != peer) continue;
      if (const auto* r = std::get_if<PredictReply>(&s.message)) out.push_back(*r);
    }
    return out;
  }
  std::vector<protocol::ErrorReply> ErrorsTo(const std::string& peer) const {
    std::vector<protocol::ErrorReply> out;
    for (const Sent& s : sent_) {
      if (s.peer != peer) continue;
      if (const auto* e = std::get_if<protocol::ErrorReply>(&s.message)) out.push_back(*e);
    }
    return out;
  }

 private:
  const std::thread::id serving_thread_ = std::this_thread::get_id();
  std::vector<Sent> sent_;
};

PredictionOptions Options() {
  PredictionOptions o;
  o.max_batch = 256;
  o.max_queued = 4096;
  o.max_request = 1024;
  return o;
}

class PredictionServiceTest : public ::testing::Test {
 protected:
  void Start(PredictionOptions options = Options()) {
    absl::StatusOr<std::unique_ptr<PredictionService>> s =
        PredictionService::Create(std::move(options), &outbox_, Factory());
    ASSERT_THAT(s, IsOk());
    service_ = *std::move(s);
  }

  void TearDown() override {
    // A worker still held in Predict would never join.
    for (const std::shared_ptr<Gate>& g : gates_) {
      if (!g->release.HasBeenNotified()) g->release.Notify();
    }
    service_.reset();
  }

  PredictorFactory Factory() {
    return [log = log_](const protocol::ModelPayload&)
               -> absl::StatusOr<std::unique_ptr<client::PluginPredictor>> {
      ++log->factory_calls;
      if (log->fail_factory.load()) return absl::InvalidArgumentError("not a TorchScript archive");
      return std::make_unique<FakePredictor>(log);
    };
  }

  // The next Predict call waits inside for the gate's release.
  std::shared_ptr<Gate> BlockNextCall() {
    auto gate = std::make_shared<Gate>();
    gates_.push_back(gate);
    absl::MutexLock lock(&log_->mu);
    log_->next_gate = gate;
    return gate;
  }

  void Send(const std::string& peer, const PredictRequest& request) {
    service_->OnFrame(coordinator::Sender{peer, ""}, protocol::Encode(request), absl::Now());
  }

  // As the serving loop: waits for the worker's eventfd, then sends what it
  // finished, until `total` frames in all were sent.
  void AwaitSent(size_t total) {
    while (outbox_.size() < total) {
      pollfd p{service_->wake_fd(), POLLIN, 0};
      const int ready = ::poll(&p, 1, /*timeout_ms=*/60000);
      ASSERT_EQ(ready, 1) << "the worker finished nothing in 60 s; " << outbox_.size() << " of "
                          << total << " frames sent";
      service_->SendFinished();
    }
    EXPECT_EQ(outbox_.size(), total);
  }

  // The one reply to `peer`, checked to answer `request` with the fake
  // model's outputs from `version`.
  void ExpectAnswered(const std::string& peer, const PredictRequest& request, uint64_t version) {
    std::vector<PredictReply> replies = outbox_.RepliesTo(peer);
    ASSERT_EQ(replies.size(), 1u) << peer;
    const PredictReply& r = replies[0];
    EXPECT_TRUE(r.ok) << peer << ": " << protocol::ErrorCodeName(r.code) << " " << r.message;
    EXPECT_EQ(r.request_id, request.request_id) << peer;
    EXPECT_EQ(r.model_version, version) << peer;
    EXPECT_EQ(r.count, request.count) << peer;
    EXPECT_EQ(r.output_size, kOut) << peer;
    EXPECT_EQ(r.outputs, Expected(request.inputs)) << peer;
  }

  // The one reply to `peer`: a refusal of `request_id` with `code`.
  PredictReply ExpectRefused(const std::string& peer, uint64_t request_id, ErrorCode code) {
    std::vector<PredictReply> replies = outbox_.RepliesTo(peer);
    EXPECT_EQ(replies.size(), 1u) << peer;
    if (replies.empty()) return {};
    const PredictReply& r = replies[0];
    EXPECT_FALSE(r.ok) << peer;
    EXPECT_EQ(r.code, code) << peer << ": " << protocol::ErrorCodeName(r.code) << " " << r.message;
    EXPECT_EQ(r.request_id, request_id) << peer;
    EXPECT_TRUE(r.outputs.empty()) << peer;
    EXPECT_EQ(r.model_version, 0u) << peer;
    return r;
  }

  std::shared_ptr<PredictorLog> log_ = std::make_shared<PredictorLog>();
  RecordingOutbox outbox_;
  std::vector<std::shared_ptr<Gate>> gates_;
  std::unique_ptr<PredictionService> service_;  // last: stopped first
};

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
