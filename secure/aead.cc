#include "secure/aead.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include <openssl/evp.h>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "secure/openssl_util.h"

namespace fedge::secure {

using internal::EvpCipherCtxPtr;
using internal::OpenSslError;

namespace {

// GCM's limit on one message: 2^32 - 2 blocks of 16 bytes.
constexpr uint64_t kMaxPlaintext = (uint64_t{1} << 36) - 32;
// EVP_*Update take int lengths; feed larger inputs in pieces.
constexpr size_t kMaxUpdate = size_t{1} << 30;

// Runs `data` through EVP_CipherUpdate in int-sized pieces. `out` == nullptr
// feeds associated data.
bool CipherUpdate(EVP_CIPHER_CTX* ctx, uint8_t* out, absl::Span<const uint8_t> data) {
  for (size_t done = 0; done < data.size();) {
    const size_t n = std::min(kMaxUpdate, data.size() - done);
    int written = 0;
    if (EVP_CipherUpdate(ctx, out == nullptr ? nullptr : out + done, &written,
                         data.data() + done, static_cast<int>(n)) != 1) {
      return false;
    }
    // GCM is a stream mode: all plaintext bytes are emitted at once.
    if (out != nullptr && static_cast<size_t>(written) != n) return false;
    done += n;
  }
  return true;
}

// A context keyed for encryption (enc = 1) or decryption (enc = 0).
absl::StatusOr<EvpCipherCtxPtr> NewContext(const SecretBytes& key,
                                           absl::Span<const uint8_t> nonce, int enc) {
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr ||
      EVP_CipherInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr, enc) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN,
                          static_cast<int>(kAes256GcmNonceSize), nullptr) != 1 ||
      EVP_CipherInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data(), enc) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-256-GCM: initialising the context");
  }
  return ctx;
}

}  // namespace

absl::StatusOr<Aes256Gcm> Aes256Gcm::Create(absl::Span<const uint8_t> key) {
  if (key.size() != kAes256GcmKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-256-GCM key has ", key.size(), " bytes, want ", kAes256GcmKeySize));
  }
  return Aes256Gcm(SecretBytes::CopyOf(key));
}

absl::StatusOr<std::vector<uint8_t>> Aes256Gcm::Seal(absl::Span<const uint8_t> plaintext,
                                                     absl::Span<const uint8_t> associated_data,
                                                     SecureRandom& random) const {
  uint8_t nonce[kAes256GcmNonceSize];
  FEDGE_RETURN_IF_ERROR(random.Fill(absl::MakeSpan(nonce)));
  return SealWithNonceForTesting(nonce, plaintext, associated_data);
}

absl::StatusOr<std::vector<uint8_t>> Aes256Gcm::SealWithNonceForTesting(
    absl::Span<const uint8_t> nonce, absl::Span<const uint8_t> plaintext,
    absl::Span<const uint8_t> associated_data) const {
  if (nonce.size() != kAes256GcmNonceSize) {
    return absl::InvalidArgumentError(absl::StrCat("AES-256-GCM nonce has ", nonce.size(),
                                                   " bytes, want ", kAes256GcmNonceSize));
  }
  if (plaintext.size() > kMaxPlaintext) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-256-GCM: plaintext of ", plaintext.size(), " bytes exceeds 2^36 - 32"));
  }
  FEDGE_ASSIGN_OR_RETURN(EvpCipherCtxPtr ctx, NewContext(key_, nonce, /*enc=*/1));

  std::vector<uint8_t> sealed(kAes256GcmOverhead + plaintext.size());
  std::memcpy(sealed.data(), nonce.data(), kAes256GcmNonceSize);
  uint8_t* ciphertext = sealed.data() + kAes256GcmNonceSize;
  uint8_t* tag = ciphertext + plaintext.size();
  int final_len = 0;
  if (!CipherUpdate(ctx.get(), nullptr, associated_data) ||
      !CipherUpdate(ctx.get(), ciphertext, plaintext) ||
      EVP_EncryptFinal_ex(ctx.get(), tag, &final_len) != 1 || final_len != 0 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kAes256GcmTagSize),
                          tag) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-256-GCM: encrypting");
  }
  return sealed;
}

absl::StatusOr<SecretBytes> Aes256Gcm::Open(absl::Span<const uint8_t> sealed,
                                            absl::Span<const uint8_t> associated_data) const {
  // Lengths first: nothing below may read outside `sealed`.
  if (sealed.size() < kAes256GcmOverhead) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-256-GCM: sealed message has ", sealed.size(),
                     " bytes, shorter than nonce + tag (", kAes256GcmOverhead, ")"));
  }
  if (sealed.size() - kAes256GcmOverhead > kMaxPlaintext) {
    return absl::InvalidArgumentError("AES-256-GCM: ciphertext exceeds 2^36 - 32 bytes");
  }
  const absl::Span<const uint8_t> nonce = sealed.subspan(0, kAes256GcmNonceSize);
  const absl::Span<const uint8_t> ciphertext =
      sealed.subspan(kAes256GcmNonceSize, sealed.size() - kAes256GcmOverhead);
  // EVP_CTRL_GCM_SET_TAG takes a non-const pointer; hand it a copy.
  uint8_t tag[kAes256GcmTagSize];
  std::memcpy(tag, sealed.data() + sealed.size() - kAes256GcmTagSize, kAes256GcmTagSize);

  FEDGE_ASSIGN_OR_RETURN(EvpCipherCtxPtr ctx, NewContext(key_, nonce, /*enc=*/0));
  // GCM decrypts before it can check the tag: `plaintext` holds unverified
  // bytes until DecryptFinal succeeds, and is wiped (SecretBytes) on failure.
  SecretBytes plaintext(ciphertext.size());
  if (!CipherUpdate(ctx.get(), nullptr, associated_data) ||
      !CipherUpdate(ctx.get(), plaintext.data(), ciphertext) ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kAes256GcmTagSize),
                          tag) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-256-GCM: decrypting");
  }
  uint8_t unused[16];
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), unused, &final_len) != 1) {
    internal::ClearOpenSslErrors();
    return absl::DataLossError(
        "AES-256-GCM: authentication failed (message, nonce, tag or associated data altered, "
        "or wrong key)");
  }
  return plaintext;
}

}  // namespace fedge::secure
