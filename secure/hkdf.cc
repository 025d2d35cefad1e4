#include "secure/hkdf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "absl/strings/str_cat.h"
#include "secure/openssl_util.h"

namespace fedge::secure {

using internal::EvpKdfCtxPtr;
using internal::EvpKdfPtr;
using internal::OpenSslError;

namespace {

// OSSL_PARAM wants a non-const void*; OpenSSL only reads octet-string inputs.
void* MutableData(absl::Span<const uint8_t> bytes) {
  return const_cast<uint8_t*>(bytes.data());
}

}  // namespace

absl::StatusOr<SecretBytes> HkdfSha256(absl::Span<const uint8_t> salt,
                                       absl::Span<const uint8_t> ikm,
                                       absl::Span<const uint8_t> info, size_t length) {
  if (length == 0 || length > kHkdfSha256MaxLength) {
    return absl::InvalidArgumentError(absl::StrCat("HKDF-SHA256: output length ", length,
                                                   " is outside [1, ", kHkdfSha256MaxLength,
                                                   "]"));
  }
  if (ikm.empty()) {
    return absl::InvalidArgumentError("HKDF-SHA256: empty input keying material");
  }
  EvpKdfPtr kdf(EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_HKDF, nullptr));
  if (kdf == nullptr) return OpenSslError(absl::StatusCode::kInternal, "HKDF: fetch");
  EvpKdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (ctx == nullptr) return OpenSslError(absl::StatusCode::kInternal, "HKDF: context");

  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, MutableData(ikm),
                                                  ikm.size());
  // An absent salt is HashLen zeros, which HMAC treats exactly like an empty
  // key; leaving empty parameters out avoids zero-length allocations.
  if (!salt.empty()) {
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, MutableData(salt),
                                                    salt.size());
  }
  if (!info.empty()) {
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, MutableData(info),
                                                    info.size());
  }
  params[n] = OSSL_PARAM_construct_end();

  SecretBytes out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "HKDF: derive");
  }
  return out;
}

}  // namespace fedge::secure
