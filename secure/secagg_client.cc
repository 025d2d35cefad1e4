// SecAggClient: one phase handler per server message, sharing the data in
// SecAggClientState. Every error aborts the client and wipes its secrets.

#include <algorithm>
#include <optional>
#include <utility>

#include <openssl/crypto.h>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "secure/aead.h"
#include "secure/secagg.h"
#include "secure/secagg_internal.h"
#include "secure/shamir.h"

namespace fedge::secure {

using internal::ShareBundle;

struct SecAggClientState {
  SecAggClientState(const SecAggConfig& c, uint32_t i, SecureRandom& r, internal::SecAggKdf k)
      : config(c), index(i), random(r), graph(c), kdf(std::move(k)) {}
  ~SecAggClientState() { WipeSecrets(); }

  // Secrets: key pairs, b_u, pairwise share keys, held shares, the input.
  void WipeSecrets() {
    encryption_key.reset();
    masking_key.reset();
    self_seed = SecretBytes();
    share_aead.clear();
    if (!held.empty()) OPENSSL_cleanse(held.data(), held.size() * sizeof(ShareBundle));
    held.clear();
    if (!input.empty()) OPENSSL_cleanse(input.data(), input.size() * sizeof(uint32_t));
    input.clear();
  }
  const ShareBundle* Held(uint32_t owner) const {
    auto it = std::lower_bound(held.begin(), held.end(), owner,
                               [](const ShareBundle& b, uint32_t o) { return b.owner < o; });
    return it != held.end() && it->owner == owner ? &*it : nullptr;
  }
  // Position of neighbour v in `peers`, or -1.
  int PeerSlot(uint32_t v) const {
    auto it = std::lower_bound(peers.begin(), peers.end(), v,
                               [](const ClientPublicKeys& k, uint32_t i) { return k.index < i; });
    return it != peers.end() && it->index == v ? static_cast<int>(it - peers.begin()) : -1;
  }

  const SecAggConfig config;
  const uint32_t index;
  SecureRandom& random;
  const internal::SecAggGraph graph;
  const internal::SecAggKdf kdf;

  SecAggClient::Phase phase = SecAggClient::Phase::kAdvertiseKeys;
  bool started = false;
  std::optional<X25519KeyPair> encryption_key;  // c_u
  std::optional<X25519KeyPair> masking_key;     // s_u
  SecretBytes self_seed;                        // b_u
  std::vector<ClientPublicKeys> peers;          // neighbours in U1, sorted, not self
  std::vector<Aes256Gcm> share_aead;            // parallel to peers
  std::vector<ShareBundle> held;                // shares held, sorted by owner (incl. own)
  bool have_request = false;
  std::vector<uint32_t> share_holders;  // U2 cap N(u), sorted, not self
  bool have_input = false;
  std::vector<uint32_t> input;
  size_t rejected = 0;
};

namespace {

using Reply = absl::StatusOr<std::optional<SecAggClientMessage>>;
using Phase = SecAggClient::Phase;

// Sorted copy of `ids`; InvalidArgument on an index outside 1..n or a repeat.
absl::StatusOr<std::vector<uint32_t>> SortedIds(absl::Span<const uint32_t> ids, uint32_t n,
                                                const char* what) {
  std::vector<uint32_t> sorted(ids.begin(), ids.end());
  std::sort(sorted.begin(), sorted.end());
  if (!sorted.empty() && (sorted.front() < 1 || sorted.back() > n)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " lists an index outside 1..", n));
  }
  if (auto dup = std::adjacent_find(sorted.begin(), sorted.end()); dup != sorted.end()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " lists client ", *dup, " twice"));
  }
  return sorted;
}

