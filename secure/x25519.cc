#include "secure/x25519.h"

#include <utility>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace fedge::secure {

using internal::EvpPkeyCtxPtr;
using internal::EvpPkeyPtr;
using internal::OpenSslError;

absl::StatusOr<X25519KeyPair> X25519KeyPair::Create(SecureRandom& random) {
  SecretBytes private_key(kX25519KeySize);
  FEDGE_RETURN_IF_ERROR(random.Fill(private_key.mutable_span()));
  return FromPrivateKey(private_key.span());
}

absl::StatusOr<X25519KeyPair> X25519KeyPair::FromPrivateKey(
    absl::Span<const uint8_t> private_key) {
  if (private_key.size() != kX25519KeySize) {
    return absl::InvalidArgumentError(absl::StrCat("X25519 private key has ", private_key.size(),
                                                   " bytes, want ", kX25519KeySize));
  }
  EvpPkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.data(),
                                              private_key.size()));
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "X25519: loading the private key");
  }
  X25519PublicKey public_key;
  size_t len = public_key.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &len) != 1 ||
      len != public_key.size()) {
    return OpenSslError(absl::StatusCode::kInternal, "X25519: computing the public key");
  }
  return X25519KeyPair(std::move(key), public_key);
}

absl::StatusOr<SecretBytes> X25519KeyPair::ExportPrivateKey() const {
  SecretBytes out(kX25519KeySize);
  size_t len = out.size();
  if (EVP_PKEY_get_raw_private_key(key_.get(), out.data(), &len) != 1 || len != out.size()) {
    return OpenSslError(absl::StatusCode::kInternal, "X25519: exporting the private key");
  }
  return out;
}

absl::StatusOr<SecretBytes> X25519KeyPair::SharedSecret(
    absl::Span<const uint8_t> peer_public_key) const {
  if (peer_public_key.size() != kX25519KeySize) {
    return absl::InvalidArgumentError(absl::StrCat("X25519 peer public key has ",
                                                   peer_public_key.size(), " bytes, want ",
                                                   kX25519KeySize));
  }
  EvpPkeyPtr peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public_key.data(),
                                              peer_public_key.size()));
  if (peer == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "X25519: loading the peer public key");
  }
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(key_.get(), nullptr));
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "X25519: creating the derive context");
  }
  if (EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "X25519: peer public key rejected");
  }
  SecretBytes secret(kX25519KeySize);
  size_t len = secret.size();
  // OpenSSL's X25519 refuses (returns 0) when the result is all zeros, i.e.
  // the peer sent a low-order point; we map that to InvalidArgument. The
  // explicit check below keeps the guarantee if that behaviour ever changes.
  if (EVP_PKEY_derive(ctx.get(), secret.data(), &len) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "X25519: derivation failed (peer public key is a low-order point?)");
  }
  if (len != kX25519KeySize) {
    return absl::InternalError(absl::StrCat("X25519: derived ", len, " bytes, want 32"));
  }
  static constexpr uint8_t kZeros[kX25519KeySize] = {};
  if (CRYPTO_memcmp(secret.data(), kZeros, kX25519KeySize) == 0) {
    return absl::InvalidArgumentError(
        "X25519: all-zero shared secret (peer public key is a low-order point)");
  }
  return secret;
}

absl::StatusOr<X25519Agreement> X25519Agreement::Create(const X25519KeyPair& key) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(key.key_.get(), nullptr));
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "X25519: creating the derive context");
  }
  // Any valid public key will do as the placeholder; each call overwrites it.
  EvpPkeyPtr peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, key.public_key().data(),
                                              kX25519KeySize));
  if (peer == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "X25519: allocating the peer key");
  }
  return X25519Agreement(std::move(ctx), std::move(peer));
}

absl::Status X25519Agreement::SharedSecret(absl::Span<const uint8_t> peer_public_key,
                                           absl::Span<uint8_t> out) {
  if (peer_public_key.size() != kX25519KeySize || out.size() != kX25519KeySize) {
    return absl::InvalidArgumentError(absl::StrCat("X25519: peer public key has ",
                                                   peer_public_key.size(), " bytes and output ",
                                                   out.size(), ", want ", kX25519KeySize));
  }
  // Replacing the bytes of one key object and re-setting it as the peer is
  // what makes this cheaper than SharedSecret (no allocation, no provider
  // lookup). The peer is set again on every call, so the context never
  // derives with a stale key.
  if (EVP_PKEY_set1_encoded_public_key(peer_.get(), peer_public_key.data(),
                                       peer_public_key.size()) != 1 ||
      EVP_PKEY_derive_set_peer_ex(ctx_.get(), peer_.get(), /*validate_peer=*/0) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "X25519: peer public key rejected");
  }
  size_t len = out.size();
  if (EVP_PKEY_derive(ctx_.get(), out.data(), &len) != 1) {
    OPENSSL_cleanse(out.data(), out.size());
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "X25519: derivation failed (peer public key is a low-order point?)");
  }
  static constexpr uint8_t kZeros[kX25519KeySize] = {};
  if (len != kX25519KeySize || CRYPTO_memcmp(out.data(), kZeros, kX25519KeySize) == 0) {
    OPENSSL_cleanse(out.data(), out.size());
    return absl::InvalidArgumentError(
        "X25519: all-zero shared secret (peer public key is a low-order point)");
  }
  return absl::OkStatus();
}

}  // namespace fedge::secure
