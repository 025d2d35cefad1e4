#include "compression/half.h"

#include <cstring>

#include "base/cpu_features.h"
#include "base/little_endian.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FEDGE_HALF_F16C 1
#include <immintrin.h>
#endif

namespace fedge::compression {

uint16_t FloatToHalf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  const int32_t exp = static_cast<int32_t>((bits >> 23) & 0xff);
  const uint32_t mant = bits & 0x7fffff;
  constexpr uint16_t kMaxFinite = 0x7bff;
  if (exp == 0xff) return mant != 0 ? static_cast<uint16_t>(sign | 0x7e00) : sign | kMaxFinite;
  const int32_t e = exp - 127 + 15;
  if (e >= 31) return sign | kMaxFinite;
  uint32_t h, rem, halfway;
  if (e <= 0) {  // a half subnormal (or zero): h = M * 2^(exp - 126)
    const int32_t shift = 14 - e;
    if (shift >= 25) return sign;
    const uint32_t m = mant | 0x800000;
    h = m >> shift;
    rem = m & ((1u << shift) - 1);
    halfway = 1u << (shift - 1);
  } else {
    h = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
    rem = mant & 0x1fff;
    halfway = 0x1000;
  }
  if (rem > halfway || (rem == halfway && (h & 1))) ++h;  // may carry into the exponent
  if (h >= 0x7c00) return sign | kMaxFinite;
  return static_cast<uint16_t>(sign | h);
}

float HalfToFloat(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000) << 16;
  const uint32_t exp = (half >> 10) & 0x1f;
  const uint32_t mant = half & 0x3ff;
  if (exp == 0) {
    // mant * 2^-24: both factors and the product are exact floats (a
    // multiplication, not ldexp, which cost a libm call per subnormal).
    const float v = static_cast<float>(mant) * 0x1.0p-24f;
    return sign ? -v : v;
  }
  uint32_t bits;
  if (exp == 31) {
    bits = sign | 0x7f800000 | (mant << 13);
  } else {
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

namespace half_internal {

void FloatsToHalvesPortable(absl::Span<const float> in, char* out) {
  for (size_t i = 0; i < in.size(); ++i) PutLe(FloatToHalf(in[i]), 2, out + 2 * i);
}

size_t HalvesToFloatsPortable(const char* in, absl::Span<float> out) {
  for (size_t i = 0; i < out.size(); ++i) {
    const uint16_t h = static_cast<uint16_t>(GetLe(in + 2 * i, 2));
    if ((h & 0x7c00) == 0x7c00) return i;
    out[i] = HalfToFloat(h);
  }
  return out.size();
}

#ifdef FEDGE_HALF_F16C

// x86 is little-endian, so the instructions' 16-bit lanes are the wire's
// byte order. Clamping to +-65504 before rounding gives the reference's
// "never infinite" (every float past it rounds to it or to infinity), and
// the rounding is the instruction's nearest-even, whatever MXCSR says.
__attribute__((target("avx,f16c"))) void FloatsToHalvesF16c(absl::Span<const float> in,
                                                             char* out) {
  const __m256 hi = _mm256_set1_ps(65504.0f);
  const __m256 lo = _mm256_set1_ps(-65504.0f);
  size_t i = 0;
  for (; i + 8 <= in.size(); i += 8) {
    const __m256 x = _mm256_min_ps(_mm256_max_ps(_mm256_loadu_ps(in.data() + i), lo), hi);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * i),
                     _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
  }
  FloatsToHalvesPortable(in.subspan(i), out + 2 * i);
}

__attribute__((target("avx,f16c"))) size_t HalvesToFloatsF16c(const char* in,
                                                               absl::Span<float> out) {
  const __m128i exp_mask = _mm_set1_epi16(0x7c00);
  size_t i = 0;
  for (; i + 8 <= out.size(); i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 2 * i));
    // A lane whose exponent bits are all set is an infinity or a NaN.
    if (_mm_movemask_epi8(_mm_cmpeq_epi16(_mm_and_si128(h, exp_mask), exp_mask)) != 0) {
      return i + HalvesToFloatsPortable(in + 2 * i, out.subspan(i, 8));
    }
    _mm256_storeu_ps(out.data() + i, _mm256_cvtph_ps(h));
  }
  return i + HalvesToFloatsPortable(in + 2 * i, out.subspan(i));
}

#else

void FloatsToHalvesF16c(absl::Span<const float> in, char* out) {
  FloatsToHalvesPortable(in, out);
}
size_t HalvesToFloatsF16c(const char* in, absl::Span<float> out) {
  return HalvesToFloatsPortable(in, out);
}

#endif

}  // namespace half_internal

void FloatsToHalves(absl::Span<const float> in, char* out) {
  if (CpuHasF16c()) {
    half_internal::FloatsToHalvesF16c(in, out);
  } else {
    half_internal::FloatsToHalvesPortable(in, out);
  }
}

size_t HalvesToFloats(const char* in, absl::Span<float> out) {
  return CpuHasF16c() ? half_internal::HalvesToFloatsF16c(in, out)
                      : half_internal::HalvesToFloatsPortable(in, out);
}

}  // namespace fedge::compression