absl::Status CheckKeys(SecAggClientState& s, const ShareKeysRequest& m) {
  const uint32_t u = s.index;
  std::vector<uint32_t> ids;
  std::vector<X25519PublicKey> all_keys;
  bool saw_self = false;
  for (const ClientPublicKeys& k : m.keys) {
    ids.push_back(k.index);
    all_keys.push_back(k.encryption_key);
    all_keys.push_back(k.masking_key);
    if (k.index == u) {
      saw_self = k.encryption_key == s.encryption_key->public_key() &&
                 k.masking_key == s.masking_key->public_key();
      if (!saw_self) {
        return absl::InvalidArgumentError(
            absl::StrCat("ShareKeysRequest to client ", u, " carries other keys for it"));
      }
    } else if (k.index >= 1 && k.index <= s.config.num_clients && !s.graph.Adjacent(u, k.index)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ShareKeysRequest to client ", u, " lists client ", k.index, ", not a neighbour"));
    }
  }
  FEDGE_RETURN_IF_ERROR(SortedIds(ids, s.config.num_clients, "ShareKeysRequest").status());
  if (!saw_self) {
    return absl::InvalidArgumentError(
        absl::StrCat("ShareKeysRequest to client ", u, " does not list its own keys"));
  }
  // Distinct keys everywhere: a client whose key is replayed under another
  // index would otherwise share pairwise masks with itself.
  std::sort(all_keys.begin(), all_keys.end());
  if (std::adjacent_find(all_keys.begin(), all_keys.end()) != all_keys.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ShareKeysRequest to client ", u, " repeats a public key"));
  }
  if (m.keys.size() < s.config.threshold) {
    return absl::FailedPreconditionError(
        absl::StrCat("client ", u, ": only ", m.keys.size(), " of its neighbourhood advertised "
                     "keys, need the threshold ", s.config.threshold));
  }
  return absl::OkStatus();
}

Reply OnShareKeys(SecAggClientState& s, const ShareKeysRequest& m) {
  FEDGE_RETURN_IF_ERROR(CheckKeys(s, m));
  const uint32_t u = s.index;
  for (const ClientPublicKeys& k : m.keys) {
    if (k.index != u) s.peers.push_back(k);
  }
  std::sort(s.peers.begin(), s.peers.end(),
            [](const ClientPublicKeys& a, const ClientPublicKeys& b) { return a.index < b.index; });

  // Split s_u and b_u among the neighbourhood (x = holder index).
  s.self_seed = SecretBytes(internal::kSecAggSeedSize);
  FEDGE_RETURN_IF_ERROR(s.random.Fill(s.self_seed.mutable_span()));
  std::vector<uint32_t> holders;
  for (const ClientPublicKeys& k : m.keys) holders.push_back(k.index);
  std::sort(holders.begin(), holders.end());
  FEDGE_ASSIGN_OR_RETURN(SecretBytes mask_private, s.masking_key->ExportPrivateKey());
  const int t = static_cast<int>(s.config.threshold);
  FEDGE_ASSIGN_OR_RETURN(std::vector<ShamirShare> key_shares,
                         ShamirSplitAt(mask_private.span(), t, holders, s.random));
  FEDGE_ASSIGN_OR_RETURN(std::vector<ShamirShare> seed_shares,
                         ShamirSplitAt(s.self_seed.span(), t, holders, s.random));

  FEDGE_ASSIGN_OR_RETURN(X25519Agreement agreement, X25519Agreement::Create(*s.encryption_key));
  s.held.reserve(s.peers.size() + 1);
  s.share_aead.reserve(s.peers.size());
  ShareKeysResponse out;
  out.shares.reserve(s.peers.size());
  SecretBytes shared(kX25519KeySize);
  SecretBytes key(kAes256GcmKeySize);
  SecretBytes plaintext(kSecAggSharePlaintextSize);
  for (size_t i = 0; i < holders.size(); ++i) {
    ShareBundle bundle;
    bundle.owner = u;
    bundle.holder = holders[i];
    std::copy(key_shares[i].y.begin(), key_shares[i].y.end(), bundle.key_share.begin());
    std::copy(seed_shares[i].y.begin(), seed_shares[i].y.end(), bundle.seed_share.begin());
    if (holders[i] == u) {
      s.held.push_back(bundle);
      OPENSSL_cleanse(&bundle, sizeof(bundle));
      continue;
    }
    const ClientPublicKeys& peer = s.peers[s.PeerSlot(holders[i])];
    internal::EncodeShareBundle(bundle, plaintext.mutable_span());
    OPENSSL_cleanse(&bundle, sizeof(bundle));
    FEDGE_RETURN_IF_ERROR(agreement.SharedSecret(peer.encryption_key, shared.mutable_span()));
    FEDGE_RETURN_IF_ERROR(s.kdf.ShareKey(shared.span(), u, peer.index, key.mutable_span()));
    FEDGE_ASSIGN_OR_RETURN(Aes256Gcm aead, Aes256Gcm::Create(key.span()));
    const auto ad = internal::ShareAssociatedData(s.config, u, peer.index);
    FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> sealed,
                           aead.Seal(plaintext.span(), ad, s.random));
    out.shares.push_back({peer.index, std::move(sealed)});
    s.share_aead.push_back(std::move(aead));
  }
  s.phase = Phase::kMaskedInput;
  return std::optional<SecAggClientMessage>(std::move(out));
}

