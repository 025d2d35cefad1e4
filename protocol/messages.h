#ifndef FEDGE_PROTOCOL_MESSAGES_H_
#define FEDGE_PROTOCOL_MESSAGES_H_

// The messages exchanged between a device (client) and the coordinator. Each is
// carried in one ZeroMQ frame: a 16-byte envelope (envelope.h) followed by a
// cereal portable-binary body (codec.h). Plain structs, no behaviour.

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "aggregation/fixed_point.h"
#include "compression/compression.h"
#include "protocol/model_payload.h"
#include "secure/secagg_messages.h"

namespace fedge::protocol {

enum class MessageKind : uint16_t {
  kHello = 1,      // client -> coordinator: register.
  kWelcome = 2,    // coordinator -> client: registration accepted.
  kTask = 3,       // coordinator -> client: train on this model.
  kUpdate = 4,     // client -> coordinator: the trained delta.
  kError = 5,      // either way: a request was refused.
  kHeartbeat = 6,  // either way: liveness.
  kShutdown = 7,   // coordinator -> client: the federation is over.
  kSecAggToServer = 8,  // client -> coordinator: one secure-aggregation step.
  kSecAggToClient = 9,  // coordinator -> client: one secure-aggregation step.
  kLeave = 10,       // client -> coordinator: disconnecting now; forget me.
  kRetryLater = 11,  // coordinator -> check-in client: no (more) work now.
  kGlobalModel = 12, // coordinator -> check-in client: the newest model.
  kPredictRequest = 13,  // device -> gateway: run the newest model on these inputs.
  kPredictReply = 14,    // gateway -> device: the outputs, or why there are none.
};
inline constexpr uint16_t kMaxMessageKind = 14;

// Why a message was refused. Stable on the wire: append only.
enum class ErrorCode : uint16_t {
  kMalformed = 1,
  kUnknownKind = 2,
  kVersionMismatch = 3,
  kTooLarge = 4,
  kNotRegistered = 5,
  kWrongRound = 6,
  kWrongModelVersion = 7,
  kWrongLength = 8,
  kNonFinite = 9,
  kNotInCohort = 10,
  kDuplicate = 11,
  kBadWeight = 12,
  kInternal = 13,
  // The client id in a Hello is not enrolled for the connection's CURVE key
  // (or an enrolled device's key was removed from the allow-list).
  kNotEnrolled = 14,
  // client -> coordinator: the task's model signature is missing or does not
  // verify with the pinned coordinator key; the task was not trained.
  kBadSignature = 15,
  // client -> coordinator: the task's model version is lower than one the
  // client already verified; the task was not trained.
  kRollback = 16,
  // The sender exceeded its frame rate (coordinator/frame_rate_limiter.h);
  // the frame was dropped undecoded. Slow down and resend.
  kRateLimited = 17,
  // --mode=async: the update was trained on a model version more than
  // --max_staleness versions older than the current one; it was not folded.
  kStale = 18,
  // PredictReply: the gateway holds no verified model yet (it gets the
  // root's with the root's first task to it); predict on the device.
  kNoModel = 19,
  // PredictReply: the gateway's inference queue is full; retry later or
  // predict on the device.
  kBusy = 20,
};
// The highest ErrorCode; decoding refuses codes above it. Bump when appending.
inline constexpr uint16_t kMaxErrorCode = 20;
const char* ErrorCodeName(ErrorCode code);

// Capability bits a client announces in Hello.
inline constexpr uint32_t kCapTorchScript = 1u << 0;
inline constexpr uint32_t kCapBuiltinModels = 1u << 1;
// A device checking in once per connection (the SDK's run-once): the
// coordinator sends it the newest model when it holds an older one
// (GlobalModel), and tells it when to come back (RetryLater) when it is not
// selected, once its update arrived, and when its secure round ended.
inline constexpr uint32_t kCapCheckIn = 1u << 2;
// The client holds a held-out split and evaluates models on it when a task
// says evaluate_only (federated evaluation).
inline constexpr uint32_t kCapEvaluate = 1u << 3;

struct Hello {
  uint64_t client_id = 0;
  uint64_t num_examples = 0;
  uint32_t capabilities = 0;
  std::string software_version;
  // Architecture ids (ModelPayload::architecture_id) the client has cached, so
  // the coordinator can leave the architecture bytes out of its tasks.
  std::vector<std::string> cached_architectures;
  // The newest model version the client holds verified (check-in clients);
  // meaningful when has_model is set.
  bool has_model = false;
  uint64_t model_version = 0;
  // Random per registration: a Hello re-sent because the Welcome was slow
  // repeats it, a new registration (reconnect, restart, NOT_REGISTERED)
  // draws another. The coordinator answers a repeat on the same peer with
  // another Welcome and leaves the client in its round; it treats any other
  // Hello from a registered peer as a client that lost its state. 0: unknown
  // (every Hello is a new registration).
  uint64_t registration = 0;
};

struct Welcome {
  uint64_t client_id = 0;
  uint32_t heartbeat_interval_ms = 0;
  uint64_t model_version = 0;
};

// Differential privacy (privacy/, docs/privacy.md): what a device does to its
// update before it leaves. kOff and kCentral: nothing (under central DP the
// coordinator clips each update and noises the sum). kLocal: clip the whole
// delta (every coordinate, buffers too) to L2 norm `clip`, then add Gaussian
// noise of standard deviation `noise_stddev` to every coordinate. kDistributed
// (secure aggregation only): clip likewise, then add discrete Gaussian noise
// of standard deviation `noise_stddev` fixed-point units to every word of the
// secure-aggregation input, so only the survivors' sum carries the full noise.
enum class PrivacyMode : uint8_t { kOff = 0, kCentral = 1, kDistributed = 2, kLocal = 3 };

// "off", "central", "distributed", "local".
inline const char* PrivacyModeName(PrivacyMode mode) {
  switch (mode) {
    case PrivacyMode::kOff: return "off";
    case PrivacyMode::kCentral: return "central";
    case PrivacyMode::kDistributed: return "distributed";
    case PrivacyMode::kLocal: return "local";
  }
  return "?";
}

struct PrivacyConfig {
  PrivacyMode mode = PrivacyMode::kOff;
  float clip = 0;           // kLocal, kDistributed: L2 bound on the whole delta (> 0)
  double noise_stddev = 0;  // kLocal: per coordinate; kDistributed: per word, in units
};

struct TrainingConfig {
  uint32_t local_epochs = 1;
  uint32_t batch_size = 32;
  float learning_rate = 0.05f;
  uint64_t seed = 0;
  uint32_t max_examples = 0;  // 0: all of the client's examples.
  // FedProx (Li et al. 2020): adds (mu / 2) * ||w - w_global||^2 to the local
  // loss. 0: plain local SGD.
  float proximal_mu = 0;
  // Update-norm bounding: the client scales its delta to at most this L2 norm
  // before upload (or before SecAgg's encoding). 0: no bound.
  float clip_norm = 0;
  // FedBN (Li et al. 2021): the client keeps its own normalisation layers
  // (TensorSpec::normalization): it trains with its local values, uploads a
  // zero delta for them and never takes the global ones.
  bool local_normalization = false;
  // Federated evaluation: the client trains nothing; it evaluates the task's
  // model on its held-out split and answers with an Update whose delta is
  // empty, num_examples the held-out examples and metrics their means.
  bool evaluate_only = false;
  PrivacyConfig privacy;
  // How the client compresses its delta for upload (compression/compression.h,
  // docs/compression.md); kFloat32: not at all. Plain rounds only.
  compression::Config compression;
};

// Present (enabled) when the round aggregates securely: instead of an Update
// the client runs SecAgg (SecAggToServer/SecAggToClient) on its fixed-point
// encoded delta. Identical for the whole cohort, so one encoded Task serves all.
struct SecureAggregationTask {
  bool enabled = false;
  secure::SecAggConfig config;
  aggregation::FixedPointConfig encoding;
  // Client ids in SecAgg index order: a client's index is its position + 1.
  std::vector<uint64_t> cohort;
};

struct Task {
  uint64_t round = 0;
  uint64_t model_version = 0;
  TrainingConfig config;
  uint32_t deadline_ms = 0;  // Time the coordinator waits for this round.
  // On a connection shared by a process's logical clients (channels,
  // protocol/peer_address.h) the coordinator sends a round's model once:
  // later tasks of the round on that connection carry `model_by_reference`
  // and an empty `model`, and the process fills in the model it last received
  // on the connection for `model_version`. The signature covers it as usual.
  bool model_by_reference = false;
  ModelPayload model;
  SecureAggregationTask secure;
  // The coordinator's signature of (model_version, model); empty when unsigned.
  ModelSignature signature;
  // SCAFFOLD (Karimireddy et al. 2020): the server control variate c, one
  // value per weight; empty for other strategies. The client corrects each
  // gradient step by c - c_i and returns the change of its own c_i.
  std::vector<float> control;
};

// How an Update's delta travels: kFloat32 in `delta`, anything else as the
// compressed payload in `packed`.
using DeltaEncoding = compression::Method;

struct LocalMetrics {
  float loss = 0;
  float accuracy = 0;  // 0 for real-valued targets
  float train_seconds = 0;
  // Real-valued targets (protocol/task_spec.h); 0 otherwise.
  float mse = 0;
  float mae = 0;
};

struct Update {
  uint64_t round = 0;
  uint64_t model_version = 0;
  uint64_t client_id = 0;
  uint64_t num_examples = 0;
  DeltaEncoding encoding = DeltaEncoding::kFloat32;
  std::vector<float> delta;  // local weights minus the task's weights (kFloat32)
  // The compressed delta (any other encoding; `delta` is then empty).
  std::string packed;
  LocalMetrics metrics;
  // SCAFFOLD: the client's control-variate change c_i+ - c_i (one value per
  // weight); empty for other strategies.
  std::vector<float> control_delta;
};

struct ErrorReply {
  ErrorCode code = ErrorCode::kInternal;
  uint64_t round = 0;
  std::string message;
};

enum class ClientState : uint8_t { kIdle = 0, kTraining = 1 };

struct Heartbeat {
  uint64_t client_id = 0;
  uint64_t round = 0;
  ClientState state = ClientState::kIdle;
};

struct Shutdown {
  std::string reason;
};

// The client is disconnecting (its check-in is over, or it is shutting down):
// the coordinator drops it from the round and the registry at once instead
// of waiting for its heartbeats to lapse.
struct Leave {
  uint64_t client_id = 0;
  std::string reason;
};

// Come back no sooner than `after_ms` from now, at a random point of the
// following `window_ms` (spreading a fleet's check-ins).
struct RetryLater {
  uint32_t after_ms = 0;
  uint32_t window_ms = 0;
  std::string reason;
};

// The newest global model, signed like a Task's, for a check-in client that
// holds an older one (it verifies and stores it for offline inference).
struct GlobalModel {
  uint64_t model_version = 0;
  ModelPayload model;
  ModelSignature signature;
};

// Bound to (round, model version, client identity) like an Update.
struct SecAggToServer {
  uint64_t round = 0;
  uint64_t model_version = 0;
  uint64_t client_id = 0;
  secure::SecAggClientMessage body;
};

struct SecAggToClient {
  uint64_t round = 0;
  secure::SecAggServerMessage body;
};

// Gateway inference (gateway/prediction_service.h): a device too small to
// run the model, or one without a model yet, asks its gateway. Needs no
// registration: the CURVE allow-list already admitted the connection.
struct PredictRequest {
  uint64_t request_id = 0;  // echoed by the reply
  uint64_t client_id = 0;   // for the gateway's logs only
  uint32_t count = 0;       // examples
  // `count` examples of the model's input shape, row-major (the gateway
  // refuses another length with WRONG_LENGTH naming the one it wants).
  std::vector<float> inputs;
};

struct PredictReply {
  uint64_t request_id = 0;
  // OK: `outputs` holds count x output_size floats (per example what
  // fedge_model_predict writes), from model `model_version`. Otherwise
  // `code` and `message` say why not (NO_MODEL, BUSY, WRONG_LENGTH,
  // TOO_LARGE, INTERNAL) and the other fields are zero.
  bool ok = false;
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  uint64_t model_version = 0;
  uint32_t count = 0;
  uint32_t output_size = 0;
  std::vector<float> outputs;
};

using Message = std::variant<Hello, Welcome, Task, Update, ErrorReply, Heartbeat, Shutdown,
                             SecAggToServer, SecAggToClient, Leave, RetryLater, GlobalModel,
                             PredictRequest, PredictReply>;

// The kind tag for each message type.
template <typename T> constexpr MessageKind KindOf();
template <> constexpr MessageKind KindOf<Hello>() { return MessageKind::kHello; }
template <> constexpr MessageKind KindOf<Welcome>() { return MessageKind::kWelcome; }
template <> constexpr MessageKind KindOf<Task>() { return MessageKind::kTask; }
template <> constexpr MessageKind KindOf<Update>() { return MessageKind::kUpdate; }
template <> constexpr MessageKind KindOf<ErrorReply>() { return MessageKind::kError; }
template <> constexpr MessageKind KindOf<Heartbeat>() { return MessageKind::kHeartbeat; }
template <> constexpr MessageKind KindOf<Shutdown>() { return MessageKind::kShutdown; }
template <> constexpr MessageKind KindOf<SecAggToServer>() { return MessageKind::kSecAggToServer; }
template <> constexpr MessageKind KindOf<SecAggToClient>() { return MessageKind::kSecAggToClient; }
template <> constexpr MessageKind KindOf<Leave>() { return MessageKind::kLeave; }
template <> constexpr MessageKind KindOf<RetryLater>() { return MessageKind::kRetryLater; }
template <> constexpr MessageKind KindOf<GlobalModel>() { return MessageKind::kGlobalModel; }
template <> constexpr MessageKind KindOf<PredictRequest>() { return MessageKind::kPredictRequest; }
template <> constexpr MessageKind KindOf<PredictReply>() { return MessageKind::kPredictReply; }

const char* MessageKindName(MessageKind kind);

}  // namespace fedge::protocol

#endif  // FEDGE_PROTOCOL_MESSAGES_H_
