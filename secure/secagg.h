#ifndef FEDGE_SECURE_SECAGG_H_
#define FEDGE_SECURE_SECAGG_H_

// Secure aggregation as sans-I/O state machines: Bonawitz et al., "Practical
// Secure Aggregation for Privacy-Preserving Machine Learning" (CCS 2017),
// semi-honest server with dropouts, and SecAgg+ (Bell et al., "Secure
// Single-Server Aggregation with (Poly)Logarithmic Overhead", CCS 2020), which
// restricts every client's masks and shares to its k neighbours in a public
// random graph. A SecAggClient and a SecAggServer take messages in and return
// the messages to send (secure/secagg_messages.h); they never touch a socket
// or a clock. The caller moves the bytes and decides when a phase times out.
//
// What the server learns: the sum mod 2^32 of the inputs of the clients that
// completed the MaskedInput phase (U3), and who they are. Inputs are words
// mod 2^32 (see aggregation/fixed_point.h for encoding float deltas).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "secure/random.h"
#include "secure/secagg_messages.h"

namespace fedge::secure {

// Masking, for client u with neighbours N(u) that completed ShareKeys (U2):
//   y_u = x_u + PRG(b_u) + sum_{v in U2 cap N(u)} (u < v ? +1 : -1) * PRG(seed_uv)
// seed_uv = HKDF-SHA256(X25519(s_u, S_v), salt = session_id,
//                       info = "fedge-secagg-mask" || min(u,v) || max(u,v)).
// b_u is 32 random bytes. PRG(seed) is AES-128-CTR keyed with the first 16
// bytes of the 32-byte seed, counter block from zero, read as little-endian
// words (secure/mask_prg.h); it is expanded straight into the accumulator.
// Shares travel client -> server -> client sealed with AES-256-GCM under
// HKDF-SHA256(X25519(c_u, C_v), salt = session_id, info = "fedge-secagg-share"
// || min || max), associated data = session_id || owner u || holder v
// (indices as 4-byte big-endian).
//
// Parameters (MakeSecAggConfig). delta = expected_dropout, the fraction of
// clients that may drop at any point of the round; failure budget 2^-40.
//   kFull: t = max(floor(n/2) + 1, t_c) where t_c is the largest t with
//          P[Binomial(n, 1 - delta) < t] <= 2^-40: the most collusion-resistant
//          threshold (the server learns nothing with fewer than t colluding
//          clients) that still survives the expected dropout w.h.p.; t > n/2
//          always, so two disjoint halves of the clients can never both unmask.
//          NOTE: delta = 0 gives t = n, i.e. any dropout aborts the round;
//          pass the dropout rate the round must survive.
//   kPlus: t = floor(k/2) + 1 (a majority of each neighbourhood of k + 1) and
//          k = the smallest even k >= 2 such that
//            correctness: n * P[Binomial(k, 1 - delta) < t] <= 2^-40
//              (every dropped client keeps t surviving neighbours to unmask it);
//            security:    n * P[Binomial(k, 1/10) >= t] <= 2^-40
//              (a server colluding with up to 10% of the clients, placed at
//               random by the public graph, holds t shares of nobody's secret).
//          Both grow like log n. Examples (k, t): n = 500: (58, 30) at delta = 0,
//          (64, 33) at 10%, (360, 181) at 30%; n = 10^4: (64, 33), (68, 35),
//          (394, 198). If no such k is below n the graph would be complete and
//          the result is a kFull config (variant == kFull): always for n below
//          ~60, and for delta >= 0.5.
//   Errors: InvalidArgument for n < 2 or n > 65535, input_length 0, a session id
//   that is not kSecAggSessionIdSize bytes, delta outside [0, 1).
absl::StatusOr<SecAggConfig> MakeSecAggConfig(SecAggVariant variant, uint32_t num_clients,
                                              uint32_t input_length, double expected_dropout,
                                              /*session id*/ absl::Span<const uint8_t> session_id,
                                              uint64_t graph_seed);

// Sorted neighbour indices of `index` (excluding itself). kFull: all others.
// kPlus: the Harary graph H(k, n) (k even: each vertex joined to the k/2
// nearest on each side of a ring) over a permutation of 1..n derived
// deterministically and portably from graph_seed (splitmix64 + Fisher-Yates
// with rejection sampling; identical on every platform). Symmetric: v is in
// Neighbors(u) iff u is in Neighbors(v). Empty for an invalid config or index.
std::vector<uint32_t> SecAggNeighbors(const SecAggConfig& config, uint32_t index);

struct SecAggClientState;  // secagg_client.cc
struct SecAggServerState;  // secagg_server_state.h

// One client's side of one session. Not thread-safe; one instance per session.
// Secrets (private keys, the self-mask seed, pairwise seeds) are held in
// SecretBytes or wiped with OPENSSL_cleanse, and never logged.
class SecAggClient {
 public:
  enum class Phase { kAdvertiseKeys, kShareKeys, kMaskedInput, kUnmasking, kCompleted, kAborted };

