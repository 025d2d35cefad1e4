// SecAggServer: message intake and the closing of the key-exchange and
// masked-input phases. Unmasking is in secagg_server_unmask.cc.

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "secure/secagg_server_state.h"

namespace fedge::secure {
namespace {

using Phase = SecAggServer::Phase;
using Outbox = SecAggServerState::Outbox;
using Client = SecAggServerState::Client;

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::kAdvertiseKeys: return "AdvertiseKeys";
    case Phase::kShareKeys: return "ShareKeys";
    case Phase::kMaskedInput: return "MaskedInput";
    case Phase::kUnmasking: return "Unmasking";
    case Phase::kCompleted: return "Completed";
    case Phase::kAborted: return "Aborted";
  }
  return "?";
}

// The phase in which each client message is accepted (variant order).
constexpr Phase kPhaseOf[] = {Phase::kAdvertiseKeys, Phase::kShareKeys, Phase::kMaskedInput,
                              Phase::kUnmasking};
constexpr const char* kMessageName[] = {"AdvertiseKeys", "ShareKeysResponse", "MaskedInput",
                                        "UnmaskingResponse"};

// Is `c` expected to answer in phase `p` (before its answer)?
bool Expected(const Client& c, Phase p) {
  switch (p) {
    case Phase::kAdvertiseKeys: return true;
    case Phase::kShareKeys: return c.in_u1;
    case Phase::kMaskedInput: return c.in_u2;
    case Phase::kUnmasking: return c.in_u3;
    default: return false;
  }
}
bool Answered(const Client& c, Phase p) {
  switch (p) {
    case Phase::kAdvertiseKeys: return c.advertised;
    case Phase::kShareKeys: return c.shared;
    case Phase::kMaskedInput: return c.masked;
    case Phase::kUnmasking: return c.unmasked;
    default: return false;
  }
}

absl::Status OnAdvertise(SecAggServerState& s, uint32_t u, const AdvertiseKeys& m) {
  if (m.encryption_key == m.masking_key) {
    return absl::InvalidArgumentError(
        absl::StrCat("AdvertiseKeys from client ", u, ": both public keys are equal"));
  }
  // Distinct keys across clients; clients check this too, refusing here
  // keeps one client's replay from aborting the others.
  for (const X25519PublicKey* k : {&m.encryption_key, &m.masking_key}) {
    if (auto it = s.key_owner.find(*k); it != s.key_owner.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "AdvertiseKeys from client ", u, " repeats a public key of client ", it->second));
    }
  }
  s.key_owner.emplace(m.encryption_key, u);
  s.key_owner.emplace(m.masking_key, u);
  s.clients[u].keys = m;
  s.clients[u].advertised = true;
  return absl::OkStatus();
}

absl::Status OnShareKeys(SecAggServerState& s, uint32_t u, const ShareKeysResponse& m,
                         ShareKeysResponse* movable) {
  const uint32_t n = s.config.num_clients;
  const uint32_t mark = s.NextStamp();
  for (const EncryptedShare& e : m.shares) {
    if (e.peer < 1 || e.peer > n || e.peer == u || !s.graph.Adjacent(u, e.peer)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ShareKeysResponse from client ", u, ": share addressed to client ", e.peer,
          ", not a neighbour"));
    }
    if (!s.clients[e.peer].in_u1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ShareKeysResponse from client ", u, ": share addressed to client ", e.peer,
          ", which did not advertise keys"));
    }
    if (s.stamp[e.peer] == mark) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ShareKeysResponse from client ", u, ": two shares for client ", e.peer));
    }
    s.stamp[e.peer] = mark;
    if (e.ciphertext.size() != kSecAggShareCiphertextSize) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ShareKeysResponse from client ", u, ": share for client ", e.peer, " has ",
          e.ciphertext.size(), " bytes, want ", kSecAggShareCiphertextSize));
    }
  }
  if (m.shares.size() != s.clients[u].u1_degree) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ShareKeysResponse from client ", u, " has ", m.shares.size(), " shares, want one for "
        "each of its ", s.clients[u].u1_degree, " neighbours that advertised keys"));
  }
  for (size_t i = 0; i < m.shares.size(); ++i) {
    const EncryptedShare& e = m.shares[i];
    s.inbox[e.peer].push_back(
        {u, movable != nullptr ? std::move(movable->shares[i].ciphertext) : e.ciphertext});
  }
  s.clients[u].shared = true;
  return absl::OkStatus();
}

