// SecAggServer, last phase: collect revealed shares, reconstruct the
// survivors' self-mask seeds and the dropped clients' masking keys, and
// strip every mask that does not cancel from the folded sum.

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "secure/secagg_server_state.h"
#include "secure/shamir.h"

namespace fedge::secure {
namespace {

using Client = SecAggServerState::Client;
using Revealed = SecAggServerState::Revealed;

// Checks one list of revealed shares from holder `u`. `owner_ok` says whether
// u may reveal a share of that owner's secret in this list.
template <typename OwnerOk>
absl::Status CheckRevealed(SecAggServerState& s, uint32_t u, uint32_t mark,
                           const std::vector<RevealedShare>& shares, const char* list,
                           OwnerOk owner_ok) {
  for (const RevealedShare& r : shares) {
    if (r.owner < 1 || r.owner > s.config.num_clients || !owner_ok(r.owner)) {
      return absl::InvalidArgumentError(absl::StrCat("UnmaskingResponse from client ", u,
                                                     ": unexpected ", list, " for client ",
                                                     r.owner));
    }
    if (s.stamp[r.owner] == mark) {
      return absl::InvalidArgumentError(absl::StrCat(
          "UnmaskingResponse from client ", u, " reveals two shares of client ", r.owner));
    }
    s.stamp[r.owner] = mark;
    if (r.y.size() != kSecAggShareChunks) {
      return absl::InvalidArgumentError(absl::StrCat(
          "UnmaskingResponse from client ", u, ": ", list, " of client ", r.owner, " has ",
          r.y.size(), " values, want ", kSecAggShareChunks));
    }
    for (uint64_t v : r.y) {
      if (v >= kShamirPrime) {
        return absl::InvalidArgumentError(absl::StrCat("UnmaskingResponse from client ", u, ": ",
                                                       list, " of client ", r.owner,
                                                       " is outside the field"));
      }
    }
  }
  return absl::OkStatus();
}

void Keep(uint32_t holder, const std::vector<RevealedShare>& shares, uint32_t t,
          std::vector<std::vector<Revealed>>& store) {
  for (const RevealedShare& r : shares) {
    std::vector<Revealed>& kept = store[r.owner];
    if (kept.size() >= t) continue;  // t shares determine the secret; the rest are not needed
    if (kept.empty()) kept.reserve(t);
    Revealed entry;
    entry.holder = holder;
    std::copy(r.y.begin(), r.y.end(), entry.y.begin());
    kept.push_back(entry);
  }
}

// Reconstructs from exactly t shares, reusing Lagrange coefficients across
// owners with the same holders in the same order. Shares are kept in arrival
// order, and each response carries shares of many owners, so with the
// complete graph every owner sees the same order and one set of
// coefficients serves all.
class Reconstructor {
 public:
  absl::StatusOr<SecretBytes> Run(const std::vector<Revealed>& shares, size_t secret_length) {
    std::vector<uint32_t> xs;
    std::vector<absl::Span<const uint64_t>> ys;
    for (const Revealed& r : shares) {
      xs.push_back(r.holder);
      ys.push_back(absl::MakeConstSpan(r.y));
    }
    auto it = cache_.find(xs);
    if (it == cache_.end()) {
      // SecAgg+ holder sets rarely repeat; bound the memory they take.
      if (cache_.size() >= 4096) cache_.clear();
      FEDGE_ASSIGN_OR_RETURN(ShamirReconstructor r, ShamirReconstructor::Create(xs));
      it = cache_.emplace(std::move(xs), std::move(r)).first;
    }
    return it->second.Reconstruct(ys, secret_length);
  }

