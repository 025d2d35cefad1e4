#ifndef FEDGE_PROTOCOL_MODEL_PAYLOAD_H_
#define FEDGE_PROTOCOL_MODEL_PAYLOAD_H_

// A model on the wire: a manifest naming each tensor and its shape, and all
// weights as one flat little-endian float32 buffer in manifest order. The
// architecture (a built-in name or TorchScript bytes) travels only to clients
// that do not have it cached, keyed by `architecture_id`.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "protocol/task_spec.h"

namespace fedge::protocol {

enum class DType : uint8_t { kFloat32 = 1 };

// What a tensor is to the model, which decides how rounds combine it. Every
// role travels as float32 values in the flat weights.
enum class TensorRole : uint8_t {
  // Trained by the optimiser; server optimisers (FedAdam, momentum...) step it.
  kParameter = 0,
  // Model state that is not trained but must travel with the weights, such as
  // BatchNorm running statistics: always combined as the plain weighted mean of
  // the clients' values, whatever the server optimiser.
  kBuffer = 1,
  // An integer buffer (BatchNorm's num_batches_tracked), carried as a float32
  // value (exact below 2^24), combined as a kBuffer and rounded when loaded.
  kCounter = 2,
};
inline constexpr uint8_t kMaxTensorRole = 2;

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::kFloat32;
  TensorRole role = TensorRole::kParameter;
  // Part of a normalisation layer (BatchNorm, GroupNorm, LayerNorm,
  // InstanceNorm): what FedBN keeps local.
  bool normalization = false;

  uint64_t NumElements() const;
  bool operator==(const TensorSpec& o) const {
    return name == o.name && shape == o.shape && dtype == o.dtype && role == o.role &&
           normalization == o.normalization;
  }
};

struct ModelManifest {
  std::vector<TensorSpec> tensors;

  uint64_t NumElements() const;
  bool operator==(const ModelManifest& o) const { return tensors == o.tensors; }
  bool operator!=(const ModelManifest& o) const { return !(*this == o); }
};

// Checks that every shape is non-negative, names are unique and non-empty,
// roles are known, the element count does not overflow, and that
// `num_weights` matches it.
absl::Status ValidateManifest(const ModelManifest& manifest, uint64_t num_weights);

// The [begin, end) ranges of the flat weights that hold kParameter tensors,
// merged where adjacent. Server optimisers step these and average the rest.
std::vector<std::pair<uint64_t, uint64_t>> ParameterRanges(const ModelManifest& manifest);

// The ranges magnitude pruning may zero (compression/pruning.h), one per
// tensor: trained weight matrices and kernels (kParameter, rank >= 2, not a
// normalisation layer). Biases, buffers and normalisation layers are small
// and every one of them matters, so they stay dense.
std::vector<std::pair<uint64_t, uint64_t>> PrunableRanges(const ModelManifest& manifest);

struct ModelPayload {
  ModelManifest manifest;
  // "builtin:mlp", "builtin:cnn" or "torchscript:<sha256 of the file>".
  std::string architecture_id;
  // Empty when the receiver already has `architecture_id`; otherwise the
  // built-in name or the TorchScript archive's bytes.
  std::string architecture;
  std::vector<float> weights;
  // Pruning (compression/pruning.h): the bitmap of kept weights, signed with
  // the model; pruned weights are 0 and devices train and upload only the
  // kept ones. Empty: dense.
  std::string mask;
  // What the model learns: input shape, target, loss. Signed with the model.
  TaskSpec task;
};

// Whether `a` and `b` hold the same bytes in everything a model signature
// covers (manifest, architecture id, weights, mask, task) and, when
// `architecture` is set, the same architecture bytes. Weights compare as
// bytes: -0.0 is not 0.0 and NaN payloads count.
bool SameModelBytes(const ModelPayload& a, const ModelPayload& b, bool architecture);

// The coordinator's Ed25519 signature of one model version; how it is made and
// checked is in protocol/model_signature.h. Empty when the coordinator signs
// nothing (--insecure without a key file).
inline constexpr size_t kModelSignatureSize = 64;  // Ed25519
struct ModelSignature {
  std::string signature;  // empty, or kModelSignatureSize bytes
};

}  // namespace fedge::protocol

#endif  // FEDGE_PROTOCOL_MODEL_PAYLOAD_H_