absl::Status OnMasked(SecAggServerState& s, uint32_t u, const MaskedInput& m) {
  if (m.masked.size() != s.config.input_length) {
    return absl::InvalidArgumentError(absl::StrCat("MaskedInput from client ", u, " has ",
                                                   m.masked.size(), " words, want ",
                                                   s.config.input_length));
  }
  // Folded now: the server never holds more than one input vector.
  uint32_t* acc = s.acc.data();
  if (m.bits != s.config.word_bits) {
    return absl::InvalidArgumentError(absl::StrCat("MaskedInput from client ", u, " is in a ring of ",
                                                   m.bits, " bits, want ", s.config.word_bits));
  }
  if (m.bits < 32) {
    const uint32_t limit = uint32_t{1} << m.bits;
    for (size_t i = 0; i < m.masked.size(); ++i) {
      if (m.masked[i] >= limit) {
        return absl::InvalidArgumentError(absl::StrCat("MaskedInput from client ", u, ": word ", i,
                                                       " is outside the ring of ", m.bits,
                                                       " bits"));
      }
    }
  }
  const uint32_t* in = m.masked.data();
  for (size_t i = 0, d = m.masked.size(); i < d; ++i) acc[i] += in[i];
  s.clients[u].masked = true;
  return absl::OkStatus();
}

// SecAgg+: a client whose neighbourhood (itself included) has fewer than t
// members left in the set can never be unmasked, so it leaves the set; that
// may starve its neighbours in turn. Returns the excluded clients.
template <typename Member, typename Remove>
std::vector<uint32_t> ExcludeStarved(SecAggServerState& s, Member member, Remove remove) {
  std::vector<uint32_t> excluded;
  if (s.graph.full()) return excluded;
  const uint32_t n = s.config.num_clients;
  std::vector<uint32_t> count(n + 1, 0);
  std::vector<uint32_t> queue;
  for (uint32_t u = 1; u <= n; ++u) {
    if (!member(s.clients[u])) continue;
    count[u] = static_cast<uint32_t>(s.NeighboursWhere(u, true, member).size());
    if (count[u] < s.config.threshold) queue.push_back(u);
  }
  while (!queue.empty()) {
    const uint32_t u = queue.back();
    queue.pop_back();
    if (!member(s.clients[u])) continue;
    remove(s.clients[u]);
    excluded.push_back(u);
    for (uint32_t v : s.graph.Neighbors(u)) {
      if (member(s.clients[v]) && --count[v] < s.config.threshold) queue.push_back(v);
    }
  }
  return excluded;
}

// Aborts the excluded clients individually (their neighbours carry on).
void TellExcluded(SecAggServerState& s, const std::vector<uint32_t>& excluded, Outbox& out) {
  for (uint32_t u : excluded) {
    s.clients[u].alive = false;
    out.emplace_back(u, SecAggAbort{absl::StrCat(
                            "client ", u, " excluded: fewer than ", s.config.threshold,
                            " of its neighbourhood remain in the session")});
  }
}

size_t CountWhere(const SecAggServerState& s, bool (*pred)(const Client&)) {
  size_t k = 0;
  for (uint32_t u = 1; u <= s.config.num_clients; ++u) k += pred(s.clients[u]) ? 1 : 0;
  return k;
}

absl::StatusOr<Outbox> CloseAdvertise(SecAggServerState& s) {
  const uint32_t n = s.config.num_clients;
  for (uint32_t u = 1; u <= n; ++u) {
    Client& c = s.clients[u];
    c.in_u1 = c.alive && c.advertised;
    if (!c.in_u1) c.alive = false;
  }
  Outbox out;
  TellExcluded(s, ExcludeStarved(s, [](const Client& c) { return c.in_u1; },
                                 [](Client& c) { c.in_u1 = false; }),
               out);
  const size_t u1 = CountWhere(s, [](const Client& c) { return c.in_u1; });
  if (u1 < s.config.threshold) {
    return s.Abort(absl::StrCat("only ", u1, " clients advertised keys, need the threshold ",
                                s.config.threshold));
  }
  s.inbox.assign(n + 1, {});
  auto keys_of = [&](const std::vector<uint32_t>& ids) {
    std::vector<ClientPublicKeys> keys;
    keys.reserve(ids.size());
    for (uint32_t v : ids) {
      keys.push_back({v, s.clients[v].keys.encryption_key, s.clients[v].keys.masking_key});
    }
    return keys;
  };
  // With the complete graph every client gets the same list: build it once.
  std::vector<ClientPublicKeys> everyone;
  if (s.graph.full()) everyone = keys_of(s.NeighboursWhere(0, false, [](const Client& c) {
    return c.in_u1;
  }));
  for (uint32_t u = 1; u <= n; ++u) {
    if (!s.clients[u].in_u1) continue;
    ShareKeysRequest req;
    req.keys = s.graph.full() ? everyone
                              : keys_of(s.NeighboursWhere(u, true, [](const Client& c) {
                                  return c.in_u1;
                                }));
    s.clients[u].u1_degree = static_cast<uint32_t>(req.keys.size() - 1);
    s.inbox[u].reserve(s.clients[u].u1_degree);
    out.emplace_back(u, std::move(req));
  }
  s.OpenPhase(Phase::kShareKeys);
  return out;
}

