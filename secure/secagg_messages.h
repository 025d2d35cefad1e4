#ifndef FEDGE_SECURE_SECAGG_MESSAGES_H_
#define FEDGE_SECURE_SECAGG_MESSAGES_H_

// The messages of secure aggregation (Bonawitz et al., CCS 2017) and SecAgg+
// (Bell et al., CCS 2020), as plain structs with no behaviour. secure/secagg.h
// holds the client and server state machines that produce and consume them;
// protocol/codec.cc puts them on the wire.
//
// Rounds (server view):
//   0 AdvertiseKeys      client -> server: two X25519 public keys
//     ShareKeysRequest   server -> client: the neighbours' keys (U1)
//   1 ShareKeysResponse  client -> server: one encrypted share bundle per neighbour
//     MaskedInputRequest server -> client: bundles addressed to it, and U2
//   2 MaskedInput        client -> server: the masked input vector
//     UnmaskingRequest   server -> client: U3 (survivors) and U2 \ U3 (dropped)
//   3 UnmaskingResponse  client -> server: shares of survivors' self-mask seeds
//                                          and of dropped clients' masking keys
// SecAggAbort may replace any server message.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "secure/x25519.h"

namespace fedge::secure {

enum class SecAggVariant : uint8_t { kFull = 1, kPlus = 2 };
inline constexpr size_t kSecAggSessionIdSize = 32;

// Public; chosen by the server, sent to every client with its task.
struct SecAggConfig {
  SecAggVariant variant = SecAggVariant::kFull;
  uint32_t num_clients = 0;    // n; clients are numbered 1..n (the Shamir x coordinate)
  uint32_t threshold = 0;      // t; shares needed to reconstruct one client's secrets
  uint32_t num_neighbors = 0;  // k; kPlus only (even, 2 <= k < n); kFull: ignored (everyone is a neighbour)
  uint64_t graph_seed = 0;     // kPlus: public seed of the neighbour graph
  uint32_t input_length = 0;   // words of each input vector, arithmetic mod 2^word_bits
  // The ring: 32, or fewer (down to 8) to shrink the masked inputs on the
  // wire. Masks are drawn mod 2^32 and reduced, which keeps them uniform mod
  // 2^word_bits; every sum is reduced mod 2^word_bits.
  uint32_t word_bits = 32;
  std::array<uint8_t, kSecAggSessionIdSize> session_id{};  // bound into every KDF and AEAD associated data
};

// ---- client -> server ----
struct AdvertiseKeys {
  X25519PublicKey encryption_key{};
  X25519PublicKey masking_key{};
};
// peer: recipient (client->server) or sender (server->client)
struct EncryptedShare {
  uint32_t peer = 0;
  std::vector<uint8_t> ciphertext;
};
struct ShareKeysResponse {
  std::vector<EncryptedShare> shares;
};
struct MaskedInput {
  std::vector<uint32_t> masked;  // each below 2^bits
  uint32_t bits = 32;            // the config's word_bits; the wire packs each word in this many
};
// The holder's Shamir share (x = holder index) of owner's secret.
struct RevealedShare {
  uint32_t owner = 0;
  std::vector<uint64_t> y;
};
struct UnmaskingResponse {
  std::vector<RevealedShare> self_mask_shares;
  std::vector<RevealedShare> masking_key_shares;
};
using SecAggClientMessage =
    std::variant<AdvertiseKeys, ShareKeysResponse, MaskedInput, UnmaskingResponse>;

// ---- server -> client ----
struct ClientPublicKeys {
  uint32_t index = 0;
  X25519PublicKey encryption_key{};
  X25519PublicKey masking_key{};
};
// The client's neighbours (kFull: everyone) that advertised, including itself.
struct ShareKeysRequest {
  std::vector<ClientPublicKeys> keys;
};
// share_holders: neighbours that completed ShareKeys (U2); the client masks with exactly these.
struct MaskedInputRequest {
  std::vector<uint32_t> share_holders;
  std::vector<EncryptedShare> shares;
};
// survivors: sent a masked input (U3); dropped: in U2 but not U3 (restricted to the
// recipient's neighbours is fine).
struct UnmaskingRequest {
  std::vector<uint32_t> survivors;
  std::vector<uint32_t> dropped;
};
struct SecAggAbort {
  std::string reason;
};
using SecAggServerMessage =
    std::variant<ShareKeysRequest, MaskedInputRequest, UnmaskingRequest, SecAggAbort>;

// Secret sizes, public so codecs can bound what they accept.
inline constexpr size_t kSecAggSelfMaskSeedSize = 32;
// Field elements in one revealed share (both secrets are 32 bytes).
inline constexpr size_t kSecAggShareChunks = (32 + 6) / 7;
// One share bundle: owner (4) || holder (4) || share of the masking key || share of
// the self-mask seed (kSecAggShareChunks 8-byte little-endian values each), sealed
// with AES-256-GCM (12-byte nonce, 16-byte tag).
inline constexpr size_t kSecAggSharePlaintextSize = 8 + 2 * 8 * kSecAggShareChunks;
inline constexpr size_t kSecAggShareCiphertextSize = kSecAggSharePlaintextSize + 12 + 16;

// OK when the config is usable: 1 <= t <= n (kFull), or for kPlus an even k
// with 2 <= k < n and 1 <= t <= k + 1; input_length >= 1; variant known.
// InvalidArgument otherwise, saying which field is wrong.
absl::Status ValidateSecAggConfig(const SecAggConfig& config);

}  // namespace fedge::secure

#endif  // FEDGE_SECURE_SECAGG_MESSAGES_H_
