#include "secure/ed25519.h"

#include <algorithm>

#include <openssl/evp.h>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "secure/secret_bytes.h"

namespace fedge::secure {

using internal::EvpMdCtxPtr;
using internal::EvpPkeyPtr;
using internal::OpenSslError;

namespace {

// OpenSSL hashes the message in one call; give it a valid pointer even for an
// empty message.
const uint8_t* DataOrEmpty(absl::Span<const uint8_t> bytes) {
  static constexpr uint8_t kEmpty[1] = {0};
  return bytes.empty() ? kEmpty : bytes.data();
}

}  // namespace

absl::StatusOr<Ed25519SigningKey> Ed25519SigningKey::Create(SecureRandom& random) {
  SecretBytes seed(kEd25519SeedSize);
  FEDGE_RETURN_IF_ERROR(random.Fill(seed.mutable_span()));
  return FromSeed(seed.span());
}

absl::StatusOr<Ed25519SigningKey> Ed25519SigningKey::FromSeed(absl::Span<const uint8_t> seed) {
  if (seed.size() != kEd25519SeedSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("Ed25519 seed has ", seed.size(), " bytes, want ", kEd25519SeedSize));
  }
  EvpPkeyPtr key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "Ed25519: loading the private key");
  }
  Ed25519PublicKey public_key;
  size_t len = public_key.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &len) != 1 ||
      len != public_key.size()) {
    return OpenSslError(absl::StatusCode::kInternal, "Ed25519: computing the public key");
  }
  return Ed25519SigningKey(std::move(key), public_key);
}

absl::StatusOr<Ed25519Signature> Ed25519SigningKey::Sign(
    absl::Span<const uint8_t> message) const {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  Ed25519Signature signature;
  size_t len = signature.size();
  // Pure Ed25519 hashes internally: no digest is named, and only the one-shot
  // EVP_DigestSign is supported.
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), signature.data(), &len, DataOrEmpty(message), message.size()) !=
          1 ||
      len != signature.size()) {
    return OpenSslError(absl::StatusCode::kInternal, "Ed25519: signing");
  }
  return signature;
}

absl::StatusOr<Ed25519VerifyingKey> Ed25519VerifyingKey::Create(
    absl::Span<const uint8_t> public_key) {
  if (public_key.size() != kEd25519PublicKeySize) {
    return absl::InvalidArgumentError(absl::StrCat("Ed25519 public key has ", public_key.size(),
                                                   " bytes, want ", kEd25519PublicKeySize));
  }
  EvpPkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(),
                                             public_key.size()));
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "Ed25519: loading the public key");
  }
  Ed25519PublicKey bytes;
  std::copy(public_key.begin(), public_key.end(), bytes.begin());
  return Ed25519VerifyingKey(std::move(key), bytes);
}

absl::Status Ed25519VerifyingKey::Verify(absl::Span<const uint8_t> message,
                                         absl::Span<const uint8_t> signature) const {
  if (signature.size() != kEd25519SignatureSize) {
    return absl::InvalidArgumentError(absl::StrCat("Ed25519 signature has ", signature.size(),
                                                   " bytes, want ", kEd25519SignatureSize));
  }
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "Ed25519: creating the verify context");
  }
  if (EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), DataOrEmpty(message),
                       message.size()) != 1) {
    internal::ClearOpenSslErrors();
    return absl::UnauthenticatedError("Ed25519: signature does not verify");
  }
  return absl::OkStatus();
}

}  // namespace fedge::secure