absl::StatusOr<Outbox> CloseShareKeys(SecAggServerState& s) {
  const uint32_t n = s.config.num_clients;
  for (uint32_t u = 1; u <= n; ++u) {
    Client& c = s.clients[u];
    c.in_u2 = c.in_u1 && c.alive && c.shared;
    if (c.in_u1 && !c.in_u2) c.alive = false;
  }
  Outbox out;
  TellExcluded(s, ExcludeStarved(s, [](const Client& c) { return c.in_u2; },
                                 [](Client& c) { c.in_u2 = false; }),
               out);
  const size_t u2 = CountWhere(s, [](const Client& c) { return c.in_u2; });
  if (u2 < s.config.threshold) {
    return s.Abort(absl::StrCat("only ", u2, " clients completed ShareKeys, need the threshold ",
                                s.config.threshold));
  }
  for (uint32_t u = 1; u <= n; ++u) {
    if (!s.clients[u].in_u2) continue;
    MaskedInputRequest req;
    req.share_holders =
        s.NeighboursWhere(u, false, [](const Client& c) { return c.in_u2; });
    req.shares = std::move(s.inbox[u]);
    req.shares.erase(std::remove_if(req.shares.begin(), req.shares.end(),
                                    [&](const EncryptedShare& e) {
                                      return !s.clients[e.peer].in_u2;
                                    }),
                     req.shares.end());
    out.emplace_back(u, std::move(req));
  }
  s.inbox.clear();
  s.inbox.shrink_to_fit();
  s.acc.assign(s.config.input_length, 0);
  s.OpenPhase(Phase::kMaskedInput);
  return out;
}

absl::StatusOr<Outbox> CloseMaskedInput(SecAggServerState& s) {
  const uint32_t n = s.config.num_clients;
  const uint32_t t = s.config.threshold;
  for (uint32_t u = 1; u <= n; ++u) {
    Client& c = s.clients[u];
    c.in_u3 = c.in_u2 && c.masked;  // a masked input counts even if its sender left since
    c.in_dropped = c.in_u2 && !c.masked;
    if (c.in_dropped) c.alive = false;
  }
  const size_t u3 = CountWhere(s, [](const Client& c) { return c.in_u3; });
  if (u3 < t) {
    return s.Abort(absl::StrCat("only ", u3, " clients sent a masked input, need the threshold ",
                                t));
  }
  // Every secret to be reconstructed needs t potential holders in U3 (with
  // the complete graph that is the check above).
  auto in_u3 = [](const Client& c) { return c.in_u3; };
  for (uint32_t u = 1; u <= n && !s.graph.full(); ++u) {
    const Client& c = s.clients[u];
    if (!c.in_u3 && !c.in_dropped) continue;
    const size_t holders = s.NeighboursWhere(u, c.in_u3, in_u3).size();
    if (holders < t) {
      return s.Abort(absl::StrCat("client ", u, (c.in_u3 ? "'s self mask" : "'s pairwise masks"),
                                  " cannot be removed: only ", holders,
                                  " of its share holders sent a masked input, need ", t));
    }
  }
  Outbox out;
  for (uint32_t u = 1; u <= n; ++u) {
    const Client& c = s.clients[u];
    if (!c.in_u3 || !c.alive) continue;
    UnmaskingRequest req;
    req.survivors = s.NeighboursWhere(u, true, in_u3);
    req.dropped = s.NeighboursWhere(u, false, [](const Client& x) { return x.in_dropped; });
    out.emplace_back(u, std::move(req));
  }
  s.seed_shares.assign(n + 1, {});
  s.key_shares.assign(n + 1, {});
  s.OpenPhase(Phase::kUnmasking);
  return out;
}

}  // namespace

SecAggServerState::Outbox SecAggServerState::Abort(std::string reason) {
  phase = Phase::kAborted;
  abort_reason = std::move(reason);
  Outbox out;
  for (uint32_t u = 1; u <= config.num_clients; ++u) {
    if (clients[u].alive) out.emplace_back(u, SecAggAbort{abort_reason});
  }
  inbox.clear();
  acc.clear();
  seed_shares.clear();
  key_shares.clear();
  pending = 0;
  return out;
}

void SecAggServerState::OpenPhase(Phase next) {
  phase = next;
  pending = 0;
  for (uint32_t u = 1; u <= config.num_clients; ++u) {
    const Client& c = clients[u];
    if (c.alive && Expected(c, next)) ++pending;
  }
}

SecAggServer::SecAggServer(std::unique_ptr<SecAggServerState> state) : s_(std::move(state)) {}
SecAggServer::~SecAggServer() = default;