// y = x + PRG(b_u) + sum_v (u < v ? + : -) PRG(s_uv), v in U2 cap N(u).
Reply Mask(SecAggClientState& s) {
  const uint32_t u = s.index;
  MaskedInput out;
  out.masked = std::move(s.input);
  s.input.clear();
  absl::Span<uint32_t> acc = absl::MakeSpan(out.masked);
  FEDGE_RETURN_IF_ERROR(internal::ApplyMask(s.self_seed.span(), MaskSign::kAdd, acc));
  FEDGE_ASSIGN_OR_RETURN(X25519Agreement agreement, X25519Agreement::Create(*s.masking_key));
  SecretBytes shared(kX25519KeySize);
  SecretBytes seed(internal::kSecAggSeedSize);
  for (uint32_t v : s.share_holders) {
    const ClientPublicKeys& peer = s.peers[s.PeerSlot(v)];
    FEDGE_RETURN_IF_ERROR(agreement.SharedSecret(peer.masking_key, shared.mutable_span()));
    FEDGE_RETURN_IF_ERROR(s.kdf.MaskSeed(shared.span(), u, v, seed.mutable_span()));
    FEDGE_RETURN_IF_ERROR(
        internal::ApplyMask(seed.span(), u < v ? MaskSign::kAdd : MaskSign::kSubtract, acc));
  }
  // Reduction mod 2^bits is a ring homomorphism from Z/2^32: the masks stay
  // uniform and still cancel in the reduced sum.
  out.bits = s.config.word_bits;
  if (out.bits < 32) {
    const uint32_t mask = (uint32_t{1} << out.bits) - 1;
    for (uint32_t& w : acc) w &= mask;
  }
  // From here on only the held shares are needed.
  s.encryption_key.reset();
  s.masking_key.reset();
  s.self_seed = SecretBytes();
  s.share_aead.clear();
  s.phase = Phase::kUnmasking;
  return std::optional<SecAggClientMessage>(std::move(out));
}

Reply OnMaskedInputRequest(SecAggClientState& s, const MaskedInputRequest& m) {
  const uint32_t u = s.index;
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint32_t> holders,
                         SortedIds(m.share_holders, s.config.num_clients,
                                   "MaskedInputRequest.share_holders"));
  holders.erase(std::remove(holders.begin(), holders.end(), u), holders.end());
  for (uint32_t v : holders) {
    if (s.PeerSlot(v) < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "MaskedInputRequest to client ", u, " lists client ", v,
          " as a share holder, but it is not a neighbour that advertised keys"));
    }
  }
  if (holders.size() + 1 < s.config.threshold) {
    return absl::FailedPreconditionError(
        absl::StrCat("client ", u, ": only ", holders.size() + 1, " of its neighbourhood "
                     "completed ShareKeys, need the threshold ", s.config.threshold));
  }
  std::vector<uint32_t> senders;
  for (const EncryptedShare& e : m.shares) senders.push_back(e.peer);
  FEDGE_ASSIGN_OR_RETURN(senders, SortedIds(senders, s.config.num_clients,
                                            "MaskedInputRequest.shares"));
  for (uint32_t v : senders) {
    if (!std::binary_search(holders.begin(), holders.end(), v)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "MaskedInputRequest to client ", u, " forwards a share from client ", v,
          ", which is not among its share holders"));
    }
  }
  // A share that fails authentication is skipped: the round can still
  // succeed with the other holders' shares of that client.
  ShareBundle bundle;
  for (const EncryptedShare& e : m.shares) {
    const auto ad = internal::ShareAssociatedData(s.config, e.peer, u);
    absl::StatusOr<SecretBytes> plain = s.share_aead[s.PeerSlot(e.peer)].Open(e.ciphertext, ad);
    if (!plain.ok() || !internal::DecodeShareBundle(plain->span(), bundle).ok() ||
        bundle.owner != e.peer || bundle.holder != u) {
      ++s.rejected;
      continue;
    }
    s.held.push_back(bundle);
  }
  OPENSSL_cleanse(&bundle, sizeof(bundle));
  std::sort(s.held.begin(), s.held.end(),
            [](const ShareBundle& a, const ShareBundle& b) { return a.owner < b.owner; });
  s.share_holders = std::move(holders);
  s.have_request = true;
  if (!s.have_input) return std::optional<SecAggClientMessage>();
  return Mask(s);
}

