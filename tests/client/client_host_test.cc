// ClientHost against a coordinator played by the test over a real ZeroMQ
// ROUTER socket, with a fake Trainer (no torch).

#include "client/client_host.h"

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include <zmq.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "protocol/codec.h"
#include "protocol/wire.h"
#include "protocol/model_signature.h"
#include "tests/client/client_host_fixture.h"
#include "tests/testing/status_matchers.h"

namespace fedge::client {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

TEST_F(ClientHostTest, RegistersTrainsUploadsAndShutsDown) {
  StartHost({3});
  auto hello = coordinator_.Next();
  ASSERT_THAT(hello, IsOk());
  const auto& h = std::get<protocol::Hello>(hello->second);
  EXPECT_EQ(h.client_id, 3u);
  EXPECT_EQ(h.num_examples, 13u);
  const std::string peer = hello->first;
  EXPECT_EQ(data_loads_.load(), 0);  // registration does not wait for data
  coordinator_.Send(peer, protocol::Welcome{3, 50, 0});
  coordinator_.Send(peer, SmallTask(1));
  auto update = coordinator_.Next();
  ASSERT_THAT(update, IsOk());
  ASSERT_TRUE(std::holds_alternative<protocol::Update>(update->second));
  const auto& u = std::get<protocol::Update>(update->second);
  EXPECT_EQ(u.round, 1u);
  EXPECT_EQ(u.model_version, 0u);
  EXPECT_EQ(u.client_id, 3u);
  EXPECT_EQ(u.num_examples, 13u);
  EXPECT_EQ(u.delta, (std::vector<float>{0.5f, 0.5f, 0.5f}));
  EXPECT_EQ(u.metrics.loss, 1.25f);
  EXPECT_EQ(data_loads_.load(), 1);
  coordinator_.Send(peer, protocol::Shutdown{"done"});
  JoinHost();
  EXPECT_THAT(run_status_, IsOk());
  EXPECT_EQ(host_->stats().updates_sent, 1u);
}

TEST_F(ClientHostTest, SeveralLogicalClientsEachRegisterOnTheirOwnSocket) {
  StartHost({0, 1, 2});
  std::set<std::string> peers;
  std::set<uint64_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto hello = coordinator_.Next();
    ASSERT_THAT(hello, IsOk());
    peers.insert(hello->first);
    ids.insert(std::get<protocol::Hello>(hello->second).client_id);
  }
  EXPECT_EQ(peers.size(), 3u);
  EXPECT_EQ(ids, (std::set<uint64_t>{0, 1, 2}));
}

TEST_F(ClientHostTest, CorruptFramesAreCountedAndDoNotStopTheClient) {
  StartHost({1});
  const std::string peer = Register();
  coordinator_.SendRaw(peer, "garbage");
  protocol::Task bad = SmallTask(1);
  std::string truncated = protocol::Encode(bad);
  truncated.resize(truncated.size() - 5);
  coordinator_.SendRaw(peer, truncated);
  coordinator_.Send(peer, SmallTask(1));
  auto update = coordinator_.Next();
  ASSERT_THAT(update, IsOk());
  EXPECT_TRUE(std::holds_alternative<protocol::Update>(update->second));
  coordinator_.Send(peer, protocol::Shutdown{"done"});
  JoinHost();
  EXPECT_EQ(host_->stats().bad_frames, 2u);
}

TEST_F(ClientHostTest, RefusalsWhileRegisteringSendOnlyOneHello) {
  StartHost({1});
  const std::string peer = Register();
  // Two queued heartbeats drew two refusals, as after a coordinator restart.
  coordinator_.Send(peer, protocol::ErrorReply{protocol::ErrorCode::kNotRegistered, 0, "who?"});
  coordinator_.Send(peer, protocol::ErrorReply{protocol::ErrorCode::kNotRegistered, 0, "who?"});
  auto again = coordinator_.Next();
  ASSERT_THAT(again, IsOk());
  ASSERT_TRUE(std::holds_alternative<protocol::Hello>(again->second));
  coordinator_.Send(peer, protocol::Welcome{1, 50, 0});
  coordinator_.Send(peer, SmallTask(1));
  // A second Hello would arrive before the update.
  auto next = coordinator_.Next();
  ASSERT_THAT(next, IsOk());
  EXPECT_TRUE(std::holds_alternative<protocol::Update>(next->second));
}

