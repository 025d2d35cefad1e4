// ClientHost in check-in mode (the SDK's run-once) and Leave, against a
// coordinator played by the test over a real ROUTER socket.

#include <mutex>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/client_host.h"
#include "tests/client/client_host_fixture.h"
#include "tests/testing/status_matchers.h"

namespace fedge::client {
namespace {

using ::fedge::testing::IsOk;

class CheckInHostTest : public SignedModelTest {
 protected:
  // Check-in mode, holding `held` already; models passing the gate recorded.
  void StartCheckIn(std::optional<uint64_t> held) {
    configure_ = [this, held](ClientHostOptions& o) {
      o.stop_after_tasks = 1;
      o.held_model_version = held;
      o.on_model = [this](uint64_t version, const protocol::ModelPayload&,
                          const protocol::ModelSignature&) {
        std::lock_guard<std::mutex> lock(mu_);
        models_.push_back(version);
      };
    };
    StartHost({4});
  }
  protocol::GlobalModel Model(uint64_t version, const protocol::ModelSigner& signer) {
    protocol::Task t = Signed(1, version, signer);
    return protocol::GlobalModel{version, t.model, t.signature};
  }
  // The next message must be of type T.
  template <typename T>
  T Expect() {
    auto m = coordinator_.Next();
    EXPECT_THAT(m, IsOk());
    if (!m.ok() || !std::holds_alternative<T>(m->second)) {
      ADD_FAILURE() << "unexpected message kind";
      return T();
    }
    return std::get<T>(m->second);
  }
  std::vector<uint64_t> models() {
    std::lock_guard<std::mutex> lock(mu_);
    return models_;
  }

  std::mutex mu_;
  std::vector<uint64_t> models_;
};

TEST_F(CheckInHostTest, HelloAnnouncesTheHeldModelAndRetryLaterEndsTheRun) {
  StartCheckIn(/*held=*/4);
  auto hello = coordinator_.Next();
  ASSERT_THAT(hello, IsOk());
  const auto& h = std::get<protocol::Hello>(hello->second);
  EXPECT_NE(h.capabilities & protocol::kCapCheckIn, 0u);
  EXPECT_TRUE(h.has_model);
  EXPECT_EQ(h.model_version, 4u);
  const std::string peer = hello->first;
  coordinator_.Send(peer, protocol::Welcome{4, 50, 4});
  coordinator_.Send(peer, protocol::RetryLater{1500, 30000, "not selected for round 3"});
  const protocol::Leave bye = Expect<protocol::Leave>();
  EXPECT_EQ(bye.client_id, 4u);
  JoinHost();
  EXPECT_THAT(run_status_, IsOk());
  ASSERT_TRUE(host_->stats().retry_later.has_value());
  EXPECT_EQ(host_->stats().retry_later->after_ms, 1500u);
  EXPECT_EQ(host_->stats().retry_later->window_ms, 30000u);
  EXPECT_EQ(trainer_.calls.load(), 0);
}

TEST_F(CheckInHostTest, GlobalModelsAreCheckedBeforeTheyAreHandedOver) {
  StartCheckIn(/*held=*/4);
  const std::string peer = Register();
  coordinator_.Send(peer, Model(3, *signer_));       // older than held: rollback
  EXPECT_EQ(NextRefusal(0), protocol::ErrorCode::kRollback);
  coordinator_.Send(peer, Model(6, *Signer(9)));     // another key
  EXPECT_EQ(NextRefusal(0), protocol::ErrorCode::kBadSignature);
  coordinator_.Send(peer, Model(6, *signer_));
  coordinator_.Send(peer, protocol::RetryLater{0, 1000, "round 5 in progress"});
  Expect<protocol::Leave>();
  JoinHost();
  EXPECT_THAT(run_status_, IsOk());
  EXPECT_EQ(models(), std::vector<uint64_t>({6}));
  EXPECT_EQ(host_->stats().models_received, 1u);
  EXPECT_EQ(host_->stats().models_refused, 2u);
  EXPECT_EQ(host_->stats().tasks_refused, 0u);
}

TEST_F(CheckInHostTest, AfterItsUpdateTheHostWaitsForRetryLater) {
  StartCheckIn(std::nullopt);
  auto hello = coordinator_.Next();
  ASSERT_THAT(hello, IsOk());
  EXPECT_FALSE(std::get<protocol::Hello>(hello->second).has_model);
  const std::string peer = hello->first;
  coordinator_.Send(peer, protocol::Welcome{4, 50, 0});
  coordinator_.Send(peer, Signed(1, 2));
  EXPECT_EQ(Expect<protocol::Update>().round, 1u);
  EXPECT_EQ(models(), std::vector<uint64_t>({2}));  // the task's model
  coordinator_.Send(peer, protocol::RetryLater{7000, 30000, "update for round 1 received"});
  Expect<protocol::Leave>();
  JoinHost();
  EXPECT_THAT(run_status_, IsOk());
  ASSERT_TRUE(host_->stats().retry_later.has_value());
  EXPECT_EQ(host_->stats().retry_later->after_ms, 7000u);
  EXPECT_EQ(host_->stats().updates_sent, 1u);
  EXPECT_EQ(host_->stats().updates_refused, 0u);
}

// Only an error naming the round of the update sent counts as its refusal.
TEST_F(CheckInHostTest, AnErrorNamingTheUpdatesRoundCountsAsItsRefusal) {
  StartCheckIn(std::nullopt);
  const std::string peer = Register();
  coordinator_.Send(peer, Signed(3, 1));
  EXPECT_EQ(Expect<protocol::Update>().round, 3u);
  coordinator_.Send(peer, protocol::ErrorReply{protocol::ErrorCode::kWrongRound, 2, "old"});
  coordinator_.Send(peer, protocol::ErrorReply{protocol::ErrorCode::kWrongRound, 3, "closed"});
  coordinator_.Send(peer, protocol::RetryLater{0, 1000, "round 4 in progress"});
  Expect<protocol::Leave>();
  JoinHost();
  EXPECT_THAT(run_status_, IsOk());
  EXPECT_EQ(host_->stats().updates_sent, 1u);
  EXPECT_EQ(host_->stats().updates_refused, 1u);
  EXPECT_EQ(host_->stats().errors_received, 2u);
}

TEST_F(CheckInHostTest, WithoutRetryLaterTheRunEndsAHeartbeatAfterTheTask) {
  StartCheckIn(std::nullopt);
  const std::string peer = Register();
  coordinator_.Send(peer, Signed(1, 0));
  EXPECT_EQ(Expect<protocol::Update>().round, 1u);
  Expect<protocol::Leave>();  // sent as the run ends, without being told
  JoinHost();
  EXPECT_THAT(run_status_, IsOk());
  EXPECT_FALSE(host_->stats().retry_later.has_value());
}

TEST_F(CheckInHostTest, StoppedPersistentHostSaysItLeaves) {
  StartHost({2});
  Register();
  host_->Stop();
  auto bye = coordinator_.Next();
  ASSERT_THAT(bye, IsOk());
  ASSERT_TRUE(std::holds_alternative<protocol::Leave>(bye->second));
  EXPECT_EQ(std::get<protocol::Leave>(bye->second).client_id, 2u);
  JoinHost();
  EXPECT_EQ(run_status_.code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace fedge::client
