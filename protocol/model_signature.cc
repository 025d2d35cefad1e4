#include "protocol/model_signature.h"

#include <cstring>
#include <vector>

#include "absl/base/config.h"
#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "base/sha256.h"
#include "base/status_macros.h"

namespace fedge::protocol {
namespace {

void AppendU64(std::string* out, uint64_t v) {
  char buf[8];
  absl::little_endian::Store64(buf, v);
  out->append(buf, 8);
}

void AppendBytes(std::string* out, absl::string_view bytes) {
  AppendU64(out, bytes.size());
  out->append(bytes.data(), bytes.size());
}

Sha256Digest ManifestDigest(const ModelPayload& model) {
  std::string enc;
  AppendU64(&enc, model.manifest.tensors.size());
  for (const TensorSpec& t : model.manifest.tensors) {
    AppendBytes(&enc, t.name);
    AppendU64(&enc, t.shape.size());
    for (int64_t d : t.shape) AppendU64(&enc, static_cast<uint64_t>(d));
    enc.push_back(static_cast<char>(t.dtype));
    enc.push_back(static_cast<char>(t.role));
    enc.push_back(static_cast<char>(t.normalization ? 1 : 0));
  }
  AppendBytes(&enc, model.architecture_id);
  // The task: how a device feeds its data and reads the outputs.
  const TaskSpec& task = model.task;
  AppendU64(&enc, task.input_shape.size());
  for (int64_t d : task.input_shape) AppendU64(&enc, static_cast<uint64_t>(d));
  enc.push_back(static_cast<char>(task.input_dtype));
  enc.push_back(static_cast<char>(task.target));
  AppendU64(&enc, task.num_classes);
  AppendU64(&enc, task.target_shape.size());
  for (int64_t d : task.target_shape) AppendU64(&enc, static_cast<uint64_t>(d));
  enc.push_back(static_cast<char>(task.loss));
  return Sha256(enc);
}

Sha256Digest WeightsDigest(const std::vector<float>& weights) {
#if defined(ABSL_IS_LITTLE_ENDIAN)
  return Sha256(absl::string_view(reinterpret_cast<const char*>(weights.data()),
                                  weights.size() * sizeof(float)));
#else
  std::string le(weights.size() * sizeof(float), '\0');
  for (size_t i = 0; i < weights.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &weights[i], 4);
    absl::little_endian::Store32(&le[4 * i], bits);
  }
  return Sha256(le);
#endif
}

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace

std::string ModelSigningMessage(uint64_t version, const ModelPayload& model) {
  std::string msg(kModelSignatureDomain);
  AppendU64(&msg, version);
  const Sha256Digest manifest = ManifestDigest(model);
  const Sha256Digest weights = WeightsDigest(model.weights);
  msg.append(reinterpret_cast<const char*>(manifest.data()), manifest.size());
  msg.append(reinterpret_cast<const char*>(weights.data()), weights.size());
  if (!model.mask.empty()) {
    // A pruned model: its mask is signed too (the message grows to 118
    // bytes, so no dense model's message can equal a pruned one's).
    const Sha256Digest mask = Sha256(model.mask);
    msg.append(reinterpret_cast<const char*>(mask.data()), mask.size());
  }
  return msg;
}

absl::StatusOr<std::unique_ptr<ModelSigner>> ModelSigner::Create(absl::Span<const uint8_t> seed) {
  FEDGE_ASSIGN_OR_RETURN(secure::Ed25519SigningKey key, secure::Ed25519SigningKey::FromSeed(seed));
  return std::unique_ptr<ModelSigner>(new ModelSigner(std::move(key)));
}

absl::StatusOr<ModelSignature> ModelSigner::Sign(uint64_t version,
                                                 const ModelPayload& model) const {
  FEDGE_ASSIGN_OR_RETURN(secure::Ed25519Signature sig,
                         key_.Sign(Bytes(ModelSigningMessage(version, model))));
  ModelSignature out;
  out.signature.assign(reinterpret_cast<const char*>(sig.data()), sig.size());
  return out;
}

absl::StatusOr<std::unique_ptr<ModelVerifier>> ModelVerifier::Create(
    const secure::Ed25519PublicKey& coordinator_key) {
  FEDGE_ASSIGN_OR_RETURN(secure::Ed25519VerifyingKey key,
                         secure::Ed25519VerifyingKey::Create(coordinator_key));
  return std::unique_ptr<ModelVerifier>(new ModelVerifier(std::move(key)));
}

absl::Status ModelVerifier::Verify(uint64_t version, const ModelPayload& model,
                                   const ModelSignature& signature) const {
  if (signature.signature.empty()) {
    return absl::UnauthenticatedError(
        absl::StrCat("model version ", version, " is not signed"));
  }
  if (signature.signature.size() != secure::kEd25519SignatureSize) {
    return absl::UnauthenticatedError(absl::StrCat("model version ", version, ": signature has ",
                                                   signature.signature.size(), " bytes, want ",
                                                   secure::kEd25519SignatureSize));
  }
  absl::Status s = key_.Verify(Bytes(ModelSigningMessage(version, model)),
                               Bytes(signature.signature));
  if (!s.ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "model version ", version,
        ": signature does not verify with the pinned coordinator key (tampered model or "
        "version, or another coordinator)"));
  }
  return absl::OkStatus();
}

}  // namespace fedge::protocol
