#ifndef FEDGE_SECURE_OPENSSL_UTIL_H_
#define FEDGE_SECURE_OPENSSL_UTIL_H_

// Internal to secure/: owning handles for OpenSSL objects and the conversion
// of OpenSSL's error queue into absl::Status. Not part of the public API.

#include <memory>
#include <string>

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fedge::secure::internal {

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct EvpPkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct EvpCipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct EvpMdDeleter {
  void operator()(EVP_MD* p) const { EVP_MD_free(p); }
};
struct EvpKdfDeleter {
  void operator()(EVP_KDF* p) const { EVP_KDF_free(p); }
};
struct EvpKdfCtxDeleter {
  void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
};

using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, EvpPkeyCtxDeleter>;
using EvpCipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, EvpCipherCtxDeleter>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter>;
using EvpMdPtr = std::unique_ptr<EVP_MD, EvpMdDeleter>;
using EvpKdfPtr = std::unique_ptr<EVP_KDF, EvpKdfDeleter>;
using EvpKdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, EvpKdfCtxDeleter>;

// A status with `code` and "`what`: <first OpenSSL error>", and the thread's
// OpenSSL error queue cleared so the failure cannot leak into a later call.
// OpenSSL's messages name the failing function, never key material.
absl::Status OpenSslError(absl::StatusCode code, absl::string_view what);

// Clears the thread's OpenSSL error queue (after an expected failure, e.g. a
// rejected tag or signature).
void ClearOpenSslErrors();

}  // namespace fedge::secure::internal

#endif  // FEDGE_SECURE_OPENSSL_UTIL_H_
