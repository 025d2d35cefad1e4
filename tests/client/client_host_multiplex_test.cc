// ClientHost with `multiplex`: a process's logical clients share one
// connection, each on a channel named by its client id (protocol/wire.h),
// against a coordinator played by the test over a real ZeroMQ ROUTER.

#include <map>
#include <set>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/client_host.h"
#include "protocol/peer_address.h"
#include "tests/client/client_host_fixture.h"
#include "tests/testing/status_matchers.h"

namespace fedge::client {
namespace {

using ::fedge::testing::IsOk;

class MultiplexTest : public ClientHostTest {
 protected:
  void SetUp() override {
    configure_ = [](ClientHostOptions& o) { o.multiplex = true; };
  }
  // Waits for `n` Hellos; the peer each client id spoke from.
  std::map<uint64_t, std::string> Hellos(int n) {
    std::map<uint64_t, std::string> peers;
    for (int i = 0; i < n; ++i) {
      auto hello = coordinator_.Next();
      EXPECT_THAT(hello, IsOk());
      if (!hello.ok()) break;
      EXPECT_TRUE(std::holds_alternative<protocol::Hello>(hello->second));
      peers[std::get<protocol::Hello>(hello->second).client_id] = hello->first;
    }
    return peers;
  }
  // The Hellos of `n` distinct clients among the next messages (at most
  // `max_messages`), skipping heartbeats and Hellos sent again: a reopened
  // connection may carry a client's Hello twice (backoff) before another's.
  std::map<uint64_t, std::string> DistinctHellos(size_t n, int max_messages) {
    std::map<uint64_t, std::string> peers;
    for (int i = 0; i < max_messages && peers.size() < n; ++i) {
      auto m = coordinator_.Next();
      EXPECT_THAT(m, IsOk());
      if (!m.ok()) break;
      if (const auto* h = std::get_if<protocol::Hello>(&m->second)) peers[h->client_id] = m->first;
    }
    return peers;
  }
};

TEST_F(MultiplexTest, EveryLogicalClientIsAChannelOfOneConnection) {
  StartHost({4, 5, 6});
  std::map<uint64_t, std::string> peers = Hellos(3);
  ASSERT_EQ(peers.size(), 3u);
  std::set<std::string> connections;
  for (const auto& [id, peer] : peers) {
    absl::StatusOr<protocol::PeerAddress> a = protocol::DecodePeer(peer);
    ASSERT_THAT(a, IsOk());
    connections.insert(a->routing_id);
    EXPECT_EQ(a->channel, std::to_string(id));
    coordinator_.Send(peer, protocol::Welcome{id, 50, 0});
  }
  EXPECT_EQ(connections.size(), 1u);

  // A task on one channel is trained by that client only, and answered on it.
  coordinator_.Send(peers[5], SmallTask(1));
  auto update = coordinator_.Next();
  ASSERT_THAT(update, IsOk());
  ASSERT_TRUE(std::holds_alternative<protocol::Update>(update->second));
  EXPECT_EQ(update->first, peers[5]);
  EXPECT_EQ(std::get<protocol::Update>(update->second).client_id, 5u);
  EXPECT_EQ(std::get<protocol::Update>(update->second).num_examples, 15u);

  for (const auto& [id, peer] : peers) coordinator_.Send(peer, protocol::Shutdown{"done"});
  JoinHost();
  EXPECT_THAT(run_status_, IsOk());
  EXPECT_EQ(host_->stats().updates_sent, 1u);
  EXPECT_EQ(host_->stats().bad_frames, 0u);
}

TEST_F(MultiplexTest, FramesForNoClientOfTheProcessAreCountedAndDropped) {
  StartHost({7});
  const std::string peer = Register();
  absl::StatusOr<protocol::PeerAddress> a = protocol::DecodePeer(peer);
  ASSERT_THAT(a, IsOk());
  // A channel the process does not host, and a reply to the bare connection.
  coordinator_.Send(protocol::EncodePeer(a->routing_id, "99"), SmallTask(1));
  coordinator_.Send(protocol::EncodePeer(a->routing_id, ""), SmallTask(1));
  coordinator_.Send(peer, SmallTask(1));
  auto update = coordinator_.Next();
  ASSERT_THAT(update, IsOk());
  ASSERT_TRUE(std::holds_alternative<protocol::Update>(update->second));
  EXPECT_EQ(std::get<protocol::Update>(update->second).client_id, 7u);
  coordinator_.Send(peer, protocol::Shutdown{"done"});
  JoinHost();
  EXPECT_THAT(run_status_, IsOk());
  EXPECT_EQ(host_->stats().bad_frames, 2u);
  EXPECT_EQ(host_->stats().tasks_received, 1u);
}

TEST_F(MultiplexTest, ClientsRegisterAgainWhenTheCoordinatorFallsSilent) {
  configure_ = [](ClientHostOptions& o) {
    o.multiplex = true;
    o.coordinator_timeout = absl::Milliseconds(300);
  };
  StartHost({1, 2});
  std::map<uint64_t, std::string> peers = Hellos(2);
  ASSERT_EQ(peers.size(), 2u);
  for (const auto& [id, peer] : peers) coordinator_.Send(peer, protocol::Welcome{id, 50, 0});
  // Heartbeats go unanswered: the process opens its connection anew
  // and both clients register again on it.
  std::map<uint64_t, std::string> again = DistinctHellos(2, 20);
  EXPECT_EQ(again.size(), 2u);
  host_->Stop();
  JoinHost();
  EXPECT_GE(host_->stats().reconnects, 1u);
}

protocol::Task ByReference(uint64_t round) {
  protocol::Task t = SmallTask(round);
  t.model = protocol::ModelPayload();
  t.model_by_reference = true;
  return t;
}

// The coordinator sends a round's model once per shared connection: the
// other clients of the process train the model the connection carried.
TEST_F(MultiplexTest, ATaskByReferenceTrainsTheModelTheConnectionCarried) {
  StartHost({1, 2});
  std::map<uint64_t, std::string> peers = Hellos(2);
  ASSERT_EQ(peers.size(), 2u);
  for (const auto& [id, peer] : peers) coordinator_.Send(peer, protocol::Welcome{id, 50, 0});
  coordinator_.Send(peers[1], SmallTask(1));
  coordinator_.Send(peers[2], ByReference(1));
  std::map<uint64_t, std::vector<float>> deltas;
  for (int i = 0; i < 2; ++i) {
    auto update = coordinator_.Next();
    ASSERT_THAT(update, IsOk());
    ASSERT_TRUE(std::holds_alternative<protocol::Update>(update->second));
    const auto& u = std::get<protocol::Update>(update->second);
    deltas[u.client_id] = u.delta;
  }
  // FakeTrainer returns 0.5 per weight of the model it was given.
  EXPECT_EQ(deltas[1], (std::vector<float>{0.5f, 0.5f, 0.5f}));
  EXPECT_EQ(deltas[2], (std::vector<float>{0.5f, 0.5f, 0.5f}));
  for (const auto& [id, peer] : peers) coordinator_.Send(peer, protocol::Shutdown{"done"});
  JoinHost();
  EXPECT_EQ(host_->stats().tasks_by_reference, 1u);
  EXPECT_EQ(host_->stats().tasks_unresolved, 0u);
}

// A reference to a model the connection has not carried (or a different
// version) cannot be trained: the client says so for that round.
TEST_F(MultiplexTest, ATaskByReferenceToNoModelHeldIsRefusedUntrained) {
  StartHost({3});
  const std::string peer = Register();
  coordinator_.Send(peer, ByReference(1));
  auto refusal = coordinator_.Next();
  ASSERT_THAT(refusal, IsOk());
  ASSERT_TRUE(std::holds_alternative<protocol::ErrorReply>(refusal->second));
  EXPECT_EQ(std::get<protocol::ErrorReply>(refusal->second).round, 1u);
  EXPECT_THAT(std::get<protocol::ErrorReply>(refusal->second).message,
              ::testing::HasSubstr("by reference"));
  // Round 2's model arrives; a reference to round 1's version is still refused.
  coordinator_.Send(peer, SmallTask(2));
  auto update = coordinator_.Next();
  ASSERT_THAT(update, IsOk());
  ASSERT_TRUE(std::holds_alternative<protocol::Update>(update->second));
  coordinator_.Send(peer, ByReference(1));
  refusal = coordinator_.Next();
  ASSERT_THAT(refusal, IsOk());
  EXPECT_TRUE(std::holds_alternative<protocol::ErrorReply>(refusal->second));
  coordinator_.Send(peer, protocol::Shutdown{"done"});
  JoinHost();
  EXPECT_EQ(host_->stats().tasks_unresolved, 2u);
  EXPECT_EQ(trainer_.calls.load(), 1);
}

// A device's own connection never resolves a reference.
class OwnConnectionTest : public ClientHostTest {};
TEST_F(OwnConnectionTest, ATaskByReferenceIsRefused) {
  StartHost({4});
  const std::string peer = Register();
  coordinator_.Send(peer, SmallTask(1));
  ASSERT_THAT(coordinator_.Next(), IsOk());
  coordinator_.Send(peer, ByReference(2));
  auto refusal = coordinator_.Next();
  ASSERT_THAT(refusal, IsOk());
  EXPECT_TRUE(std::holds_alternative<protocol::ErrorReply>(refusal->second));
  coordinator_.Send(peer, protocol::Shutdown{"done"});
  JoinHost();
  EXPECT_EQ(host_->stats().tasks_unresolved, 1u);
}

}  // namespace
}  // namespace fedge::client
