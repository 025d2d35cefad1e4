#include "secure/mask_prg.h"

#include <algorithm>
#include <cstring>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "absl/strings/str_cat.h"
#include "secure/openssl_util.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define FEDGE_MASK_PRG_X86 1
#endif

namespace fedge::secure {
namespace {

using internal::EvpCipherCtxPtr;
using internal::OpenSslError;

constexpr size_t kBlockBytes = 16;

absl::Status CheckSizes(absl::Span<const uint8_t> key, absl::Span<const uint8_t> counter) {
  if (key.size() != kMaskKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("mask PRG key has ", key.size(), " bytes, want ", kMaskKeySize));
  }
  if (counter.size() != kBlockBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("mask PRG counter block has ", counter.size(), " bytes, want 16"));
  }
  return absl::OkStatus();
}

void Apply(MaskSign sign, const uint32_t* ks, uint32_t* acc, size_t n) {
  if (sign == MaskSign::kAdd) {
    for (size_t i = 0; i < n; ++i) acc[i] += ks[i];
  } else {
    for (size_t i = 0; i < n; ++i) acc[i] -= ks[i];
  }
}

// ---- Portable path: OpenSSL's AES-128-CTR through a cache-resident buffer ----

absl::Status AddMaskOpenSsl(absl::Span<const uint8_t> key, absl::Span<const uint8_t> counter,
                            MaskSign sign, absl::Span<uint32_t> acc) {
  constexpr size_t kChunkWords = 4096;  // 16 KiB: stays in L1/L2 between write and read
  alignas(64) static const uint8_t kZeros[kChunkWords * 4] = {};
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr || EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_ctr(), nullptr, key.data(),
                                           counter.data()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "mask PRG: initialising AES-128-CTR");
  }
  alignas(64) uint32_t ks[kChunkWords];
  absl::Status status;
  for (size_t done = 0; done < acc.size();) {
    const size_t n = std::min(kChunkWords, acc.size() - done);
    int written = 0;
    if (EVP_EncryptUpdate(ctx.get(), reinterpret_cast<uint8_t*>(ks), &written, kZeros,
                          static_cast<int>(n * 4)) != 1 ||
        static_cast<size_t>(written) != n * 4) {
      status = OpenSslError(absl::StatusCode::kInternal, "mask PRG: AES-128-CTR");
      break;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < n; ++i) ks[i] = __builtin_bswap32(ks[i]);
#endif
    Apply(sign, ks, acc.data() + done, n);
    done += n;
  }
  OPENSSL_cleanse(ks, sizeof(ks));
  return status;
}

#ifdef FEDGE_MASK_PRG_X86

bool DetectVaes() {
  if (!__builtin_cpu_supports("aes") || !__builtin_cpu_supports("avx2")) return false;
  // VAES is CPUID.(EAX=7,ECX=0):ECX bit 9; asked directly because clang 14's
  // __builtin_cpu_supports does not know "vaes" (the sanitizer builds use it).
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 9)) != 0;
}

// One AES-128 key-expansion step (FIPS 197 5.2) with AESKEYGENASSIST.
__attribute__((target("aes"))) inline __m128i ExpandStep(__m128i key, __m128i assist) {
  assist = _mm_shuffle_epi32(assist, 0xff);
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  return _mm_xor_si128(key, assist);
}

__attribute__((target("aes"))) void ExpandKey128(const uint8_t* key, __m128i rk[11]) {
  rk[0] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key));
  // The round constant must be an immediate, hence the unrolling.
  rk[1] = ExpandStep(rk[0], _mm_aeskeygenassist_si128(rk[0], 0x01));
  rk[2] = ExpandStep(rk[1], _mm_aeskeygenassist_si128(rk[1], 0x02));
  rk[3] = ExpandStep(rk[2], _mm_aeskeygenassist_si128(rk[2], 0x04));
  rk[4] = ExpandStep(rk[3], _mm_aeskeygenassist_si128(rk[3], 0x08));
  rk[5] = ExpandStep(rk[4], _mm_aeskeygenassist_si128(rk[4], 0x10));
  rk[6] = ExpandStep(rk[5], _mm_aeskeygenassist_si128(rk[5], 0x20));
  rk[7] = ExpandStep(rk[6], _mm_aeskeygenassist_si128(rk[6], 0x40));
  rk[8] = ExpandStep(rk[7], _mm_aeskeygenassist_si128(rk[7], 0x80));
  rk[9] = ExpandStep(rk[8], _mm_aeskeygenassist_si128(rk[8], 0x1b));
  rk[10] = ExpandStep(rk[9], _mm_aeskeygenassist_si128(rk[9], 0x36));
}

uint64_t LoadBigEndian64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// The counter block as a little-endian 128-bit integer (lane 0 = low half),
// byte-reversed into the big-endian block AES encrypts by kReverse.
#define FEDGE_REVERSE_BYTES 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15