 private:
  std::map<std::vector<uint32_t>, ShamirReconstructor> cache_;
};

}  // namespace

absl::Status SecAggServerState::OnUnmasking(uint32_t u, const UnmaskingResponse& m) {
  const uint32_t mark = NextStamp();
  FEDGE_RETURN_IF_ERROR(
      CheckRevealed(*this, u, mark, m.self_mask_shares, "self-mask seed share", [&](uint32_t o) {
        return clients[o].in_u3 && InNeighbourhood(o, u);
      }));
  FEDGE_RETURN_IF_ERROR(
      CheckRevealed(*this, u, mark, m.masking_key_shares, "masking key share", [&](uint32_t o) {
        return clients[o].in_dropped && graph.Adjacent(o, u);
      }));
  Keep(u, m.self_mask_shares, config.threshold, seed_shares);
  Keep(u, m.masking_key_shares, config.threshold, key_shares);
  clients[u].unmasked = true;
  return absl::OkStatus();
}

absl::StatusOr<SecAggServerState::Outbox> SecAggServerState::CloseUnmasking() {
  const uint32_t n = config.num_clients;
  const uint32_t t = config.threshold;
  for (uint32_t u = 1; u <= n; ++u) {
    if (clients[u].in_u3 && !clients[u].unmasked) clients[u].alive = false;
  }
  for (uint32_t u = 1; u <= n; ++u) {
    const Client& c = clients[u];
    const size_t have = c.in_u3 ? seed_shares[u].size() : c.in_dropped ? key_shares[u].size() : t;
    if (have < t) {
      return Abort(absl::StrCat("cannot reconstruct the ",
                                c.in_u3 ? "self-mask seed" : "masking key", " of client ", u,
                                ": ", have, " shares revealed, need ", t));
    }
  }

  Reconstructor reconstructor;
  const absl::Span<uint32_t> sum_span = absl::MakeSpan(acc);
  // Survivors: subtract PRG(b_u).
  for (uint32_t u = 1; u <= n; ++u) {
    if (!clients[u].in_u3) continue;
    absl::StatusOr<SecretBytes> seed = reconstructor.Run(seed_shares[u], internal::kSecAggSeedSize);
    if (!seed.ok()) {
      return Abort(absl::StrCat("self-mask seed of client ", u,
                                " does not reconstruct: ", seed.status().message()));
    }
    FEDGE_RETURN_IF_ERROR(internal::ApplyMask(seed->span(), MaskSign::kSubtract, sum_span));
  }
  // Dropped clients: remove the pairwise masks their surviving neighbours added.
  SecretBytes shared(kX25519KeySize);
  SecretBytes seed(internal::kSecAggSeedSize);
  for (uint32_t d = 1; d <= n; ++d) {
    if (!clients[d].in_dropped) continue;
    absl::StatusOr<SecretBytes> key = reconstructor.Run(key_shares[d], kX25519KeySize);
    absl::StatusOr<X25519KeyPair> pair =
        key.ok() ? X25519KeyPair::FromPrivateKey(key->span())
                 : absl::StatusOr<X25519KeyPair>(key.status());
    // The advertised public key authenticates the reconstruction.
    if (!pair.ok() || pair->public_key() != clients[d].keys.masking_key) {
      return Abort(absl::StrCat("masking key of client ", d, " does not reconstruct",
                                pair.ok() ? " to its advertised public key"
                                          : absl::StrCat(": ", pair.status().message())));
    }
    FEDGE_ASSIGN_OR_RETURN(X25519Agreement agreement, X25519Agreement::Create(*pair));
    for (uint32_t v : NeighboursWhere(d, false, [](const Client& c) { return c.in_u3; })) {
      FEDGE_RETURN_IF_ERROR(
          agreement.SharedSecret(clients[v].keys.masking_key, shared.mutable_span()));
      FEDGE_RETURN_IF_ERROR(kdf.MaskSeed(shared.span(), v, d, seed.mutable_span()));
      // v added +PRG when v < d, -PRG otherwise.
      FEDGE_RETURN_IF_ERROR(internal::ApplyMask(
          seed.span(), v < d ? MaskSign::kSubtract : MaskSign::kAdd, sum_span));
    }
  }

  for (uint32_t u = 1; u <= n; ++u) {
    if (clients[u].in_u3) survivors.push_back(u);
  }
  if (config.word_bits < 32) {
    const uint32_t mask = (uint32_t{1} << config.word_bits) - 1;
    for (uint32_t& w : acc) w &= mask;
  }
  sum = std::move(acc);
  acc.clear();
  seed_shares.clear();
  key_shares.clear();
  phase = Phase::kCompleted;
  pending = 0;
  return Outbox();
}

}  // namespace fedge::secure