  // index in 1..n. `random` must outlive the client. InvalidArgument for an
  // invalid config or index.
  static absl::StatusOr<std::unique_ptr<SecAggClient>> Create(const SecAggConfig& config,
                                                              uint32_t index,
                                                              SecureRandom& random);
  ~SecAggClient();
  SecAggClient(const SecAggClient&) = delete;
  SecAggClient& operator=(const SecAggClient&) = delete;

  // The first message (fresh key pairs). FailedPrecondition if called twice.
  absl::StatusOr<AdvertiseKeys> Start();

  // Handles one server message; the reply, or nullopt when there is none yet (e.g.
  // MaskedInputRequest arrived before SetInput) or after an abort.
  // Errors: FailedPrecondition (wrong phase, or asked to reveal both shares of one
  // client, or to reveal for a client while itself listed as dropped, or fewer than t
  // of its neighbourhood left), InvalidArgument (malformed: unknown or non-neighbour
  // index, duplicate entry, repeated public key), Internal (OpenSSL or `random`).
  // After an error the client is kAborted and its secrets are wiped.
  // A SecAggAbort moves the client to kAborted and returns nullopt; once kAborted,
  // every message returns nullopt.
  absl::StatusOr<std::optional<SecAggClientMessage>> OnMessage(const SecAggServerMessage& message);

  // The client's input (input_length words). May come before or after
  // MaskedInputRequest; returns the MaskedInput once both are there.
  // InvalidArgument on a wrong length, FailedPrecondition if set twice or after the
  // masked input was sent: both leave the client as it was. nullopt once kAborted.
  // Internal (OpenSSL) while masking aborts the client.
  absl::StatusOr<std::optional<SecAggClientMessage>> SetInput(absl::Span<const uint32_t> input);

  Phase phase() const;
  uint32_t index() const;
  size_t rejected_shares() const;  // share ciphertexts that failed authentication (skipped, not fatal)

 private:
  explicit SecAggClient(std::unique_ptr<SecAggClientState> state);
  absl::StatusOr<std::optional<SecAggClientMessage>> Fail(absl::Status status);

  std::unique_ptr<SecAggClientState> s_;
};

// The server's side of one session. Not thread-safe. Masked inputs are folded
// into one accumulator as they arrive; the server never holds n input vectors.
// Memory: the share ciphertexts of ShareKeys (n * k * ~150 bytes) until they
// are forwarded, one accumulator of input_length words, and t revealed shares
// (48 bytes each) per secret to reconstruct.
class SecAggServer {
 public:
  enum class Phase { kAdvertiseKeys, kShareKeys, kMaskedInput, kUnmasking, kCompleted, kAborted };

  // InvalidArgument for an invalid config.
  static absl::StatusOr<std::unique_ptr<SecAggServer>> Create(const SecAggConfig& config);
  ~SecAggServer();
  SecAggServer(const SecAggServer&) = delete;
  SecAggServer& operator=(const SecAggServer&) = delete;

  // One message from client `index` for the current phase. Refused messages leave the state
  // unchanged: InvalidArgument (unknown index, malformed, wrong length, share addressed to a
  // non-neighbour), FailedPrecondition (wrong phase, client dropped), AlreadyExists (duplicate).
  absl::Status OnMessage(uint32_t index, const SecAggClientMessage& message);
  // The same, but moves the share ciphertexts instead of copying them.
  absl::Status OnMessage(uint32_t index, SecAggClientMessage&& message);

  // The client is gone (disconnected, expired); it is treated as a dropout from now on.
  // Unknown indices are ignored.
  void Drop(uint32_t index);

  // True when every client still alive in this phase has sent its message (the caller may
  // advance early).
  bool PhaseComplete() const;

  // Closes the current phase (clients that did not respond are dropped) and returns the
  // messages to send, keyed by client index (ascending).
  // If the session can no longer succeed (fewer than t left where it matters, or a needed
  // secret cannot be reconstructed, or OpenSSL failed), phase() becomes kAborted and the
  // returned messages are SecAggAbort to every live client. SecAgg+ only: a client whose
  // neighbourhood has shrunk below t is excluded alone (a SecAggAbort to it among the
  // normal messages) while the others continue. Closing kUnmasking computes the sum;
  // phase() becomes kCompleted and no messages are returned. FailedPrecondition when
  // called in kCompleted or kAborted.
  absl::StatusOr<std::vector<std::pair<uint32_t, SecAggServerMessage>>> AdvancePhase();

  Phase phase() const;
  const std::string& abort_reason() const;

  // kCompleted only (empty otherwise): the sum mod 2^32 of the survivors' inputs, and who
  // they are (ascending).
  const std::vector<uint32_t>& sum() const;
  const std::vector<uint32_t>& survivors() const;

 private:
  explicit SecAggServer(std::unique_ptr<SecAggServerState> state);

  std::unique_ptr<SecAggServerState> s_;
};

}  // namespace fedge::secure

#endif  // FEDGE_SECURE_SECAGG_H_
