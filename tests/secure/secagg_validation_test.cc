// What SecAggServer and SecAggClient refuse, and the public parameters
// (config, neighbour graph) both derive.

#include <algorithm>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "secure/secagg.h"
#include "secure/secagg_internal.h"
#include "tests/secure/secagg_harness.h"

namespace fedge::secure {
namespace {

using ::fedge::secure::testing::Replies;
using ::fedge::secure::testing::SecAggSession;
using ::fedge::secure::testing::SeededRandom;
using ::fedge::secure::testing::TestConfig;
using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using absl::StatusCode;

constexpr uint32_t kD = 64;

// ---- Server ----

TEST(SecAggServerTest, RefusesUnknownIndexWrongPhaseAndDuplicates) {
  SecAggSession s(TestConfig(SecAggVariant::kFull, 5, 3, 0, kD));
  Replies keys = s.Start();
  EXPECT_THAT(s.server().OnMessage(0, keys[0].second), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(s.server().OnMessage(6, keys[0].second), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(s.server().OnMessage(1, MaskedInput{std::vector<uint32_t>(kD)}),
              StatusIs(StatusCode::kFailedPrecondition, "phase AdvertiseKeys"));
  ASSERT_THAT(s.server().OnMessage(1, keys[0].second), IsOk());
  EXPECT_THAT(s.server().OnMessage(1, keys[0].second), StatusIs(StatusCode::kAlreadyExists));
  // Another client may not reuse client 1's keys.
  EXPECT_THAT(s.server().OnMessage(2, keys[0].second),
              StatusIs(StatusCode::kInvalidArgument, "repeats a public key of client 1"));
  EXPECT_FALSE(s.server().PhaseComplete());
  keys.erase(keys.begin());
  s.Send(std::move(keys));  // client 2 is accepted after its refused attempt
  EXPECT_TRUE(s.server().PhaseComplete());
}

TEST(SecAggServerTest, RefusesMalformedShareKeysResponsesWithoutChangingState) {
  const SecAggConfig config = TestConfig(SecAggVariant::kPlus, 12, 3, 4, kD);
  SecAggSession s(config);
  s.Send(s.Start());
  auto out = s.Advance();
  Replies replies = s.Deliver(out);
  ASSERT_EQ(replies.size(), 12u);
  const uint32_t u = replies[0].first;
  const ShareKeysResponse good = std::get<ShareKeysResponse>(replies[0].second);
  const std::vector<uint32_t> neighbours = SecAggNeighbors(config, u);
  uint32_t stranger = 1;
  while (stranger == u || std::count(neighbours.begin(), neighbours.end(), stranger)) ++stranger;

  ShareKeysResponse bad = good;
  bad.shares.pop_back();
  EXPECT_THAT(s.server().OnMessage(u, bad), StatusIs(StatusCode::kInvalidArgument, "want one"));
  bad = good;
  bad.shares[0].peer = stranger;
  EXPECT_THAT(s.server().OnMessage(u, bad), StatusIs(StatusCode::kInvalidArgument, "not a neighbour"));
  bad = good;
  bad.shares[1].peer = bad.shares[0].peer;
  EXPECT_THAT(s.server().OnMessage(u, bad), StatusIs(StatusCode::kInvalidArgument, "two shares"));
  bad = good;
  bad.shares[0].ciphertext.pop_back();
  EXPECT_THAT(s.server().OnMessage(u, bad), StatusIs(StatusCode::kInvalidArgument, "bytes"));

  s.Send(std::move(replies));
  EXPECT_THAT(s.server().OnMessage(u, good), StatusIs(StatusCode::kAlreadyExists));
  out = s.Advance();
  s.Send(s.Deliver(out));
  out = s.Advance();
  s.Send(s.Deliver(out));
  s.Advance();
  ASSERT_EQ(s.server().phase(), SecAggServer::Phase::kCompleted) << s.server().abort_reason();
  EXPECT_EQ(s.server().sum(), s.ExpectedSum());
}

TEST(SecAggServerTest, RefusesAWrongLengthMaskedInputAndKeepsTheSumRight) {
  SecAggSession s(TestConfig(SecAggVariant::kFull, 4, 3, 0, kD));
  s.Send(s.Start());
  auto out = s.Advance();
  s.Send(s.Deliver(out));
  out = s.Advance();
  Replies replies = s.Deliver(out);
  const MaskedInput good = std::get<MaskedInput>(replies[0].second);
  MaskedInput longer = good;
  longer.masked.push_back(0);
  EXPECT_THAT(s.server().OnMessage(1, longer), StatusIs(StatusCode::kInvalidArgument, "words"));
  EXPECT_THAT(s.server().OnMessage(1, MaskedInput{}), StatusIs(StatusCode::kInvalidArgument));
  s.Send(replies);
  EXPECT_THAT(s.server().OnMessage(1, good), StatusIs(StatusCode::kAlreadyExists));
  EXPECT_THAT(s.server().OnMessage(2, AdvertiseKeys{}), StatusIs(StatusCode::kFailedPrecondition));
  out = s.Advance();
  s.Send(s.Deliver(out));
  s.Advance();
  ASSERT_EQ(s.server().phase(), SecAggServer::Phase::kCompleted);
  EXPECT_EQ(s.server().sum(), s.ExpectedSum());
  EXPECT_THAT(s.server().AdvancePhase(), StatusIs(StatusCode::kFailedPrecondition));
}

TEST(SecAggServerTest, DroppedClientsAreRefusedAndCountAsAnswered) {
  SecAggSession s(TestConfig(SecAggVariant::kFull, 4, 3, 0, kD));
  Replies keys = s.Start();
  s.server().Drop(4);
  s.server().Drop(99);  // unknown: ignored
  EXPECT_THAT(s.server().OnMessage(4, keys[3].second),
              StatusIs(StatusCode::kFailedPrecondition, "dropped"));
  keys.pop_back();
  s.Send(std::move(keys));
  EXPECT_TRUE(s.server().PhaseComplete());
}

TEST(SecAggServerTest, RefusesRevealedSharesItDidNotAskFor) {
  SecAggSession s(TestConfig(SecAggVariant::kFull, 5, 3, 0, kD));
  s.Send(s.Start());
  auto out = s.Advance();
  s.Send(s.Deliver(out));
  out = s.Advance();
  s.Silence(5, false);  // 5 never sends its masked input
  s.Send(s.Deliver(out));
  out = s.Advance();
  Replies replies = s.Deliver(out);
  const uint32_t u = replies[0].first;
  const UnmaskingResponse good = std::get<UnmaskingResponse>(replies[0].second);
  ASSERT_EQ(good.masking_key_shares.size(), 1u);
  UnmaskingResponse bad = good;
  bad.self_mask_shares.push_back(good.masking_key_shares[0]);  // both shares of client 5
  EXPECT_THAT(s.server().OnMessage(u, bad), StatusIs(StatusCode::kInvalidArgument));
  bad = good;
  bad.self_mask_shares[0].y.pop_back();
  EXPECT_THAT(s.server().OnMessage(u, bad), StatusIs(StatusCode::kInvalidArgument, "values"));
  bad = good;
  bad.masking_key_shares[0].owner = 1;  // 1 survived: its key must stay secret
  EXPECT_THAT(s.server().OnMessage(u, bad), StatusIs(StatusCode::kInvalidArgument));
  s.Send(std::move(replies));
  s.Advance();
  ASSERT_EQ(s.server().phase(), SecAggServer::Phase::kCompleted) << s.server().abort_reason();
  EXPECT_EQ(s.server().sum(), s.ExpectedSum());
}

// ---- Client ----

// Reaches the Unmasking phase for client 1 of a 4-client session.
SecAggSession* UnmaskingSession() {
  auto* s = new SecAggSession(TestConfig(SecAggVariant::kFull, 4, 3, 0, kD));
  s->Send(s->Start());
  auto out = s->Advance();
  s->Send(s->Deliver(out));
  out = s->Advance();
  s->Send(s->Deliver(out));
  return s;
}

TEST(SecAggClientTest, RefusesToRevealBothSharesOfOneClient) {
  std::unique_ptr<SecAggSession> s(UnmaskingSession());
  auto reply = s->client(1).OnMessage(UnmaskingRequest{{1, 2, 3}, {3}});
  EXPECT_THAT(reply, StatusIs(StatusCode::kFailedPrecondition, "both"));
  EXPECT_EQ(s->client(1).phase(), SecAggClient::Phase::kAborted);
  // Once aborted it answers nothing, not even an honest request.
  auto again = s->client(1).OnMessage(UnmaskingRequest{{1, 2, 3}, {4}});
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(again->has_value());

  EXPECT_THAT(s->client(2).OnMessage(UnmaskingRequest{{1, 3}, {2}}),
              StatusIs(StatusCode::kFailedPrecondition, "listed as dropped"));
  EXPECT_THAT(s->client(3).OnMessage(UnmaskingRequest{{1, 1}, {}}),
              StatusIs(StatusCode::kInvalidArgument, "twice"));
  // Too few survivors: the sum would cover fewer than t inputs.
  SecAggSession other(TestConfig(SecAggVariant::kFull, 4, 3, 0, kD));
  other.Send(other.Start());
  auto out = other.Advance();
  other.Send(other.Deliver(out));
  out = other.Advance();
  other.Send(other.Deliver(out));
  EXPECT_THAT(other.client(1).OnMessage(UnmaskingRequest{{1, 2}, {}}),
              StatusIs(StatusCode::kFailedPrecondition, "only 2 survivors"));
  auto honest = s->client(4).OnMessage(UnmaskingRequest{{1, 2, 4}, {3}});
  ASSERT_THAT(honest, IsOk());
  const auto& r = std::get<UnmaskingResponse>(**honest);
  EXPECT_EQ(r.self_mask_shares.size(), 3u);
  ASSERT_EQ(r.masking_key_shares.size(), 1u);
  EXPECT_EQ(r.masking_key_shares[0].owner, 3u);
  EXPECT_EQ(s->client(4).phase(), SecAggClient::Phase::kCompleted);
}

TEST(SecAggClientTest, WrongPhaseAndMalformedMessagesAbort) {
  SeededRandom random(1);
  const SecAggConfig config = TestConfig(SecAggVariant::kFull, 4, 3, 0, kD);
  auto c = SecAggClient::Create(config, 2, random);
  ASSERT_THAT(c, IsOk());
  EXPECT_THAT((*c)->OnMessage(ShareKeysRequest{}), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ((*c)->phase(), SecAggClient::Phase::kAborted);

  c = SecAggClient::Create(config, 2, random);
  ASSERT_THAT(c, IsOk());
  ASSERT_THAT((*c)->Start(), IsOk());
  EXPECT_THAT((*c)->Start(), StatusIs(StatusCode::kFailedPrecondition));
  // Its own keys missing from the request.
  EXPECT_THAT((*c)->OnMessage(ShareKeysRequest{{{1, {}, {}}, {3, {}, {}}}}),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ((*c)->phase(), SecAggClient::Phase::kAborted);

  c = SecAggClient::Create(config, 2, random);
  ASSERT_THAT(c, IsOk());
  ASSERT_THAT((*c)->Start(), IsOk());
  EXPECT_THAT((*c)->OnMessage(UnmaskingRequest{{1, 2}, {}}),
              StatusIs(StatusCode::kFailedPrecondition, "unexpected UnmaskingRequest"));

  c = SecAggClient::Create(config, 2, random);
  ASSERT_THAT(c, IsOk());
  auto none = (*c)->OnMessage(SecAggAbort{"bye"});
  ASSERT_THAT(none, IsOk());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ((*c)->phase(), SecAggClient::Phase::kAborted);

  EXPECT_THAT(SecAggClient::Create(config, 5, random), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(SecAggClient::Create(config, 0, random), StatusIs(StatusCode::kInvalidArgument));
}

TEST(SecAggClientTest, SetInputChecksLengthAndOrder) {
  SeededRandom random(1);
  auto c = SecAggClient::Create(TestConfig(SecAggVariant::kFull, 4, 3, 0, kD), 1, random);
  ASSERT_THAT(c, IsOk());
  EXPECT_THAT((*c)->SetInput(std::vector<uint32_t>(kD + 1)),
              StatusIs(StatusCode::kInvalidArgument, "words"));
  EXPECT_EQ((*c)->phase(), SecAggClient::Phase::kAdvertiseKeys);  // not fatal
  auto none = (*c)->SetInput(std::vector<uint32_t>(kD));
  ASSERT_THAT(none, IsOk());
  EXPECT_FALSE(none->has_value());
  EXPECT_THAT((*c)->SetInput(std::vector<uint32_t>(kD)),
              StatusIs(StatusCode::kFailedPrecondition, "already"));
}

// ---- Graph and parameters ----

TEST(SecAggNeighborsTest, PlusGraphIsSymmetricRegularAndSeeded) {
  const SecAggConfig config = TestConfig(SecAggVariant::kPlus, 31, 5, 8, 1);
  std::vector<std::vector<uint32_t>> adj(32);
  for (uint32_t u = 1; u <= 31; ++u) {
    adj[u] = SecAggNeighbors(config, u);
    EXPECT_EQ(adj[u].size(), 8u);
    EXPECT_TRUE(std::is_sorted(adj[u].begin(), adj[u].end()));
    EXPECT_EQ(std::count(adj[u].begin(), adj[u].end(), u), 0);
  }
  for (uint32_t u = 1; u <= 31; ++u) {
    for (uint32_t v : adj[u]) {
      EXPECT_TRUE(std::binary_search(adj[v].begin(), adj[v].end(), u)) << u << "-" << v;
    }
  }
  EXPECT_EQ(SecAggNeighbors(config, 7), adj[7]);
  SecAggConfig other = config;
  other.graph_seed = 99;
  bool differs = false;
  for (uint32_t u = 1; u <= 31; ++u) differs |= SecAggNeighbors(other, u) != adj[u];
  EXPECT_TRUE(differs);
  EXPECT_TRUE(SecAggNeighbors(config, 0).empty());
  EXPECT_TRUE(SecAggNeighbors(config, 32).empty());
}

TEST(SecAggNeighborsTest, FullGraphIsComplete) {
  const std::vector<uint32_t> n = SecAggNeighbors(TestConfig(SecAggVariant::kFull, 5, 3, 0, 1), 3);
  EXPECT_EQ(n, (std::vector<uint32_t>{1, 2, 4, 5}));
}

// Known answers computed independently (splitmix64 + Fisher-Yates with
// rejection): the graph must be identical on every platform.
TEST(SecAggNeighborsTest, RingIsPortable) {
  EXPECT_EQ(internal::SecAggRing(10, 42), (std::vector<uint32_t>{1, 10, 6, 9, 7, 5, 8, 3, 2, 4}));
  EXPECT_EQ(internal::SecAggRing(12, 0),
            (std::vector<uint32_t>{5, 2, 7, 9, 1, 6, 3, 4, 12, 10, 11, 8}));
}

TEST(MakeSecAggConfigTest, ThresholdsAndNeighbourhoodsFollowTheDocumentedFormulas) {
  const std::vector<uint8_t> sid(kSecAggSessionIdSize, 1);
  auto full = MakeSecAggConfig(SecAggVariant::kFull, 500, 10, 0.1, sid, 0);
  ASSERT_THAT(full, IsOk());
  EXPECT_EQ(full->threshold, 397u);
  full = MakeSecAggConfig(SecAggVariant::kFull, 100, 10, 0.3, sid, 0);
  ASSERT_THAT(full, IsOk());
  EXPECT_EQ(full->threshold, 51u);  // floored at a majority
  full = MakeSecAggConfig(SecAggVariant::kFull, 100, 10, 0.0, sid, 0);
  ASSERT_THAT(full, IsOk());
  EXPECT_EQ(full->threshold, 100u);

  auto plus = MakeSecAggConfig(SecAggVariant::kPlus, 500, 10, 0.1, sid, 7);
  ASSERT_THAT(plus, IsOk());
  EXPECT_EQ(plus->variant, SecAggVariant::kPlus);
  EXPECT_EQ(plus->num_neighbors, 64u);
  EXPECT_EQ(plus->threshold, 33u);
  EXPECT_EQ(plus->graph_seed, 7u);
  plus = MakeSecAggConfig(SecAggVariant::kPlus, 10000, 10, 0.3, sid, 7);
  ASSERT_THAT(plus, IsOk());
  EXPECT_EQ(plus->num_neighbors, 394u);
  EXPECT_EQ(plus->threshold, 198u);
  // Too few clients for a sparse graph: the complete one.
  plus = MakeSecAggConfig(SecAggVariant::kPlus, 20, 10, 0.1, sid, 7);
  ASSERT_THAT(plus, IsOk());
  EXPECT_EQ(plus->variant, SecAggVariant::kFull);
  EXPECT_THAT(ValidateSecAggConfig(*plus), IsOk());

  EXPECT_THAT(MakeSecAggConfig(SecAggVariant::kFull, 1, 10, 0.1, sid, 0),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(MakeSecAggConfig(SecAggVariant::kFull, 10, 10, 1.0, sid, 0),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(MakeSecAggConfig(SecAggVariant::kFull, 10, 10, 0.1, {}, 0),
              StatusIs(StatusCode::kInvalidArgument, "session id"));
  EXPECT_THAT(MakeSecAggConfig(SecAggVariant::kFull, 10, 0, 0.1, sid, 0),
              StatusIs(StatusCode::kInvalidArgument, "input_length"));
}

TEST(ValidateSecAggConfigTest, RefusesUnusableParameters) {
  EXPECT_THAT(ValidateSecAggConfig(TestConfig(SecAggVariant::kPlus, 20, 4, 6, 1)), IsOk());
  EXPECT_THAT(ValidateSecAggConfig(TestConfig(SecAggVariant::kPlus, 20, 4, 5, 1)),
              StatusIs(StatusCode::kInvalidArgument, "even"));
  EXPECT_THAT(ValidateSecAggConfig(TestConfig(SecAggVariant::kPlus, 20, 4, 20, 1)),
              StatusIs(StatusCode::kInvalidArgument, "even"));
  EXPECT_THAT(ValidateSecAggConfig(TestConfig(SecAggVariant::kPlus, 20, 3, 6, 1)),
              StatusIs(StatusCode::kInvalidArgument, "threshold"));
  EXPECT_THAT(ValidateSecAggConfig(TestConfig(SecAggVariant::kFull, 10, 5, 0, 1)),
              StatusIs(StatusCode::kInvalidArgument, "threshold"));
  EXPECT_THAT(ValidateSecAggConfig(TestConfig(SecAggVariant::kFull, 10, 11, 0, 1)),
              StatusIs(StatusCode::kInvalidArgument, "threshold"));
  EXPECT_THAT(ValidateSecAggConfig(TestConfig(SecAggVariant::kFull, 10, 6, 0, 0)),
              StatusIs(StatusCode::kInvalidArgument, "input_length"));
  EXPECT_THAT(ValidateSecAggConfig(TestConfig(static_cast<SecAggVariant>(3), 10, 6, 0, 1)),
              StatusIs(StatusCode::kInvalidArgument, "variant"));
}

}  // namespace
}  // namespace fedge::secure
