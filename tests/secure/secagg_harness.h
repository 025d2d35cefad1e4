#ifndef FEDGE_TESTS_SECURE_SECAGG_HARNESS_H_
#define FEDGE_TESTS_SECURE_SECAGG_HARNESS_H_

// Drives one SecAggServer and its SecAggClients in-process, phase by phase,
// with hooks to silence clients, tamper with messages and record what the
// server was told.

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "secure/secagg.h"
#include "tests/secure/fake_random.h"
#include "tests/testing/status_matchers.h"

namespace fedge::secure::testing {

inline SecAggConfig TestConfig(SecAggVariant variant, uint32_t n, uint32_t t, uint32_t k,
                               uint32_t d) {
  SecAggConfig c;
  c.variant = variant;
  c.num_clients = n;
  c.threshold = t;
  c.num_neighbors = k;
  c.graph_seed = 1234;
  c.input_length = d;
  for (size_t i = 0; i < c.session_id.size(); ++i) c.session_id[i] = static_cast<uint8_t>(i * 7);
  return c;
}

using Outbox = std::vector<std::pair<uint32_t, SecAggServerMessage>>;
using Replies = std::vector<std::pair<uint32_t, SecAggClientMessage>>;

class SecAggSession {
 public:
  explicit SecAggSession(const SecAggConfig& config, uint64_t seed = 1) : config_(config) {
    auto server = SecAggServer::Create(config);
    EXPECT_THAT(server, ::fedge::testing::IsOk());
    server_ = *std::move(server);
    const uint32_t n = config.num_clients;
    randoms_.resize(n + 1);
    clients_.resize(n + 1);
    inputs_.resize(n + 1);
    for (uint32_t u = 1; u <= n; ++u) {
      randoms_[u] = std::make_unique<SeededRandom>(seed * 1000 + u);
      auto client = SecAggClient::Create(config, u, *randoms_[u]);
      EXPECT_THAT(client, ::fedge::testing::IsOk());
      clients_[u] = *std::move(client);
      inputs_[u].resize(config.input_length);
      SeededRandom r(seed * 7919 + u);
      EXPECT_THAT(r.Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(inputs_[u].data()),
                                        inputs_[u].size() * 4)),
                  ::fedge::testing::IsOk());
    }
  }

  SecAggServer& server() { return *server_; }
  SecAggClient& client(uint32_t u) { return *clients_[u]; }
  std::vector<uint32_t>& input(uint32_t u) { return inputs_[u]; }
  const std::set<uint32_t>& sent_masked() const { return sent_masked_; }
  const std::set<uint32_t>& told_to_abort() const { return told_to_abort_; }
  const Replies& unmasking_responses() const { return unmasking_; }

  // Client u stops answering (and, if `tell_server`, the server is told).
  void Silence(uint32_t u, bool tell_server) {
    gone_.insert(u);
    if (tell_server) server_->Drop(u);
  }

  // Every live client's AdvertiseKeys.
  Replies Start() {
    Replies out;
    for (uint32_t u = 1; u <= config_.num_clients; ++u) {
      if (gone_.count(u)) continue;
      auto keys = clients_[u]->Start();
      EXPECT_THAT(keys, ::fedge::testing::IsOk());
      out.emplace_back(u, *keys);
    }
    return out;
  }

  // Hands `replies` to the server, expecting each to be accepted.
  void Send(Replies replies) {
    for (auto& [u, m] : replies) {
      if (on_reply) on_reply(u, m);
      if (std::holds_alternative<MaskedInput>(m)) sent_masked_.insert(u);
      if (std::holds_alternative<UnmaskingResponse>(m)) unmasking_.emplace_back(u, m);
      EXPECT_THAT(server_->OnMessage(u, std::move(m)), ::fedge::testing::IsOk()) << "client " << u;
    }
  }

  Outbox Advance() {
    auto out = server_->AdvancePhase();
    EXPECT_THAT(out, ::fedge::testing::IsOk());
    return out.ok() ? *std::move(out) : Outbox();
  }

  // Delivers server messages to live clients; inputs are set when a
  // MaskedInputRequest arrives (or earlier, for clients in `early_input`).
  Replies Deliver(Outbox& out) {
    Replies replies;
    for (auto& [u, m] : out) {
      if (std::holds_alternative<SecAggAbort>(m)) told_to_abort_.insert(u);
      if (gone_.count(u)) continue;
      if (tamper) tamper(u, m);
      auto reply = clients_[u]->OnMessage(m);
      EXPECT_THAT(reply, ::fedge::testing::IsOk()) << "client " << u;
      if (!reply.ok()) continue;
      if (std::holds_alternative<MaskedInputRequest>(m) && !reply->has_value()) {
        reply = clients_[u]->SetInput(inputs_[u]);
        EXPECT_THAT(reply, ::fedge::testing::IsOk()) << "client " << u;
      }
      if (reply.ok() && reply->has_value()) replies.emplace_back(u, **std::move(reply));
      if (std::holds_alternative<ShareKeysRequest>(m) && early_input.count(u)) {
        auto none = clients_[u]->SetInput(inputs_[u]);
        EXPECT_THAT(none, ::fedge::testing::IsOk());
        EXPECT_FALSE(none.ok() && none->has_value());
      }
    }
    return replies;
  }

  // A whole round. silent_before[p] go quiet before answering phase p
  // (0 AdvertiseKeys .. 3 Unmasking). Stops early on completion or abort.
  void Run(const std::map<int, std::vector<uint32_t>>& silent_before, bool tell_server = false) {
    auto silence = [&](int phase) {
      auto it = silent_before.find(phase);
      if (it == silent_before.end()) return;
      for (uint32_t u : it->second) Silence(u, tell_server);
    };
    silence(0);
    Send(Start());
    for (int phase = 1; phase <= 4; ++phase) {
      Outbox out = Advance();
      silence(phase);
      Replies replies = Deliver(out);
      const auto p = server_->phase();
      if (p == SecAggServer::Phase::kCompleted || p == SecAggServer::Phase::kAborted) return;
      Send(std::move(replies));
    }
  }

  // The plain sum mod 2^32 over the clients whose masked input reached the server.
  std::vector<uint32_t> ExpectedSum() const {
    std::vector<uint32_t> sum(config_.input_length, 0);
    for (uint32_t u : sent_masked_) {
      for (size_t i = 0; i < sum.size(); ++i) sum[i] += inputs_[u][i];
    }
    return sum;
  }

  std::function<void(uint32_t, SecAggServerMessage&)> tamper;
  // Sees every client reply before the server does.
  std::function<void(uint32_t, const SecAggClientMessage&)> on_reply;
  std::set<uint32_t> early_input;

 private:
  SecAggConfig config_;
  std::unique_ptr<SecAggServer> server_;
  std::vector<std::unique_ptr<SeededRandom>> randoms_;
  std::vector<std::unique_ptr<SecAggClient>> clients_;
  std::vector<std::vector<uint32_t>> inputs_;
  std::set<uint32_t> gone_;
  std::set<uint32_t> sent_masked_;
  std::set<uint32_t> told_to_abort_;
  Replies unmasking_;
};

}  // namespace fedge::secure::testing

#endif  // FEDGE_TESTS_SECURE_SECAGG_HARNESS_H_
