#ifndef FEDGE_PROTOCOL_MODEL_PAYLOAD_H_
#define FEDGE_PROTOCOL_MODEL_PAYLOAD_H_

// A model on the wire: a manifest naming each tensor and its shape, and all
// weights as one flat little-endian float32 buffer in manifest order. The
// architecture (a built-in name or TorchScript bytes) travels only to clients
// that do not have it cached, keyed by `architecture_id`.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace fedge::protocol {

enum class DType : uint8_t { kFloat32 = 1 };

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::kFloat32;

  uint64_t NumElements() const;
  bool operator==(const TensorSpec& o) const {
    return name == o.name && shape == o.shape && dtype == o.dtype;
  }
};

struct ModelManifest {
  std::vector<TensorSpec> tensors;

  uint64_t NumElements() const;
  bool operator==(const ModelManifest& o) const { return tensors == o.tensors; }
  bool operator!=(const ModelManifest& o) const { return !(*this == o); }
};

// Checks that every shape is non-negative, names are unique and non-empty, the
// element count does not overflow, and that `num_weights` matches it.
absl::Status ValidateManifest(const ModelManifest& manifest, uint64_t num_weights);

struct ModelPayload {
  ModelManifest manifest;
  // "builtin:mlp", "builtin:cnn" or "torchscript:<sha256 of the file>".
  std::string architecture_id;
  // Empty when the receiver already has `architecture_id`; otherwise the
  // built-in name or the TorchScript archive's bytes.
  std::string architecture;
  std::vector<float> weights;
};

// The coordinator's Ed25519 signature of one model version; how it is made and
// checked is in protocol/model_signature.h. Empty when the coordinator signs
// nothing (--insecure without a key file).
inline constexpr size_t kModelSignatureSize = 64;  // Ed25519
struct ModelSignature {
  std::string signature;  // empty, or kModelSignatureSize bytes
};

}  // namespace fedge::protocol

#endif  // FEDGE_PROTOCOL_MODEL_PAYLOAD_H_
