#include "aggregation/kernels.h"

#include <cstdint>
#include <cstring>

namespace fedge::aggregation {

// The loops are memory-bound; AVX2 (picked at run time where the CPU has it)
// halves the instructions per byte, which matters when data sits in cache.
#define FEDGE_KERNEL __attribute__((target_clones("avx2", "default")))

FEDGE_KERNEL bool AllFinite(const float* x, size_t n) {
  // A float is non-finite exactly when its exponent bits are all ones. OR-ing
  // a per-element flag keeps the loop branch-free and vectorisable.
  uint32_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, sizeof(bits));
    bad |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

FEDGE_KERNEL void Axpy(float w, const float* __restrict x, float* __restrict acc, size_t n) {
  for (size_t i = 0; i < n; ++i) acc[i] += w * x[i];
}

bool CheckedAxpy(float w, const float* x, float* acc, size_t n) {
  if (!AllFinite(x, n)) return false;
  Axpy(w, x, acc, n);
  return true;
}

FEDGE_KERNEL void ScaleAdd(const float* __restrict base, float scale, const float* __restrict delta,
              float* __restrict out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = base[i] + scale * delta[i];
}

}  // namespace fedge::aggregation
