#include "compression/stochastic_round.h"

#include <algorithm>
#include <cmath>

#include "base/cpu_features.h"
#include "base/splitmix.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FEDGE_ROUND_AVX2 1
#include <immintrin.h>
#endif

namespace fedge::compression {
namespace {

// A 32-bit finaliser with full avalanche (xor-shift-multiply, constants of
// the well-known "lowbias32" search); a bijection, so distinct inputs give
// distinct outputs.
constexpr uint32_t kMul1 = 0x7feb352du;
constexpr uint32_t kMul2 = 0x846ca68bu;

inline uint32_t Mix32(uint32_t x) {
  x ^= x >> 16;
  x *= kMul1;
  x ^= x >> 15;
  x *= kMul2;
  x ^= x >> 16;
  return x;
}

}  // namespace

uint64_t CoinKey(uint64_t seed) { return SplitMix64(seed).Next(); }

uint32_t Coin(uint64_t key, uint32_t index) {
  return Mix32(Mix32(index ^ static_cast<uint32_t>(key)) ^ static_cast<uint32_t>(key >> 32));
}

namespace round_internal {

void RoundPortable(absl::Span<const float> x, float s, int32_t levels, uint64_t key,
                   uint32_t first, int8_t* q) {
  if (s == 0) {
    std::fill(q, q + x.size(), 0);
    return;
  }
  const float lo = static_cast<float>(-levels), hi = static_cast<float>(levels);
  for (size_t j = 0; j < x.size(); ++j) {
    const float v = x[j] / s;
    const float t = std::floor(v);
    const float u = static_cast<float>(Coin(key, first + static_cast<uint32_t>(j)) >> 8) *
                    0x1.0p-24f;
    const float r = t + (u < v - t ? 1.0f : 0.0f);
    q[j] = static_cast<int8_t>(std::min(hi, std::max(lo, r)));
  }
}

#ifdef FEDGE_ROUND_AVX2

namespace {

__attribute__((target("avx2"))) inline __m256i Mix32x8(__m256i x) {
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
  x = _mm256_mullo_epi32(x, _mm256_set1_epi32(static_cast<int>(kMul1)));
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 15));
  x = _mm256_mullo_epi32(x, _mm256_set1_epi32(static_cast<int>(kMul2)));
  return _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
}

// Eight coordinates, the same arithmetic as RoundPortable (IEEE division and
// floor are exact operations, so the lanes give the scalar's bits), as int32.
__attribute__((target("avx2"))) inline __m256i Round8(const float* x, __m256 s, __m256 lo,
                                                      __m256 hi, __m256i k_lo, __m256i k_hi,
                                                      uint32_t index) {
  const __m256i idx = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(index)),
                                       _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m256i coin =
      Mix32x8(_mm256_xor_si256(Mix32x8(_mm256_xor_si256(idx, k_lo)), k_hi));
  const __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(coin, 8)),
                                 _mm256_set1_ps(0x1.0p-24f));
  const __m256 v = _mm256_div_ps(_mm256_loadu_ps(x), s);
  const __m256 t = _mm256_floor_ps(v);
  const __m256 up = _mm256_and_ps(_mm256_cmp_ps(u, _mm256_sub_ps(v, t), _CMP_LT_OQ),
                                  _mm256_set1_ps(1.0f));
  const __m256 r = _mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_add_ps(t, up)));
  return _mm256_cvttps_epi32(r);
}

}  // namespace

__attribute__((target("avx2"))) void RoundAvx2(absl::Span<const float> x, float s,
                                                int32_t levels, uint64_t key, uint32_t first,
                                                int8_t* q) {
  if (s == 0) {
    std::fill(q, q + x.size(), 0);
    return;
  }
  const __m256 sv = _mm256_set1_ps(s);
  const __m256 lo = _mm256_set1_ps(static_cast<float>(-levels));
  const __m256 hi = _mm256_set1_ps(static_cast<float>(levels));
  const __m256i k_lo = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(key)));
  const __m256i k_hi = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(key >> 32)));
  // Packing four vectors of int32 to bytes interleaves the 128-bit lanes;
  // this permutation puts the 32 bytes back in order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  size_t j = 0;
  for (; j + 32 <= x.size(); j += 32) {
    const uint32_t at = first + static_cast<uint32_t>(j);
    const __m256i a = Round8(x.data() + j, sv, lo, hi, k_lo, k_hi, at);
    const __m256i b = Round8(x.data() + j + 8, sv, lo, hi, k_lo, k_hi, at + 8);
    const __m256i c = Round8(x.data() + j + 16, sv, lo, hi, k_lo, k_hi, at + 16);
    const __m256i d = Round8(x.data() + j + 24, sv, lo, hi, k_lo, k_hi, at + 24);
    const __m256i bytes =
        _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + j),
                        _mm256_permutevar8x32_epi32(bytes, order));
  }
  RoundPortable(x.subspan(j), s, levels, key, first + static_cast<uint32_t>(j), q + j);
}

#else

void RoundAvx2(absl::Span<const float> x, float s, int32_t levels, uint64_t key, uint32_t first,
               int8_t* q) {
  RoundPortable(x, s, levels, key, first, q);
}

#endif

}  // namespace round_internal

void RoundStochastic(absl::Span<const float> x, float s, int32_t levels, uint64_t key,
                     uint32_t first, int8_t* q) {
  if (CpuHasAvx2()) {
    round_internal::RoundAvx2(x, s, levels, key, first, q);
  } else {
    round_internal::RoundPortable(x, s, levels, key, first, q);
  }
}

}  // namespace fedge::compression
