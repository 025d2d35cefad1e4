#include "protocol/secagg_codec.h"

#include <string>
#include <type_traits>
#include <variant>

namespace fedge::protocol::internal {
namespace {

using secure::AdvertiseKeys;
using secure::ClientPublicKeys;
using secure::EncryptedShare;
using secure::MaskedInput;
using secure::MaskedInputRequest;
using secure::RevealedShare;
using secure::SecAggAbort;
using secure::SecAggConfig;
using secure::SecAggVariant;
using secure::ShareKeysRequest;
using secure::ShareKeysResponse;
using secure::UnmaskingRequest;
using secure::UnmaskingResponse;

// A ciphertext is kSecAggShareCiphertextSize bytes; allow some slack so a
// future plaintext layout does not need a codec change, but no more.
constexpr size_t kMaxShareCiphertext = 1024;
// Smallest encodings, for the remaining-bytes check before a resize.
constexpr size_t kMinShareBytes = 4 + 8;            // peer + ciphertext length
constexpr size_t kMinRevealedBytes = 4 + 8;         // owner + y length
constexpr size_t kPublicKeysBytes = 4 + 2 * secure::kX25519KeySize;

template <size_t N>
void WriteArray(BodyWriter& w, const std::array<uint8_t, N>& a) {
  w.Bytes(a.data(), N);
}
template <size_t N>
void ReadArray(BodyReader& r, std::array<uint8_t, N>& a, const char* field) {
  r.Bytes(a.data(), N, field);
}

// ---- shared pieces ----

void WriteShares(BodyWriter& w, const std::vector<EncryptedShare>& shares) {
  w.Scalar(static_cast<uint64_t>(shares.size()));
  for (const EncryptedShare& s : shares) {
    w.Scalar(s.peer);
    w.Vector(s.ciphertext);
  }
}
void ReadShares(BodyReader& r, const DecodeLimits& lim, std::vector<EncryptedShare>& shares,
                const char* field) {
  const uint64_t n = r.Length(kMinShareBytes, lim.max_secagg_clients, field);
  shares.resize(n);
  for (EncryptedShare& s : shares) {
    r.Scalar(s.peer, field);
    r.Vector(s.ciphertext, kMaxShareCiphertext, field);
  }
}

void WriteRevealed(BodyWriter& w, const std::vector<RevealedShare>& shares) {
  w.Scalar(static_cast<uint64_t>(shares.size()));
  for (const RevealedShare& s : shares) {
    w.Scalar(s.owner);
    w.Vector(s.y);
  }
}
void ReadRevealed(BodyReader& r, const DecodeLimits& lim, std::vector<RevealedShare>& shares,
                  const char* field) {
  const uint64_t n = r.Length(kMinRevealedBytes, lim.max_secagg_clients, field);
  shares.resize(n);
  for (RevealedShare& s : shares) {
    r.Scalar(s.owner, field);
    r.Vector(s.y, secure::kSecAggShareChunks, field);
  }
}

// ---- client -> server bodies ----

void WriteBody(BodyWriter& w, const AdvertiseKeys& m) {
  WriteArray(w, m.encryption_key);
  WriteArray(w, m.masking_key);
}
void WriteBody(BodyWriter& w, const ShareKeysResponse& m) { WriteShares(w, m.shares); }
// A ring of 32 bits: the words as they are. A smaller ring: the count, then
// the words packed little-endian, `bits` each, the last byte's unused high
// bits 0.
void WriteBody(BodyWriter& w, const MaskedInput& m) {
  w.Scalar(static_cast<uint8_t>(m.bits));
  if (m.bits >= 32) {
    w.Vector(m.masked);
    return;
  }
  std::string packed;
  packed.reserve((m.masked.size() * m.bits + 7) / 8);
  uint64_t acc = 0;
  uint32_t have = 0;
  const uint64_t mask = (uint64_t{1} << m.bits) - 1;
  for (uint32_t word : m.masked) {
    acc |= (word & mask) << have;
    have += m.bits;
    while (have >= 8) {
      packed.push_back(static_cast<char>(acc & 0xff));
      acc >>= 8;
      have -= 8;
    }
  }
  if (have > 0) packed.push_back(static_cast<char>(acc & 0xff));
  w.Scalar(static_cast<uint64_t>(m.masked.size()));
  w.Bytes(reinterpret_cast<const uint8_t*>(packed.data()), packed.size());
}
void WriteBody(BodyWriter& w, const UnmaskingResponse& m) {
  WriteRevealed(w, m.self_mask_shares);
  WriteRevealed(w, m.masking_key_shares);
}

void ReadBody(BodyReader& r, const DecodeLimits&, AdvertiseKeys& m) {
  ReadArray(r, m.encryption_key, "AdvertiseKeys.encryption_key");
  ReadArray(r, m.masking_key, "AdvertiseKeys.masking_key");
}
void ReadBody(BodyReader& r, const DecodeLimits& lim, ShareKeysResponse& m) {
  ReadShares(r, lim, m.shares, "ShareKeysResponse.shares");
}
void ReadBody(BodyReader& r, const DecodeLimits& lim, MaskedInput& m) {
  uint8_t bits = 0;
  r.Scalar(bits, "MaskedInput.bits");
  if (bits < 8 || bits > 32) {
    throw WireFormatError("MaskedInput.bits " + std::to_string(bits) + " is not 8-32");
  }
  m.bits = bits;
  if (bits == 32) {
    r.Vector(m.masked, lim.max_frame_bytes / sizeof(uint32_t), "MaskedInput.masked");
    return;
  }
  // Every word takes at least one byte (bits >= 8): Length's remaining-bytes
  // check bounds the count before anything is allocated.
  const uint64_t n = r.Length(1, lim.max_frame_bytes, "MaskedInput.masked");
  const uint64_t bytes = (n * bits + 7) / 8;
  if (bytes > r.remaining()) {
    throw WireFormatError("MaskedInput.masked: " + std::to_string(n) + " words of " +
                          std::to_string(bits) + " bits need " + std::to_string(bytes) +
                          " bytes, only " + std::to_string(r.remaining()) + " remain");
  }
  std::string packed(bytes, '\0');
  r.Bytes(reinterpret_cast<uint8_t*>(packed.data()), bytes, "MaskedInput.masked");
  m.masked.resize(n);
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  uint64_t acc = 0;
  uint32_t have = 0;
  size_t at = 0;
  for (uint64_t i = 0; i < n; ++i) {
    while (have < bits) {
      acc |= uint64_t{static_cast<unsigned char>(packed[at++])} << have;
      have += 8;
    }
    m.masked[i] = static_cast<uint32_t>(acc & mask);
    acc >>= bits;
    have -= bits;
  }
  if (acc != 0) throw WireFormatError("MaskedInput.masked: padding bits are not 0");
}
void ReadBody(BodyReader& r, const DecodeLimits& lim, UnmaskingResponse& m) {
  ReadRevealed(r, lim, m.self_mask_shares, "UnmaskingResponse.self_mask_shares");
  ReadRevealed(r, lim, m.masking_key_shares, "UnmaskingResponse.masking_key_shares");
}

// ---- server -> client bodies ----

void WriteBody(BodyWriter& w, const ShareKeysRequest& m) {
  w.Scalar(static_cast<uint64_t>(m.keys.size()));
  for (const ClientPublicKeys& k : m.keys) {
    w.Scalar(k.index);
    WriteArray(w, k.encryption_key);
    WriteArray(w, k.masking_key);
  }
}
void WriteBody(BodyWriter& w, const MaskedInputRequest& m) {
  w.Vector(m.share_holders);
  WriteShares(w, m.shares);
}
void WriteBody(BodyWriter& w, const UnmaskingRequest& m) {
  w.Vector(m.survivors);
  w.Vector(m.dropped);
}
void WriteBody(BodyWriter& w, const SecAggAbort& m) { w.String(m.reason); }

void ReadBody(BodyReader& r, const DecodeLimits& lim, ShareKeysRequest& m) {
  const uint64_t n = r.Length(kPublicKeysBytes, lim.max_secagg_clients, "ShareKeysRequest.keys");
  m.keys.resize(n);
  for (ClientPublicKeys& k : m.keys) {
    r.Scalar(k.index, "ShareKeysRequest.keys.index");
    ReadArray(r, k.encryption_key, "ShareKeysRequest.keys.encryption_key");
    ReadArray(r, k.masking_key, "ShareKeysRequest.keys.masking_key");
  }
}
void ReadBody(BodyReader& r, const DecodeLimits& lim, MaskedInputRequest& m) {
  r.Vector(m.share_holders, lim.max_secagg_clients, "MaskedInputRequest.share_holders");
  ReadShares(r, lim, m.shares, "MaskedInputRequest.shares");
}
void ReadBody(BodyReader& r, const DecodeLimits& lim, UnmaskingRequest& m) {
  r.Vector(m.survivors, lim.max_secagg_clients, "UnmaskingRequest.survivors");
  r.Vector(m.dropped, lim.max_secagg_clients, "UnmaskingRequest.dropped");
}
void ReadBody(BodyReader& r, const DecodeLimits& lim, SecAggAbort& m) {
  r.String(m.reason, lim.max_name_bytes * 16, "SecAggAbort.reason");
}

// ---- variants: a one-byte tag, 1 + the alternative's index ----

template <typename Variant>
void WriteVariant(BodyWriter& w, const Variant& v) {
  w.Scalar(static_cast<uint8_t>(v.index() + 1));
  std::visit([&](const auto& body) { WriteBody(w, body); }, v);
}

// Default-constructs alternative `index` of Variant (index < variant_size).
template <typename Variant, size_t I = 0>
void EmplaceIndex(Variant& v, size_t index) {
  if constexpr (I < std::variant_size_v<Variant>) {
    if (index == I) {
      v.template emplace<I>();
    } else {
      EmplaceIndex<Variant, I + 1>(v, index);
    }
  }
}

template <typename Variant>
void ReadVariant(BodyReader& r, const DecodeLimits& lim, Variant& v, const char* field) {
  uint8_t tag = 0;
  r.Scalar(tag, field);
  if (tag == 0 || tag > std::variant_size_v<Variant>) {
    throw WireFormatError(std::string(field) + ": unknown message tag " + std::to_string(tag));
  }
  // Same alternative as last time: keep its storage (a coordinator decodes
  // model-sized masked inputs into one buffer); every ReadBody overwrites all fields.
  if (v.index() != size_t{tag} - 1) EmplaceIndex(v, size_t{tag} - 1);
  std::visit([&](auto& body) { ReadBody(r, lim, body); }, v);
}

void WriteConfig(BodyWriter& w, const SecAggConfig& c) {
  w.Scalar(c.variant);
  w.Scalar(c.num_clients);
  w.Scalar(c.threshold);
  w.Scalar(c.num_neighbors);
  w.Scalar(c.graph_seed);
  w.Scalar(c.input_length);
  w.Scalar(c.word_bits);
  WriteArray(w, c.session_id);
}
void ReadConfig(BodyReader& r, SecAggConfig& c) {
  r.Scalar(c.variant, "Task.secure.config.variant");
  if (c.variant != SecAggVariant::kFull && c.variant != SecAggVariant::kPlus) {
    throw WireFormatError("Task.secure.config.variant " +
                          std::to_string(static_cast<int>(c.variant)) + " is unknown");
  }
  r.Scalar(c.num_clients, "Task.secure.config.num_clients");
  r.Scalar(c.threshold, "Task.secure.config.threshold");
  r.Scalar(c.num_neighbors, "Task.secure.config.num_neighbors");
  r.Scalar(c.graph_seed, "Task.secure.config.graph_seed");
  r.Scalar(c.input_length, "Task.secure.config.input_length");
  r.Scalar(c.word_bits, "Task.secure.config.word_bits");
  if (c.word_bits < 8 || c.word_bits > 32) {
    throw WireFormatError("Task.secure.config.word_bits " + std::to_string(c.word_bits) +
                          " is not 8-32");
  }
  ReadArray(r, c.session_id, "Task.secure.config.session_id");
}

}  // namespace

void Write(BodyWriter& w, const SecureAggregationTask& m) {
  // A disabled task is one byte, so plain rounds pay nothing.
  w.Scalar(static_cast<uint8_t>(m.enabled ? 1 : 0));
  if (!m.enabled) return;
  WriteConfig(w, m.config);
  w.Scalar(m.encoding.clip);
  w.Scalar(m.encoding.scale);
  w.Scalar(m.encoding.max_weight);
  w.Scalar(m.encoding.bits);
  w.Vector(m.cohort);
}

void Read(BodyReader& r, const DecodeLimits& lim, SecureAggregationTask& m) {
  uint8_t enabled = 0;
  r.Scalar(enabled, "Task.secure.enabled");
  if (enabled > 1) throw WireFormatError("Task.secure.enabled is not 0 or 1");
  m = SecureAggregationTask{};
  m.enabled = enabled == 1;
  if (!m.enabled) return;
  ReadConfig(r, m.config);
  r.Scalar(m.encoding.clip, "Task.secure.encoding.clip");
  r.Scalar(m.encoding.scale, "Task.secure.encoding.scale");
  r.Scalar(m.encoding.max_weight, "Task.secure.encoding.max_weight");
  r.Scalar(m.encoding.bits, "Task.secure.encoding.bits");
  if (m.encoding.bits != m.config.word_bits) {
    throw WireFormatError("Task.secure.encoding.bits " + std::to_string(m.encoding.bits) +
                          " differs from the ring's " + std::to_string(m.config.word_bits));
  }
  r.Vector(m.cohort, lim.max_secagg_clients, "Task.secure.cohort");
}

void Write(BodyWriter& w, const SecAggToServer& m) {
  w.Scalar(m.round);
  w.Scalar(m.model_version);
  w.Scalar(m.client_id);
  WriteVariant(w, m.body);
}

void Read(BodyReader& r, const DecodeLimits& lim, SecAggToServer& m) {
  r.Scalar(m.round, "SecAggToServer.round");
  r.Scalar(m.model_version, "SecAggToServer.model_version");
  r.Scalar(m.client_id, "SecAggToServer.client_id");
  ReadVariant(r, lim, m.body, "SecAggToServer.body");
}

void Write(BodyWriter& w, const SecAggToClient& m) {
  w.Scalar(m.round);
  WriteVariant(w, m.body);
}

void Read(BodyReader& r, const DecodeLimits& lim, SecAggToClient& m) {
  r.Scalar(m.round, "SecAggToClient.round");
  ReadVariant(r, lim, m.body, "SecAggToClient.body");
}

size_t SecAggSizeHint(const Message& m) {
  if (const auto* s = std::get_if<SecAggToServer>(&m)) {
    if (const auto* x = std::get_if<MaskedInput>(&s->body)) {
      return (x->masked.size() * x->bits + 7) / 8;
    }
    if (const auto* x = std::get_if<ShareKeysResponse>(&s->body)) {
      return x->shares.size() * (kMinShareBytes + secure::kSecAggShareCiphertextSize);
    }
    if (const auto* x = std::get_if<UnmaskingResponse>(&s->body)) {
      return (x->self_mask_shares.size() + x->masking_key_shares.size()) *
             (kMinRevealedBytes + 8 * secure::kSecAggShareChunks);
    }
  } else if (const auto* c = std::get_if<SecAggToClient>(&m)) {
    if (const auto* x = std::get_if<ShareKeysRequest>(&c->body)) {
      return x->keys.size() * kPublicKeysBytes;
    }
    if (const auto* x = std::get_if<MaskedInputRequest>(&c->body)) {
      return x->share_holders.size() * 4 +
             x->shares.size() * (kMinShareBytes + secure::kSecAggShareCiphertextSize);
    }
    if (const auto* x = std::get_if<UnmaskingRequest>(&c->body)) {
      return (x->survivors.size() + x->dropped.size()) * 4;
    }
  } else if (const auto* t = std::get_if<Task>(&m)) {
    return t->secure.cohort.size() * 8 + 128;
  }
  return 0;
}

}  // namespace fedge::protocol::internal