Reply OnUnmaskingRequest(SecAggClientState& s, const UnmaskingRequest& m) {
  const uint32_t u = s.index;
  const uint32_t n = s.config.num_clients;
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint32_t> survivors,
                         SortedIds(m.survivors, n, "UnmaskingRequest.survivors"));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint32_t> dropped,
                         SortedIds(m.dropped, n, "UnmaskingRequest.dropped"));
  // The one check the protocol's privacy rests on: revealing both shares of
  // a client would give the server its self mask and its pairwise masks.
  std::vector<uint32_t> both;
  std::set_intersection(survivors.begin(), survivors.end(), dropped.begin(), dropped.end(),
                        std::back_inserter(both));
  if (!both.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "client ", u, " refuses to unmask: client ", both.front(),
        " is listed both as a survivor and as dropped"));
  }
  if (std::binary_search(dropped.begin(), dropped.end(), u)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "client ", u, " refuses to unmask: it sent its masked input but is listed as dropped"));
  }
  // Unmasking fewer than t inputs would let the server learn a sum over too
  // few clients (Bonawitz et al.: |U4| >= t).
  size_t listed = 0;
  for (uint32_t v : survivors) listed += (v == u || s.graph.Adjacent(u, v)) ? 1 : 0;
  if (listed < s.config.threshold) {
    return absl::FailedPreconditionError(
        absl::StrCat("client ", u, " refuses to unmask: only ", listed, " survivors in its "
                     "neighbourhood, need the threshold ", s.config.threshold));
  }
  UnmaskingResponse out;
  for (uint32_t v : survivors) {
    if (const ShareBundle* b = s.Held(v)) {
      out.self_mask_shares.push_back({v, {b->seed_share.begin(), b->seed_share.end()}});
    }
  }
  for (uint32_t v : dropped) {
    if (const ShareBundle* b = s.Held(v)) {
      out.masking_key_shares.push_back({v, {b->key_share.begin(), b->key_share.end()}});
    }
  }
  s.WipeSecrets();
  s.phase = Phase::kCompleted;
  return std::optional<SecAggClientMessage>(std::move(out));
}

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

}  // namespace

SecAggClient::SecAggClient(std::unique_ptr<SecAggClientState> state) : s_(std::move(state)) {}
SecAggClient::~SecAggClient() = default;

absl::StatusOr<std::unique_ptr<SecAggClient>> SecAggClient::Create(const SecAggConfig& config,
                                                                   uint32_t index,
                                                                   SecureRandom& random) {
  FEDGE_RETURN_IF_ERROR(ValidateSecAggConfig(config));
  if (index < 1 || index > config.num_clients) {
    return absl::InvalidArgumentError(
        absl::StrCat("SecAgg client index ", index, " outside 1..", config.num_clients));
  }
  FEDGE_ASSIGN_OR_RETURN(internal::SecAggKdf kdf, internal::SecAggKdf::Create(config));
  return std::unique_ptr<SecAggClient>(new SecAggClient(
      std::make_unique<SecAggClientState>(config, index, random, std::move(kdf))));
}

