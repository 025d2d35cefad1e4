#ifndef FEDGE_SECURE_SECAGG_SERVER_STATE_H_
#define FEDGE_SECURE_SECAGG_SERVER_STATE_H_

// Internal to secure/: the data of a SecAggServer, shared by the phase
// handlers in secagg_server.cc (key exchange, masked inputs) and
// secagg_server_unmask.cc (unmasking, the final sum).

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "secure/secagg.h"
#include "secure/secagg_internal.h"

namespace fedge::secure {

struct SecAggServerState {
  using Phase = SecAggServer::Phase;
  using Outbox = std::vector<std::pair<uint32_t, SecAggServerMessage>>;

  struct Client {
    bool alive = true;  // not dropped, not excluded
    // Set when the client's message of that phase was accepted.
    bool advertised = false, shared = false, masked = false, unmasked = false;
    // Membership of the protocol's sets, fixed when a phase closes.
    bool in_u1 = false, in_u2 = false, in_u3 = false, in_dropped = false;
    AdvertiseKeys keys;
    uint32_t u1_degree = 0;  // |N(u) cap U1|: how many share ciphertexts it must send
  };

  // One revealed share of some owner's secret, as held by `holder`.
  struct Revealed {
    uint32_t holder = 0;
    std::array<uint64_t, kSecAggShareChunks> y{};
  };

  SecAggServerState(const SecAggConfig& c, internal::SecAggKdf k)
      : config(c), graph(c), kdf(std::move(k)), clients(c.num_clients + 1),
        stamp(c.num_clients + 1, 0) {}

  // True when `u` is a neighbour of v or v itself.
  bool InNeighbourhood(uint32_t v, uint32_t u) const { return u == v || graph.Adjacent(v, u); }
  // Sorted members of N(u) (plus u itself when `self`) for which `member` holds.
  template <typename Pred>
  std::vector<uint32_t> NeighboursWhere(uint32_t u, bool self, Pred member) const {
    std::vector<uint32_t> out;
    if (graph.full()) {
      for (uint32_t v = 1; v <= config.num_clients; ++v) {
        if ((v != u || self) && member(clients[v])) out.push_back(v);
      }
      return out;
    }
    out = graph.Neighbors(u);
    if (self) out.insert(std::lower_bound(out.begin(), out.end(), u), u);
    out.erase(std::remove_if(out.begin(), out.end(),
                             [&](uint32_t v) { return !member(clients[v]); }),
              out.end());
    return out;
  }
  // A fresh mark for duplicate detection over `stamp` (O(1) per check, no allocation).
  uint32_t NextStamp() {
    if (++current_stamp == 0) {
      std::fill(stamp.begin(), stamp.end(), 0);
      current_stamp = 1;
    }
    return current_stamp;
  }

  // Ends the session: abort_reason, SecAggAbort to every live client.
  Outbox Abort(std::string reason);
  // The message-count bookkeeping of a phase that just opened.
  void OpenPhase(Phase next);
  // Handlers (secagg_server_unmask.cc).
  absl::Status OnUnmasking(uint32_t u, const UnmaskingResponse& m);
  absl::StatusOr<Outbox> CloseUnmasking();

  const SecAggConfig config;
  const internal::SecAggGraph graph;
  const internal::SecAggKdf kdf;
  Phase phase = Phase::kAdvertiseKeys;
  std::string abort_reason;
  std::vector<Client> clients;  // [index], 0 unused
  std::map<X25519PublicKey, uint32_t> key_owner;  // every advertised key -> its client
  size_t pending = 0;           // live clients expected in this phase that have not answered

  // ShareKeys: ciphertexts addressed to each client, with .peer = the sender.
  std::vector<std::vector<EncryptedShare>> inbox;
  // MaskedInput: the running sum of masked inputs.
  std::vector<uint32_t> acc;
  // Unmasking: up to t revealed shares per owner, in arrival order.
  std::vector<std::vector<Revealed>> seed_shares;  // [owner in U3]
  std::vector<std::vector<Revealed>> key_shares;   // [owner in U2 \ U3]

  std::vector<uint32_t> sum;
  std::vector<uint32_t> survivors;

  // Set by the rvalue OnMessage: ciphertexts may be moved out of it.
  ShareKeysResponse* movable_shares = nullptr;

  std::vector<uint32_t> stamp;
  uint32_t current_stamp = 0;
};

}  // namespace fedge::secure

#endif  // FEDGE_SECURE_SECAGG_SERVER_STATE_H_