template <bool kSubtract>
__attribute__((target("aes,avx2,vaes"))) void VaesCtrAccumulate(const __m128i rk[11], uint64_t hi,
                                                                uint64_t lo, uint32_t* acc,
                                                                size_t words) {
  const __m128i reverse128 = _mm_set_epi8(FEDGE_REVERSE_BYTES);
  const __m256i reverse = _mm256_broadcastsi128_si256(reverse128);
  // Main loop: 16 blocks (64 words) per iteration in 8 independent ymm
  // registers, enough to keep both AES units of a Zen 3 / Ice Lake core busy.
  // The counters are added in 64-bit lanes, so the loop only runs while the
  // low half cannot wrap within a group; the scalar loop below handles carries.
  if (words >= 64) {
    __m256i k[11];
    for (int r = 0; r < 11; ++r) k[r] = _mm256_broadcastsi128_si256(rk[r]);
    __m256i ctr = _mm256_set_epi64x(static_cast<int64_t>(hi), static_cast<int64_t>(lo + 1),
                                    static_cast<int64_t>(hi), static_cast<int64_t>(lo));
    const __m256i two = _mm256_set_epi64x(0, 2, 0, 2);
    while (words >= 64 && lo <= ~uint64_t{0} - 16) {
      __m256i b[8];
      for (int j = 0; j < 8; ++j) {
        b[j] = _mm256_xor_si256(_mm256_shuffle_epi8(ctr, reverse), k[0]);
        ctr = _mm256_add_epi64(ctr, two);
      }
      for (int r = 1; r < 10; ++r) {
        for (int j = 0; j < 8; ++j) b[j] = _mm256_aesenc_epi128(b[j], k[r]);
      }
      for (int j = 0; j < 8; ++j) {
        b[j] = _mm256_aesenclast_epi128(b[j], k[10]);
        __m256i* p = reinterpret_cast<__m256i*>(acc + 8 * j);
        const __m256i a = _mm256_loadu_si256(p);
        _mm256_storeu_si256(p, kSubtract ? _mm256_sub_epi32(a, b[j]) : _mm256_add_epi32(a, b[j]));
      }
      acc += 64;
      words -= 64;
      lo += 16;
    }
    // Round keys are secret: do not leave them on the stack.
    OPENSSL_cleanse(k, sizeof(k));
  }
  // Tail (and any group that would carry into the high half): block by block.
  alignas(16) uint32_t ks[4];
  while (words > 0) {
    __m128i b = _mm_set_epi64x(static_cast<int64_t>(hi), static_cast<int64_t>(lo));
    b = _mm_xor_si128(_mm_shuffle_epi8(b, reverse128), rk[0]);
    for (int r = 1; r < 10; ++r) b = _mm_aesenc_si128(b, rk[r]);
    b = _mm_aesenclast_si128(b, rk[10]);
    _mm_store_si128(reinterpret_cast<__m128i*>(ks), b);
    const size_t n = std::min<size_t>(4, words);
    for (size_t i = 0; i < n; ++i) acc[i] = kSubtract ? acc[i] - ks[i] : acc[i] + ks[i];
    acc += n;
    words -= n;
    if (++lo == 0) ++hi;
  }
  OPENSSL_cleanse(ks, sizeof(ks));
}

void AddMaskVaes(absl::Span<const uint8_t> key, absl::Span<const uint8_t> counter, MaskSign sign,
                 absl::Span<uint32_t> acc) {
  alignas(16) __m128i rk[11];
  ExpandKey128(key.data(), rk);
  const uint64_t hi = LoadBigEndian64(counter.data());
  const uint64_t lo = LoadBigEndian64(counter.data() + 8);
  if (sign == MaskSign::kAdd) {
    VaesCtrAccumulate<false>(rk, hi, lo, acc.data(), acc.size());
  } else {
    VaesCtrAccumulate<true>(rk, hi, lo, acc.data(), acc.size());
  }
  OPENSSL_cleanse(rk, sizeof(rk));
}

#else  // !FEDGE_MASK_PRG_X86

bool DetectVaes() { return false; }
void AddMaskVaes(absl::Span<const uint8_t>, absl::Span<const uint8_t>, MaskSign,
                 absl::Span<uint32_t>) {}

#endif

const bool kHasVaes = DetectVaes();
constexpr uint8_t kZeroCounter[kBlockBytes] = {};

absl::Status AddMaskWith(absl::Span<const uint8_t> key, absl::Span<const uint8_t> counter,
                         MaskSign sign, bool use_vaes, absl::Span<uint32_t> acc) {
  if (absl::Status s = CheckSizes(key, counter); !s.ok()) return s;
  if (use_vaes) {
    if (!kHasVaes) return absl::FailedPreconditionError("mask PRG: this CPU has no VAES");
    AddMaskVaes(key, counter, sign, acc);
    return absl::OkStatus();
  }
  return AddMaskOpenSsl(key, counter, sign, acc);
}

}  // namespace

bool MaskPrgHasVaes() { return kHasVaes; }

absl::Status AddMask(absl::Span<const uint8_t> key, MaskSign sign, absl::Span<uint32_t> acc) {
  return AddMaskWith(key, kZeroCounter, sign, kHasVaes, acc);
}

namespace internal {

absl::Status MaskKeystreamForTesting(absl::Span<const uint8_t> key,
                                     absl::Span<const uint8_t> counter, bool use_vaes,
                                     absl::Span<uint8_t> out) {
  // Adding the keystream to zeros yields the keystream.
  std::vector<uint32_t> words((out.size() + 3) / 4, 0);
  if (absl::Status s = AddMaskWith(key, counter, MaskSign::kAdd, use_vaes, absl::MakeSpan(words));
      !s.ok()) {
    return s;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<uint8_t>(words[i / 4] >> (8 * (i % 4)));
  }
  return absl::OkStatus();
}

absl::Status AddMaskForTesting(absl::Span<const uint8_t> key, MaskSign sign, bool use_vaes,
                               absl::Span<uint32_t> acc) {
  return AddMaskWith(key, kZeroCounter, sign, use_vaes, acc);
}

}  // namespace internal
}  // namespace fedge::secure
