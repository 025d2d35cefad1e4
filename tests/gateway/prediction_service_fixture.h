#ifndef FEDGE_TESTS_GATEWAY_PREDICTION_SERVICE_FIXTURE_H_
#define FEDGE_TESTS_GATEWAY_PREDICTION_SERVICE_FIXTURE_H_

// Gateway inference (gateway/prediction_service.h), sans I/O and sans
// LibTorch: a fake predictor and an outbox that decodes what it is given.
// The test is the serving thread: it hands frames to OnFrame and, when the
// service's eventfd turns readable, calls SendFinished, as the
// CoordinatorServer's loop would. The worker is held inside Predict by a gate
// (absl::Notification) so that requests queue behind a running batch; no
// test sleeps.
//
// The fakes and the fixture shared by prediction_service_test.cc (answers,
// batching, models) and prediction_service_refusal_test.cc (refusals).

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
inline std::vector<float> Expected(const std::vector<float>& inputs) {
  std::vector<float> out;
  for (size_t i = 0; i < inputs.size() / kIn; ++i) {
    float sum = 0;
    for (size_t k = 0; k < kIn; ++k) sum += inputs[i * kIn + k];
    for (size_t j = 0; j < kOut; ++j) out.push_back(sum + static_cast<float>(j));
  }
  return out;
}

// `count` examples of inputs derived from `id` and `salt`.
inline PredictRequest Request(uint64_t id, uint32_t count, float salt = 0) {
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

inline PredictionOptions Options() {
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

}  // namespace fedge::gateway

#endif  // FEDGE_TESTS_GATEWAY_PREDICTION_SERVICE_FIXTURE_H_