// A coordinator slow to answer (thousands registering) is asked again on the
// same connection, waiting twice as long each time; only after
// kHelloResends unanswered re-sends does the client open a new connection.
TEST_F(ClientHostTest, UnansweredHellosAreResentOnTheSameConnectionBeforeReconnecting) {
  configure_ = [](ClientHostOptions& o) { o.welcome_timeout = absl::Milliseconds(40); };
  StartHost({4});
  std::vector<std::string> peers;
  std::vector<uint64_t> registrations;
  for (int i = 0; i < kHelloResends + 2; ++i) {
    auto hello = coordinator_.Next();
    ASSERT_THAT(hello, IsOk()) << "Hello " << i;
    ASSERT_TRUE(std::holds_alternative<protocol::Hello>(hello->second));
    peers.push_back(hello->first);
    registrations.push_back(std::get<protocol::Hello>(hello->second).registration);
  }
  host_->Stop();
  JoinHost();
  // Re-sends repeat their registration (the coordinator keeps such a client
  // in its round); the Hello on the new connection is a new registration.
  EXPECT_NE(registrations[0], 0u);
  for (int i = 1; i <= kHelloResends; ++i) EXPECT_EQ(registrations[i], registrations[0]) << i;
  EXPECT_NE(registrations[kHelloResends + 1], registrations[0]);
  // The routing id is the client's, so the connections are told apart by
  // the host's own counts (it may have gone on after the fifth Hello):
  // never more than kHelloResends re-sends per connection, and five Hellos
  // need a second connection.
  const ClientHostStats& st = host_->stats();
  EXPECT_GE(st.reconnects, 1u);
  EXPECT_GE(st.hello_resends, static_cast<uint64_t>(kHelloResends));
  EXPECT_LE(st.hello_resends, kHelloResends * (st.reconnects + 1));
}

// RATE_LIMITED while registering is back-pressure from a live coordinator:
// the client asks again later on the same connection and never reconnects.
TEST_F(ClientHostTest, RateLimitedHelloIsAskedAgainLaterOnTheSameConnection) {
  configure_ = [](ClientHostOptions& o) { o.welcome_timeout = absl::Milliseconds(40); };
  StartHost({5});
  for (int i = 0; i < 4; ++i) {  // more refusals than kHelloResends
    auto hello = coordinator_.Next();
    ASSERT_THAT(hello, IsOk()) << "Hello " << i;
    ASSERT_TRUE(std::holds_alternative<protocol::Hello>(hello->second));
    coordinator_.Send(hello->first, protocol::ErrorReply{protocol::ErrorCode::kRateLimited, 0,
                                                         "over the frame rate limit"});
  }
  const std::string peer = Register();
  coordinator_.Send(peer, SmallTask(1));
  auto update = coordinator_.Next();
  ASSERT_THAT(update, IsOk());
  EXPECT_TRUE(std::holds_alternative<protocol::Update>(update->second));
  host_->Stop();
  JoinHost();
  EXPECT_EQ(host_->stats().reconnects, 0u);
  EXPECT_EQ(host_->stats().hello_resends, 4u);
}

TEST_F(ClientHostTest, NewerTaskSupersedesTheOneInTraining) {
  StartHost({1});
  const std::string peer = Register();
  coordinator_.Send(peer, SmallTask(1));
  coordinator_.Send(peer, SmallTask(2));
  // Whatever round 1's job did, only round 2 is reported.
  auto update = coordinator_.Next();
  ASSERT_THAT(update, IsOk());
  ASSERT_TRUE(std::holds_alternative<protocol::Update>(update->second));
  const uint64_t first_round = std::get<protocol::Update>(update->second).round;
  if (first_round == 1) {
    // Round 1 finished before round 2's task arrived; round 2 follows.
    update = coordinator_.Next();
    ASSERT_THAT(update, IsOk());
  }
  EXPECT_EQ(std::get<protocol::Update>(update->second).round, 2u);
}

TEST_F(ClientHostTest, FailedTrainingTellsTheCoordinatorTheClientLeftTheRound) {
  trainer_.result = absl::ResourceExhaustedError("battery low");
  StartHost({1});
  const std::string peer = Register();
  coordinator_.Send(peer, SmallTask(4));
  auto reply = coordinator_.Next();
  ASSERT_THAT(reply, IsOk());
  ASSERT_TRUE(std::holds_alternative<protocol::ErrorReply>(reply->second));
  const auto& e = std::get<protocol::ErrorReply>(reply->second);
  EXPECT_EQ(e.round, 4u);
  EXPECT_THAT(e.message, ::testing::HasSubstr("battery low"));
}

TEST_F(ClientHostTest, UnbuildableTrainerEndsRunWithItsError) {
  factory_error_ = absl::NotFoundError("no plugin");
  StartHost({1});
  JoinHost();
  EXPECT_THAT(run_status_, StatusIs(absl::StatusCode::kNotFound, "no plugin"));
}

TEST_F(ClientHostTest, StopEndsRunWithCancelled) {
  StartHost({1});
  Register();
  host_->Stop();
  JoinHost();
  EXPECT_THAT(run_status_, StatusIs(absl::StatusCode::kCancelled));
}

// ---- Signed models ------------------------------------------------------------

// The host pins the key of `signer_`; tasks are signed as the coordinator would.
TEST_F(SignedModelTest, TaskSignedWithThePinnedKeyIsTrained) {
  StartHost({1});
  const std::string peer = Register();
  coordinator_.Send(peer, Signed(1, 0));
  EXPECT_EQ(NextUpdateRound(), 1u);
  EXPECT_EQ(trainer_.calls.load(), 1);
}

