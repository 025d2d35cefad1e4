#include "secure/prg.h"

#include <algorithm>

#include <openssl/evp.h>

#include "absl/strings/str_cat.h"

namespace fedge::secure {

using internal::EvpCipherCtxPtr;
using internal::OpenSslError;

namespace {

// CTR output is the keystream XOR input; with a zero input it is the keystream.
// 16 KiB of zeros stays in L1/L2 while the output streams to memory.
constexpr size_t kZeroChunk = 16 * 1024;
alignas(64) const uint8_t kZeros[kZeroChunk] = {};

}  // namespace

absl::StatusOr<AesCtrPrng> AesCtrPrng::Create(absl::Span<const uint8_t> seed) {
  static constexpr uint8_t kZeroCounter[kCounterSize] = {};
  return CreateWithCounterForTesting(seed, kZeroCounter);
}

absl::StatusOr<AesCtrPrng> AesCtrPrng::CreateWithCounterForTesting(
    absl::Span<const uint8_t> seed, absl::Span<const uint8_t> initial_counter) {
  if (seed.size() != kSeedSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("AesCtrPrng seed has ", seed.size(), " bytes, want ", kSeedSize));
  }
  if (initial_counter.size() != kCounterSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AesCtrPrng counter block has ", initial_counter.size(), " bytes, want ", kCounterSize));
  }
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_ctr(), nullptr, seed.data(),
                                           initial_counter.data()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AesCtrPrng: initialising AES-256-CTR");
  }
  return AesCtrPrng(std::move(ctx));
}

absl::Status AesCtrPrng::Fill(absl::Span<uint8_t> out) {
  for (size_t done = 0; done < out.size();) {
    const size_t n = std::min(kZeroChunk, out.size() - done);
    int written = 0;
    if (EVP_EncryptUpdate(ctx_.get(), out.data() + done, &written, kZeros,
                          static_cast<int>(n)) != 1 ||
        static_cast<size_t>(written) != n) {
      return OpenSslError(absl::StatusCode::kInternal, "AesCtrPrng: AES-256-CTR");
    }
    done += n;
  }
  return absl::OkStatus();
}

absl::Status AesCtrPrng::Fill(absl::Span<uint32_t> out) {
  // Writing through unsigned char* is allowed for any object type.
  absl::Status status =
      Fill(absl::Span<uint8_t>(reinterpret_cast<uint8_t*>(out.data()), out.size() * 4));
  if (!status.ok()) return status;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  for (uint32_t& w : out) w = __builtin_bswap32(w);
#endif
  return absl::OkStatus();
}

}  // namespace fedge::secure
