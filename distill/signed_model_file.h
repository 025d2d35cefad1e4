#ifndef FEDGE_DISTILL_SIGNED_MODEL_FILE_H_
#define FEDGE_DISTILL_SIGNED_MODEL_FILE_H_

// A model produced off-line (a distilled student) as the file a device's
// model store holds (client/model_file.h), signed with the coordinator's
// Ed25519 key exactly as the coordinator signs every global model
// (protocol/model_signature.h). A device that pins the coordinator's public
// key (coordinator.pub) accepts it as it accepts a model received in a task;
// any change to it, or a signature by another key, makes the store refuse
// it. No torch.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "protocol/model_payload.h"
#include "protocol/model_signature.h"

namespace fedge::distill {

// The model-store file of `model` at `version`, signed by `signer`.
// Internal if signing fails; InvalidArgument from the encoder.
absl::StatusOr<std::string> EncodeSignedModelFile(uint64_t version,
                                                  const protocol::ModelPayload& model,
                                                  const protocol::ModelSigner& signer);

// A signer from a coordinator key file (coordinator.key, fedge-keygen;
// secure/key_files.h): its Ed25519 seed. Errors as ReadCoordinatorKeyFile
// (e.g. PermissionDenied for a file others can read, InvalidArgument for a
// device key or a public key file), each naming the file.
absl::StatusOr<std::unique_ptr<protocol::ModelSigner>> SignerFromKeyFile(const std::string& path);

}  // namespace fedge::distill

#endif  // FEDGE_DISTILL_SIGNED_MODEL_FILE_H_
