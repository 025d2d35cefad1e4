#ifndef FEDGE_AGGREGATION_KERNELS_H_
#define FEDGE_AGGREGATION_KERNELS_H_

// The inner loops of aggregation, written so GCC vectorises them at -O3, with
// SSE2 and AVX2 versions chosen at run time.

#include <cstddef>

namespace fedge::aggregation {

// True when no element is NaN or +-Inf. Branch-free over the whole span.
bool AllFinite(const float* x, size_t n);

// acc[i] += w * x[i].
void Axpy(float w, const float* x, float* acc, size_t n);

// AllFinite(x) and, only if so, Axpy. Returns false with `acc` untouched when
// x holds a non-finite value.
bool CheckedAxpy(float w, const float* x, float* acc, size_t n);

// out[i] = base[i] + scale * delta[i].
void ScaleAdd(const float* base, float scale, const float* delta, float* out, size_t n);

}  // namespace fedge::aggregation

#endif  // FEDGE_AGGREGATION_KERNELS_H_
