#include "bench/secagg_sim.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "protocol/codec.h"
#include "secure/aead.h"
#include "secure/random.h"
#include "secure/secagg_internal.h"
#include "secure/shamir.h"

namespace fedge::bench {
namespace {

using namespace fedge::secure;  // NOLINT: a benchmark driving one module
using Clock = std::chrono::steady_clock;
using Chunks = std::array<uint64_t, kSecAggShareChunks>;

// Runs f and adds its duration to *total.
template <typename F>
auto Timed(double* total, F&& f) {
  const auto start = Clock::now();
  auto result = f();
  *total += std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

// The Shamir chunks of a 32-byte secret: with a constant polynomial, every
// holder's share.
Chunks ChunksOf(absl::Span<const uint8_t> secret) {
  Chunks out{};
  for (size_t c = 0; c < out.size(); ++c) {
    const size_t begin = c * kShamirChunkBytes;
    const size_t n = std::min(kShamirChunkBytes, secret.size() - begin);
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | secret[begin + i];
    out[c] = v;
  }
  return out;
}

// A client played by the benchmark (see secagg_sim.h).
struct SimClient {
  SimClient(X25519KeyPair e, X25519KeyPair m) : enc(std::move(e)), mask(std::move(m)) {}
  X25519KeyPair enc, mask;
  Chunks key_chunks{}, seed_chunks{};
  std::optional<X25519Agreement> agreement;  // with enc, towards real neighbours
  std::map<uint32_t, internal::ShareBundle> held;  // shares from real owners
};

struct Round {
  const RowSpec& spec;
  SecAggConfig config;
  std::unique_ptr<SecAggServer> server;
  std::optional<internal::SecAggKdf> kdf;
  std::vector<bool> real, dropped;
  std::vector<std::unique_ptr<SecAggClient>> clients;  // real ones
  std::vector<std::unique_ptr<SimClient>> sims;        // simulated ones
  std::vector<AdvertiseKeys> keys;
  std::vector<std::vector<uint32_t>> inputs;
  std::vector<double> client_s, sent, received;
  SecAggClientMessage fake_masked;
  std::vector<uint8_t> fake_ciphertext;
  RowResult result;

  explicit Round(const RowSpec& s) : spec(s) {}

  absl::Status Send(uint32_t u, SecAggClientMessage&& m, int phase) {
    if (real[u]) sent[u] += protocol::Encode(protocol::SecAggToServer{1, 1, u, m}).size();
    return Timed(&result.server_phase_s[phase],
                 [&] { return server->OnMessage(u, std::move(m)); });
  }

  absl::StatusOr<std::vector<std::pair<uint32_t, SecAggServerMessage>>> Close(int phase) {
    return Timed(&result.server_phase_s[phase], [&] { return server->AdvancePhase(); });
  }

  // A real client's reply to one server message (and, for the masked-input
  // request, its input).
  absl::StatusOr<std::optional<SecAggClientMessage>> RealStep(uint32_t u,
                                                             const SecAggServerMessage& m) {
    received[u] += protocol::Encode(protocol::SecAggToClient{1, m}).size();
    auto reply = Timed(&client_s[u], [&] { return clients[u]->OnMessage(m); });
    if (reply.ok() && !reply->has_value() && std::holds_alternative<MaskedInputRequest>(m)) {
      reply = Timed(&client_s[u], [&] { return clients[u]->SetInput(inputs[u]); });
    }
    return reply;
  }

  absl::StatusOr<SecretBytes> PairKey(SimClient& s, uint32_t u, uint32_t v) {
    if (!s.agreement) {
      auto a = X25519Agreement::Create(s.enc);
      if (!a.ok()) return a.status();
      s.agreement.emplace(*std::move(a));
    }
    SecretBytes shared(kX25519KeySize), key(kAes256GcmKeySize);
    absl::Status st = s.agreement->SharedSecret(keys[v].encryption_key, shared.mutable_span());
    if (st.ok()) st = kdf->ShareKey(shared.span(), u, v, key.mutable_span());
    if (!st.ok()) return st;
    return key;
  }

  absl::StatusOr<SecAggClientMessage> SimStep(uint32_t u, const SecAggServerMessage& m) {
    SimClient& s = *sims[u];
    if (const auto* req = std::get_if<ShareKeysRequest>(&m)) {
      ShareKeysResponse out;
      std::vector<uint8_t> plain(kSecAggSharePlaintextSize);
      for (const ClientPublicKeys& k : req->keys) {
        if (k.index == u) continue;
        if (!real[k.index]) {
          out.shares.push_back({k.index, fake_ciphertext});
          continue;
        }
        internal::ShareBundle b{u, k.index, s.key_chunks, s.seed_chunks};
        internal::EncodeShareBundle(b, absl::MakeSpan(plain));
        auto key = PairKey(s, u, k.index);
        if (!key.ok()) return key.status();
        auto aead = Aes256Gcm::Create(key->span());
        if (!aead.ok()) return aead.status();
        auto sealed = aead->Seal(plain, internal::ShareAssociatedData(config, u, k.index),
                                 SecureRandom::Default());
        if (!sealed.ok()) return sealed.status();
        out.shares.push_back({k.index, *std::move(sealed)});
      }
      return SecAggClientMessage(std::move(out));
    }
    if (const auto* req = std::get_if<MaskedInputRequest>(&m)) {
      for (const EncryptedShare& e : req->shares) {
        if (!real[e.peer]) continue;
        auto key = PairKey(s, u, e.peer);
        if (!key.ok()) return key.status();
        auto aead = Aes256Gcm::Create(key->span());
        if (!aead.ok()) return aead.status();
        auto plain = aead->Open(e.ciphertext, internal::ShareAssociatedData(config, e.peer, u));
        if (!plain.ok()) return plain.status();
        internal::ShareBundle b;
        absl::Status st = internal::DecodeShareBundle(plain->span(), b);
        if (!st.ok()) return st;
        s.held[e.peer] = b;
      }
      return fake_masked;  // copied: the caller moves it into the server
    }
    const auto& req = std::get<UnmaskingRequest>(m);
    UnmaskingResponse out;
    auto share_of = [&](uint32_t v, bool seed) -> std::optional<Chunks> {
      if (!real[v]) return seed ? sims[v]->seed_chunks : sims[v]->key_chunks;
      auto it = s.held.find(v);
      if (it == s.held.end()) return std::nullopt;
      return seed ? it->second.seed_share : it->second.key_share;
    };
    for (uint32_t v : req.survivors) {
      if (auto c = share_of(v, true)) out.self_mask_shares.push_back({v, {c->begin(), c->end()}});
    }
    for (uint32_t v : req.dropped) {
      if (auto c = share_of(v, false)) out.masking_key_shares.push_back({v, {c->begin(), c->end()}});
    }
    return SecAggClientMessage(std::move(out));
  }

  absl::Status Setup() {
    std::array<uint8_t, kSecAggSessionIdSize> sid{};
    for (size_t i = 0; i < sid.size(); ++i) sid[i] = static_cast<uint8_t>(spec.seed + i);
    auto config_or = MakeSecAggConfig(spec.variant, spec.n, spec.d, spec.dropout, sid, spec.seed);
    if (!config_or.ok()) return config_or.status();
    config = *config_or;
    result.config = config;
    auto server_or = SecAggServer::Create(config);
    if (!server_or.ok()) return server_or.status();
    server = *std::move(server_or);
    auto kdf_or = internal::SecAggKdf::Create(config);
    if (!kdf_or.ok()) return kdf_or.status();
    kdf.emplace(*std::move(kdf_or));

    const uint32_t n = spec.n;
    std::mt19937_64 gen(spec.seed);
    std::vector<uint32_t> order(n);
    for (uint32_t i = 0; i < n; ++i) order[i] = i + 1;
    std::shuffle(order.begin(), order.end(), gen);
    const uint32_t n_dropped = static_cast<uint32_t>(std::lround(spec.dropout * n));
    const uint32_t n_real =
        spec.sample == 0 || spec.sample >= n ? n : std::min(spec.sample, n - n_dropped);
    real.assign(n + 1, false);
    dropped.assign(n + 1, false);
    for (uint32_t i = 0; i < n_dropped; ++i) dropped[order[i]] = true;
    // Real clients: all, or a sample of the survivors.
    for (uint32_t i = 0, added = 0; i < n && added < n_real; ++i) {
      const uint32_t u = order[n - 1 - i];
      if (n_real < n && dropped[u]) continue;
      real[u] = true;
      ++added;
    }
    result.dropped = n_dropped;
    clients.resize(n + 1);
    sims.resize(n + 1);
    keys.resize(n + 1);
    inputs.resize(n + 1);
    client_s.assign(n + 1, 0);
    sent.assign(n + 1, 0);
    received.assign(n + 1, 0);
    std::uniform_int_distribution<uint32_t> word;
    for (uint32_t u = 1; u <= n; ++u) {
      if (real[u]) {
        auto c = SecAggClient::Create(config, u, SecureRandom::Default());
        if (!c.ok()) return c.status();
        clients[u] = *std::move(c);
        inputs[u].resize(spec.d);
        for (uint32_t& w : inputs[u]) w = word(gen);
        continue;
      }
      auto e = X25519KeyPair::Create(SecureRandom::Default());
      if (!e.ok()) return e.status();
      auto m = X25519KeyPair::Create(SecureRandom::Default());
      if (!m.ok()) return m.status();
      auto s = std::make_unique<SimClient>(*std::move(e), *std::move(m));
      auto priv = s->mask.ExportPrivateKey();
      if (!priv.ok()) return priv.status();
      s->key_chunks = ChunksOf(priv->span());
      std::array<uint8_t, 32> seed{};
      if (absl::Status st = SecureRandom::Default().Fill(absl::MakeSpan(seed)); !st.ok()) return st;
      s->seed_chunks = ChunksOf(seed);
      keys[u] = {s->enc.public_key(), s->mask.public_key()};
      sims[u] = std::move(s);
    }
    std::vector<uint32_t> noise(spec.d);
    for (uint32_t& w : noise) w = word(gen);
    fake_masked = MaskedInput{std::move(noise)};
    fake_ciphertext.resize(kSecAggShareCiphertextSize);
    for (uint8_t& b : fake_ciphertext) b = static_cast<uint8_t>(word(gen));
    return absl::OkStatus();
  }

  absl::Status Run() {
    const uint32_t n = spec.n;
    for (uint32_t u = 1; u <= n; ++u) {
      if (real[u]) {
        auto k = Timed(&client_s[u], [&] { return clients[u]->Start(); });
        if (!k.ok()) return k.status();
        keys[u] = *k;
      }
      if (absl::Status st = Send(u, keys[u], 0); !st.ok()) return st;
    }
    for (int phase = 1; phase <= 4; ++phase) {
      auto out = Close(phase - 1);
      if (!out.ok()) return out.status();
      if (server->phase() == SecAggServer::Phase::kAborted) {
        return absl::AbortedError(server->abort_reason());
      }
      if (phase == 4) break;
      for (auto& [u, m] : *out) {
        if (phase == 2 && dropped[u]) continue;  // gone after ShareKeys
        std::optional<SecAggClientMessage> reply;
        if (real[u]) {
          auto r = RealStep(u, m);
          if (!r.ok()) return r.status();
          reply = *std::move(r);
        } else {
          auto r = SimStep(u, m);
          if (!r.ok()) return r.status();
          reply = *std::move(r);
        }
        if (!reply.has_value()) return absl::InternalError(absl::StrCat("client ", u, " is silent"));
        if (absl::Status st = Send(u, *std::move(reply), phase); !st.ok()) return st;
      }
    }
    if (server->phase() != SecAggServer::Phase::kCompleted) {
      return absl::InternalError("the round did not complete");
    }
    return absl::OkStatus();
  }

  void Summarise() {
    std::vector<double> times;
    double s = 0, r = 0;
    for (uint32_t u = 1; u <= spec.n; ++u) {
      if (!real[u] || dropped[u]) continue;
      times.push_back(client_s[u]);
      s += sent[u];
      r += received[u];
    }
    result.real_clients = static_cast<uint32_t>(times.size());
    if (!times.empty()) {
      double total = 0;
      for (double t : times) total += t;
      result.client_mean_s = total / times.size();
      result.client_max_s = *std::max_element(times.begin(), times.end());
      result.bytes_sent = s / times.size();
      result.bytes_received = r / times.size();
    }
    for (double p : result.server_phase_s) result.server_s += p;
    if (std::count(real.begin() + 1, real.end(), true) != spec.n) return;
    std::vector<uint32_t> want(spec.d, 0);
    for (uint32_t u = 1; u <= spec.n; ++u) {
      if (dropped[u]) continue;
      for (uint32_t i = 0; i < spec.d; ++i) want[i] += inputs[u][i];
    }
    result.verified = true;
    if (server->sum() != want) result.error = "the sum differs from the plain sum";
  }
};

}  // namespace

RowResult RunSecAggRow(const RowSpec& spec) {
  Round round(spec);
  absl::Status st = round.Setup();
  if (st.ok()) st = round.Run();
  if (!st.ok()) {
    round.result.error = st.ToString();
    return round.result;
  }
  round.Summarise();
  return round.result;
}

}  // namespace fedge::bench