absl::StatusOr<std::unique_ptr<SecAggServer>> SecAggServer::Create(const SecAggConfig& config) {
  FEDGE_RETURN_IF_ERROR(ValidateSecAggConfig(config));
  FEDGE_ASSIGN_OR_RETURN(internal::SecAggKdf kdf, internal::SecAggKdf::Create(config));
  auto state = std::make_unique<SecAggServerState>(config, std::move(kdf));
  state->OpenPhase(Phase::kAdvertiseKeys);
  return std::unique_ptr<SecAggServer>(new SecAggServer(std::move(state)));
}

absl::Status SecAggServer::OnMessage(uint32_t index, const SecAggClientMessage& message) {
  SecAggServerState& s = *s_;
  if (index < 1 || index > s.config.num_clients) {
    return absl::InvalidArgumentError(absl::StrCat("SecAgg message from unknown client index ",
                                                   index, " (clients are 1..",
                                                   s.config.num_clients, ")"));
  }
  const size_t kind = message.index();
  if (kPhaseOf[kind] != s.phase) {
    return absl::FailedPreconditionError(absl::StrCat(kMessageName[kind], " from client ", index,
                                                      " in phase ", PhaseName(s.phase)));
  }
  Client& c = s.clients[index];
  if (!c.alive) {
    return absl::FailedPreconditionError(absl::StrCat(
        kMessageName[kind], " from client ", index, ", which has dropped out of the session"));
  }
  if (!Expected(c, s.phase)) {
    return absl::FailedPreconditionError(absl::StrCat(
        kMessageName[kind], " from client ", index, ", which is not part of this phase"));
  }
  if (Answered(c, s.phase)) {
    return absl::AlreadyExistsError(
        absl::StrCat("duplicate ", kMessageName[kind], " from client ", index));
  }
  absl::Status status;
  if (const auto* a = std::get_if<AdvertiseKeys>(&message)) {
    status = OnAdvertise(s, index, *a);
  } else if (const auto* sk = std::get_if<ShareKeysResponse>(&message)) {
    status = OnShareKeys(s, index, *sk, s.movable_shares);
  } else if (const auto* mi = std::get_if<MaskedInput>(&message)) {
    status = OnMasked(s, index, *mi);
  } else {
    status = s.OnUnmasking(index, std::get<UnmaskingResponse>(message));
  }
  if (status.ok()) --s.pending;
  return status;
}

absl::Status SecAggServer::OnMessage(uint32_t index, SecAggClientMessage&& message) {
  // Only the share ciphertexts are worth moving (n * k small vectors).
  s_->movable_shares = std::get_if<ShareKeysResponse>(&message);
  absl::Status status = OnMessage(index, static_cast<const SecAggClientMessage&>(message));
  s_->movable_shares = nullptr;
  return status;
}

void SecAggServer::Drop(uint32_t index) {
  SecAggServerState& s = *s_;
  if (index < 1 || index > s.config.num_clients) return;
  Client& c = s.clients[index];
  if (!c.alive) return;
  if (Expected(c, s.phase) && !Answered(c, s.phase) && s.pending > 0) --s.pending;
  c.alive = false;
}

bool SecAggServer::PhaseComplete() const {
  const Phase p = s_->phase;
  return p != Phase::kCompleted && p != Phase::kAborted && s_->pending == 0;
}

absl::StatusOr<std::vector<std::pair<uint32_t, SecAggServerMessage>>>
SecAggServer::AdvancePhase() {
  SecAggServerState& s = *s_;
  absl::StatusOr<Outbox> out;
  switch (s.phase) {
    case Phase::kAdvertiseKeys: out = CloseAdvertise(s); break;
    case Phase::kShareKeys: out = CloseShareKeys(s); break;
    case Phase::kMaskedInput: out = CloseMaskedInput(s); break;
    case Phase::kUnmasking: out = s.CloseUnmasking(); break;
    default:
      return absl::FailedPreconditionError(
          absl::StrCat("SecAgg server: no phase to close in ", PhaseName(s.phase)));
  }
  if (!out.ok()) {
    // OpenSSL failures: end the session rather than leave it half-closed,
    // and tell the clients so they do not wait for a timeout.
    return s.Abort(absl::StrCat("internal error closing ", PhaseName(s.phase), ": ",
                                out.status().message()));
  }
  return out;
}

SecAggServer::Phase SecAggServer::phase() const { return s_->phase; }
const std::string& SecAggServer::abort_reason() const { return s_->abort_reason; }
const std::vector<uint32_t>& SecAggServer::sum() const { return s_->sum; }
const std::vector<uint32_t>& SecAggServer::survivors() const { return s_->survivors; }

}  // namespace fedge::secure
