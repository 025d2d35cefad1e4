#ifndef FEDGE_TESTS_CLIENT_CLIENT_HOST_FIXTURE_H_
#define FEDGE_TESTS_CLIENT_CLIENT_HOST_FIXTURE_H_

// ClientHost test fixtures: a coordinator played by the test over a real
// ZeroMQ ROUTER socket, and a fake Trainer (no torch). Shared by the
// client_host tests.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "client/client_host.h"
#include "protocol/codec.h"
#include "protocol/model_signature.h"
#include "protocol/wire.h"
#include "tests/testing/status_matchers.h"

namespace fedge::client {
namespace {

using ::fedge::testing::IsOk;

struct FakeTrainerState {
  std::atomic<int> calls{0};
  absl::Status result;
};

class FakeTrainer : public Trainer {
 public:
  explicit FakeTrainer(FakeTrainerState* state) : state_(state) {}
  absl::Status Train(const protocol::Task& task, const Dataset& data, const StopPredicate&,
                     TrainOutcome* out) override {
    ++state_->calls;
    if (!state_->result.ok()) return state_->result;
    out->delta.assign(task.model.weights.size(), 0.5f);
    out->num_examples = static_cast<uint64_t>(data.size());
    out->metrics.loss = 1.25f;
    return absl::OkStatus();
  }
  std::vector<std::string> CachedArchitectures() const override { return {}; }

 private:
  FakeTrainerState* state_;
};

Dataset Examples(int n) {
  Dataset d;
  d.example_shape = {1};
  d.storage = data::Storage::kUint8;
  d.bytes.assign(n, 1);
  d.targets.assign(n, 0);
  return d;
}

protocol::Task SmallTask(uint64_t round) {
  protocol::Task t;
  t.round = round;
  t.model_version = round - 1;
  t.model.manifest.tensors = {{"w", {3}, protocol::DType::kFloat32}};
  t.model.architecture_id = "builtin:mlp";
  t.model.weights = {1, 2, 3};
  return t;
}

// The coordinator's side of the conversation, driven by the test.
class FakeCoordinator {
 public:
  FakeCoordinator() : router_(ctx_, zmq::socket_type::router) {
    router_.set(zmq::sockopt::linger, 0);
    endpoint_ = *protocol::Bind(router_, "tcp://127.0.0.1:*");
  }
  const std::string& endpoint() const { return endpoint_; }

  // Next non-heartbeat message from any client, or an error after `timeout`.
  absl::StatusOr<std::pair<std::string, protocol::Message>> Next(
      absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
      auto ready = protocol::Poll(&item, 1, deadline - absl::Now());
      if (!ready.ok()) return ready.status();
      auto in = protocol::ReceiveRouted(router_);
      if (!in.ok()) return in.status();
      if (!in->has_value()) continue;
      auto m = protocol::Decode(protocol::View((*in)->frame));
      if (!m.ok()) return m.status();
      if (std::holds_alternative<protocol::Heartbeat>(*m)) continue;
      return std::make_pair((*in)->peer, *std::move(m));
    }
    return absl::DeadlineExceededError("no message from the client");
  }
  template <typename T>
  void Send(const std::string& peer, const T& m) {
    ASSERT_THAT(protocol::SendRouted(router_, peer, protocol::ToMessage(protocol::Encode(m))), IsOk());
  }
  void SendRaw(const std::string& peer, const std::string& bytes) {
    ASSERT_THAT(protocol::SendRouted(router_, peer, protocol::ToMessage(bytes)), IsOk());
  }