TEST_F(SignedModelTest, TamperedWeightsAreRefusedUntrainedAndReported) {
  StartHost({1});
  const std::string peer = Register();
  protocol::Task t = Signed(1, 0);
  t.model.weights[1] += 1.0f;
  coordinator_.Send(peer, t);
  EXPECT_EQ(NextRefusal(1), protocol::ErrorCode::kBadSignature);
  EXPECT_EQ(trainer_.calls.load(), 0);
  // The client carries on: the next good task is trained.
  coordinator_.Send(peer, Signed(2, 0));
  EXPECT_EQ(NextUpdateRound(), 2u);
  coordinator_.Send(peer, protocol::Shutdown{"done"});
  JoinHost();
  EXPECT_EQ(host_->stats().tasks_refused, 1u);
}

// The gate accepts a model it verified before without hashing it again, but
// only the same bytes: not a copy with one weight changed or with -0.0 for 0.0
// (equal as floats, different as signed bytes), under the same signature.
TEST_F(SignedModelTest, AModelVerifiedOnceIsNotTakenForATamperedCopy) {
  StartHost({1});
  const std::string peer = Register();
  protocol::Task t = SmallTask(1);
  t.model.weights[0] = 0.0f;
  auto sig = signer_->Sign(t.model_version, t.model);
  ASSERT_THAT(sig, IsOk());
  t.signature = *sig;
  coordinator_.Send(peer, t);
  EXPECT_EQ(NextUpdateRound(), 1u);
  protocol::Task negative_zero = t;
  negative_zero.round = 2;
  negative_zero.model.weights[0] = -0.0f;
  coordinator_.Send(peer, negative_zero);
  EXPECT_EQ(NextRefusal(2), protocol::ErrorCode::kBadSignature);
  protocol::Task changed = t;
  changed.round = 3;
  changed.model.weights[2] += 1.0f;
  coordinator_.Send(peer, changed);
  EXPECT_EQ(NextRefusal(3), protocol::ErrorCode::kBadSignature);
  protocol::Task again = t;
  again.round = 4;
  coordinator_.Send(peer, again);
  EXPECT_EQ(NextUpdateRound(), 4u);
  EXPECT_EQ(trainer_.calls.load(), 2);
}

TEST_F(SignedModelTest, TamperedVersionIsRefused) {
  StartHost({1});
  const std::string peer = Register();
  protocol::Task t = Signed(1, 0);
  t.model_version = 1;
  coordinator_.Send(peer, t);
  EXPECT_EQ(NextRefusal(1), protocol::ErrorCode::kBadSignature);
  EXPECT_EQ(trainer_.calls.load(), 0);
}

TEST_F(SignedModelTest, UnsignedOrForeignSignedTasksAreRefused) {
  StartHost({1});
  const std::string peer = Register();
  coordinator_.Send(peer, SmallTask(1));  // unsigned
  EXPECT_EQ(NextRefusal(1), protocol::ErrorCode::kBadSignature);
  coordinator_.Send(peer, Signed(2, 1, *Signer(2)));  // another coordinator's key
  EXPECT_EQ(NextRefusal(2), protocol::ErrorCode::kBadSignature);
  EXPECT_EQ(trainer_.calls.load(), 0);
}

TEST_F(SignedModelTest, OlderVersionThanOneVerifiedIsARollback) {
  StartHost({1, 2});
  std::map<uint64_t, std::string> peers;
  for (int i = 0; i < 2; ++i) {
    auto hello = coordinator_.Next();
    ASSERT_THAT(hello, IsOk());
    const uint64_t id = std::get<protocol::Hello>(hello->second).client_id;
    peers[id] = hello->first;
    coordinator_.Send(hello->first, protocol::Welcome{id, 50, 0});
  }
  coordinator_.Send(peers[1], Signed(6, 5));
  EXPECT_EQ(NextUpdateRound(), 6u);
  // Validly signed, but older than version 5 which this device verified, even
  // when it comes to another logical client of the same device.
  coordinator_.Send(peers[2], Signed(7, 3));
  EXPECT_EQ(NextRefusal(7), protocol::ErrorCode::kRollback);
  EXPECT_EQ(trainer_.calls.load(), 1);
  // The same version again is fine (a failed round is retried), newer too.
  coordinator_.Send(peers[1], Signed(8, 5));
  EXPECT_EQ(NextUpdateRound(), 8u);
  coordinator_.Send(peers[2], Signed(9, 6));
  EXPECT_EQ(NextUpdateRound(), 9u);
}

TEST_F(ClientHostTest, NotEnrolledEndsRunWithPermissionDenied) {
  StartHost({4});
  const std::string peer = Register();
  coordinator_.Send(peer, protocol::ErrorReply{protocol::ErrorCode::kNotEnrolled, 0,
                                               "key is enrolled for client ids 1,2, not 4"});
  JoinHost();
  EXPECT_THAT(run_status_,
              StatusIs(absl::StatusCode::kPermissionDenied, "Enrol this device's key"));
}

}  // namespace
}  // namespace fedge::client
