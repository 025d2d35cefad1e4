#include "distill/signed_model_file.h"

#include "base/status_macros.h"
#include "client/model_file.h"
#include "secure/key_files.h"

namespace fedge::distill {

absl::StatusOr<std::string> EncodeSignedModelFile(uint64_t version,
                                                  const protocol::ModelPayload& model,
                                                  const protocol::ModelSigner& signer) {
  FEDGE_ASSIGN_OR_RETURN(protocol::ModelSignature signature, signer.Sign(version, model));
  return client::EncodeModelFile(version, model, signature.signature);
}

absl::StatusOr<std::unique_ptr<protocol::ModelSigner>> SignerFromKeyFile(const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(secure::CoordinatorKey key, secure::ReadCoordinatorKeyFile(path));
  return protocol::ModelSigner::Create(key.signing_secret.span());
}

}  // namespace fedge::distill
