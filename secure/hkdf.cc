#include "secure/hkdf.h"

#include <algorithm>
#include <cstring>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "absl/strings/str_cat.h"
#include "secure/openssl_util.h"

namespace fedge::secure {

using internal::EvpKdfCtxPtr;
using internal::EvpMdCtxPtr;
using internal::EvpMdPtr;
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

namespace {

constexpr size_t kShaBlock = 64;
constexpr size_t kShaOut = 32;

// A context holding SHA-256 after absorbing key ^ pad (the key is <= 64 bytes).
absl::StatusOr<EvpMdCtxPtr> PadState(const EVP_MD* md, absl::Span<const uint8_t> key,
                                     uint8_t pad) {
  uint8_t block[kShaBlock];
  std::memset(block, pad, sizeof(block));
  for (size_t i = 0; i < key.size(); ++i) block[i] = static_cast<uint8_t>(key[i] ^ pad);
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  const bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx.get(), md, nullptr) == 1 &&
                  EVP_DigestUpdate(ctx.get(), block, sizeof(block)) == 1;
  OPENSSL_cleanse(block, sizeof(block));
  if (!ok) return OpenSslError(absl::StatusCode::kInternal, "HKDF: SHA-256 pad state");
  return ctx;
}

// out = H(state || a || b || c), state copied into `scratch`.
bool Finish(EVP_MD_CTX* scratch, const EVP_MD_CTX* state, absl::Span<const uint8_t> a,
            absl::Span<const uint8_t> b, absl::Span<const uint8_t> c, uint8_t* out) {
  unsigned int len = 0;
  return EVP_MD_CTX_copy_ex(scratch, state) == 1 &&
         (a.empty() || EVP_DigestUpdate(scratch, a.data(), a.size()) == 1) &&
         (b.empty() || EVP_DigestUpdate(scratch, b.data(), b.size()) == 1) &&
         (c.empty() || EVP_DigestUpdate(scratch, c.data(), c.size()) == 1) &&
         EVP_DigestFinal_ex(scratch, out, &len) == 1 && len == kShaOut;
}

}  // namespace

absl::StatusOr<HkdfSha256WithSalt> HkdfSha256WithSalt::Create(absl::Span<const uint8_t> salt) {
  EvpMdPtr md(EVP_MD_fetch(nullptr, "SHA256", nullptr));
  if (md == nullptr) return OpenSslError(absl::StatusCode::kInternal, "HKDF: fetch SHA-256");
  // HMAC hashes keys longer than a block first (RFC 2104).
  uint8_t hashed[kShaOut];
  if (salt.size() > kShaBlock) {
    unsigned int len = 0;
    if (EVP_Digest(salt.data(), salt.size(), hashed, &len, md.get(), nullptr) != 1) {
      return OpenSslError(absl::StatusCode::kInternal, "HKDF: hashing the salt");
    }
    salt = absl::MakeConstSpan(hashed, kShaOut);
  }
  absl::StatusOr<EvpMdCtxPtr> inner = PadState(md.get(), salt, 0x36);
  if (!inner.ok()) return inner.status();
  absl::StatusOr<EvpMdCtxPtr> outer = PadState(md.get(), salt, 0x5c);
  if (!outer.ok()) return outer.status();
  return HkdfSha256WithSalt(std::move(md), *std::move(inner), *std::move(outer));
}

absl::Status HkdfSha256WithSalt::Derive(absl::Span<const uint8_t> ikm,
                                        absl::Span<const uint8_t> info,
                                        absl::Span<uint8_t> out) const {
  if (out.empty() || out.size() > kHkdfSha256MaxLength) {
    return absl::InvalidArgumentError(absl::StrCat("HKDF-SHA256: output length ", out.size(),
                                                   " is outside [1, ", kHkdfSha256MaxLength,
                                                   "]"));
  }
  if (ikm.empty()) return absl::InvalidArgumentError("HKDF-SHA256: empty input keying material");
  EvpMdCtxPtr scratch(EVP_MD_CTX_new());
  if (scratch == nullptr) return OpenSslError(absl::StatusCode::kInternal, "HKDF: context");

  // Secrets below: PRK, its pad states, the running T(i).
  uint8_t h[kShaOut];
  uint8_t prk[kShaOut];
  uint8_t t[kShaOut];
  bool ok = Finish(scratch.get(), inner_.get(), ikm, {}, {}, h) &&
            Finish(scratch.get(), outer_.get(), absl::MakeConstSpan(h), {}, {}, prk);
  absl::StatusOr<EvpMdCtxPtr> prk_inner = absl::InternalError("unset");
  absl::StatusOr<EvpMdCtxPtr> prk_outer = absl::InternalError("unset");
  if (ok) {
    prk_inner = PadState(md_.get(), prk, 0x36);
    prk_outer = PadState(md_.get(), prk, 0x5c);
    ok = prk_inner.ok() && prk_outer.ok();
  }
  // Expand: T(i) = HMAC(PRK, T(i-1) || info || i), T(0) empty.
  size_t done = 0;
  for (uint8_t i = 1; ok && done < out.size(); ++i) {
    const uint8_t counter[1] = {i};
    const absl::Span<const uint8_t> previous =
        i == 1 ? absl::Span<const uint8_t>() : absl::MakeConstSpan(t);
    ok = Finish(scratch.get(), prk_inner->get(), previous, info, counter, h) &&
         Finish(scratch.get(), prk_outer->get(), absl::MakeConstSpan(h), {}, {}, t);
    if (ok) {
      const size_t n = std::min(kShaOut, out.size() - done);
      std::memcpy(out.data() + done, t, n);
      done += n;
    }
  }
  OPENSSL_cleanse(h, sizeof(h));
  OPENSSL_cleanse(prk, sizeof(prk));
  OPENSSL_cleanse(t, sizeof(t));
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    return OpenSslError(absl::StatusCode::kInternal, "HKDF: SHA-256");
  }
  return absl::OkStatus();
}

}  // namespace fedge::secure