 private:
  zmq::context_t ctx_;
  zmq::socket_t router_;
  std::string endpoint_;
};

class ClientHostTest : public ::testing::Test {
 protected:
  void StartHost(std::vector<uint64_t> ids) {
    std::vector<LogicalClientSpec> specs;
    for (uint64_t id : ids) {
      LogicalClientSpec s;
      s.client_id = id;
      s.num_examples = 10 + id;
      s.data = [this, id]() -> absl::StatusOr<Dataset> {
        ++data_loads_;
        return Examples(static_cast<int>(10 + id));
      };
      specs.push_back(std::move(s));
    }
    ClientHostOptions opts;
    opts.coordinator_endpoint = coordinator_.endpoint();
    opts.heartbeat_interval = absl::Milliseconds(50);
    opts.model_verifier = verifier_;
    if (configure_) configure_(opts);
    host_ = std::make_unique<ClientHost>(
        opts, [this]() -> absl::StatusOr<std::unique_ptr<Trainer>> {
          if (!factory_error_.ok()) return factory_error_;
          return std::unique_ptr<Trainer>(new FakeTrainer(&trainer_));
        },
        std::move(specs));
    runner_ = std::thread([this] { run_status_ = host_->Run(); });
  }
  void JoinHost() {
    if (runner_.joinable()) runner_.join();
  }
  void TearDown() override {
    if (runner_.joinable()) {
      host_->Stop();
      runner_.join();
    }
  }
  // Waits for a Hello and answers Welcome; returns the peer.
  std::string Register() {
    auto hello = coordinator_.Next();
    EXPECT_THAT(hello, IsOk());
    if (!hello.ok()) return "";
    EXPECT_TRUE(std::holds_alternative<protocol::Hello>(hello->second));
    const auto& h = std::get<protocol::Hello>(hello->second);
    coordinator_.Send(hello->first, protocol::Welcome{h.client_id, 50, 0});
    return hello->first;
  }

  FakeCoordinator coordinator_;
  FakeTrainerState trainer_;
  absl::Status factory_error_;
  std::atomic<int> data_loads_{0};
  std::unique_ptr<ClientHost> host_;
  std::thread runner_;
  absl::Status run_status_;
  std::shared_ptr<const protocol::ModelVerifier> verifier_;  // null: accept unsigned
  std::function<void(ClientHostOptions&)> configure_;         // more options, if set
};

class SignedModelTest : public ClientHostTest {
 protected:
  void SetUp() override {
    signer_ = Signer(1);
    auto verifier = protocol::ModelVerifier::Create(signer_->public_key());
    ASSERT_THAT(verifier, IsOk());
    verifier_ = *std::move(verifier);
  }
  static std::unique_ptr<protocol::ModelSigner> Signer(uint8_t seed) {
    auto s = protocol::ModelSigner::Create(std::vector<uint8_t>(32, seed));
    EXPECT_THAT(s, IsOk());
    return *std::move(s);
  }
  static protocol::Task Signed(uint64_t round, uint64_t version,
                               const protocol::ModelSigner& signer) {
    protocol::Task t = SmallTask(round);
    t.model_version = version;
    auto sig = signer.Sign(version, t.model);
    EXPECT_THAT(sig, IsOk());
    t.signature = *sig;
    return t;
  }
  protocol::Task Signed(uint64_t round, uint64_t version) {
    return Signed(round, version, *signer_);
  }
  // The next message must be an ErrorReply; its code.
  protocol::ErrorCode NextRefusal(uint64_t round) {
    auto reply = coordinator_.Next();
    EXPECT_THAT(reply, IsOk());
    if (!reply.ok() || !std::holds_alternative<protocol::ErrorReply>(reply->second)) {
      ADD_FAILURE() << "expected an ErrorReply";
      return protocol::ErrorCode::kInternal;
    }
    EXPECT_EQ(std::get<protocol::ErrorReply>(reply->second).round, round);
    return std::get<protocol::ErrorReply>(reply->second).code;
  }
  uint64_t NextUpdateRound() {
    auto update = coordinator_.Next();
    EXPECT_THAT(update, IsOk());
    if (!update.ok() || !std::holds_alternative<protocol::Update>(update->second)) {
      ADD_FAILURE() << "expected an Update";
      return 0;
    }
    return std::get<protocol::Update>(update->second).round;
  }
  std::unique_ptr<protocol::ModelSigner> signer_;
};

}  // namespace
}  // namespace fedge::client

#endif  // FEDGE_TESTS_CLIENT_CLIENT_HOST_FIXTURE_H_