absl::StatusOr<AdvertiseKeys> SecAggClient::Start() {
  if (s_->started || s_->phase != Phase::kAdvertiseKeys) {
    return absl::FailedPreconditionError(
        absl::StrCat("SecAgg client ", s_->index, ": Start called twice"));
  }
  s_->started = true;
  absl::StatusOr<X25519KeyPair> c = X25519KeyPair::Create(s_->random);
  absl::StatusOr<X25519KeyPair> m =
      c.ok() ? X25519KeyPair::Create(s_->random) : absl::StatusOr<X25519KeyPair>(c.status());
  if (!m.ok()) {
    s_->phase = Phase::kAborted;
    return m.status();
  }
  s_->encryption_key = *std::move(c);
  s_->masking_key = *std::move(m);
  s_->phase = Phase::kShareKeys;
  return AdvertiseKeys{s_->encryption_key->public_key(), s_->masking_key->public_key()};
}

absl::StatusOr<std::optional<SecAggClientMessage>> SecAggClient::Fail(absl::Status status) {
  s_->WipeSecrets();
  s_->phase = Phase::kAborted;
  return status;
}

absl::StatusOr<std::optional<SecAggClientMessage>> SecAggClient::OnMessage(
    const SecAggServerMessage& message) {
  SecAggClientState& s = *s_;
  if (s.phase == Phase::kAborted) return std::nullopt;
  if (std::holds_alternative<SecAggAbort>(message)) {
    s.WipeSecrets();
    s.phase = Phase::kAborted;
    return std::nullopt;
  }
  Reply reply = absl::FailedPreconditionError("unset");
  if (const auto* m = std::get_if<ShareKeysRequest>(&message);
      m != nullptr && s.phase == Phase::kShareKeys) {
    reply = OnShareKeys(s, *m);
  } else if (const auto* r = std::get_if<MaskedInputRequest>(&message);
             r != nullptr && s.phase == Phase::kMaskedInput && !s.have_request) {
    reply = OnMaskedInputRequest(s, *r);
  } else if (const auto* q = std::get_if<UnmaskingRequest>(&message);
             q != nullptr && s.phase == Phase::kUnmasking) {
    reply = OnUnmaskingRequest(s, *q);
  } else {
    static constexpr const char* kNames[] = {"ShareKeysRequest", "MaskedInputRequest",
                                             "UnmaskingRequest", "SecAggAbort"};
    reply = absl::FailedPreconditionError(
        absl::StrCat("SecAgg client ", s.index, ": unexpected ", kNames[message.index()],
                     " in phase ", PhaseName(s.phase),
                     s.have_request ? " (masked input request already received)" : ""));
  }
  if (!reply.ok()) return Fail(reply.status());
  return reply;
}

absl::StatusOr<std::optional<SecAggClientMessage>> SecAggClient::SetInput(
    absl::Span<const uint32_t> input) {
  SecAggClientState& s = *s_;
  if (s.phase == Phase::kAborted) return std::nullopt;
  if (s.have_input || s.phase == Phase::kUnmasking || s.phase == Phase::kCompleted) {
    return absl::FailedPreconditionError(
        absl::StrCat("SecAgg client ", s.index, ": input already set"));
  }
  if (input.size() != s.config.input_length) {
    return absl::InvalidArgumentError(absl::StrCat("SecAgg client ", s.index, ": input has ",
                                                   input.size(), " words, want ",
                                                   s.config.input_length));
  }
  s.input.assign(input.begin(), input.end());
  s.have_input = true;
  if (s.phase != Phase::kMaskedInput || !s.have_request) return std::nullopt;
  Reply reply = Mask(s);
  if (!reply.ok()) return Fail(reply.status());
  return reply;
}

SecAggClient::Phase SecAggClient::phase() const { return s_->phase; }
uint32_t SecAggClient::index() const { return s_->index; }
size_t SecAggClient::rejected_shares() const { return s_->rejected; }

}  // namespace fedge::secure
