#ifndef FEDGE_COMPRESSION_HALF_H_
#define FEDGE_COMPRESSION_HALF_H_

// IEEE-754 binary16 ("half") conversions for the fp16 update codec: one
// value at a time (the reference), and whole updates at once. The bulk
// functions use the CPU's conversion instructions (x86-64 F16C, found at run
// time) and give exactly the reference's bits; elsewhere they call the
// reference per value. Per value, the reference took ~6 ns to encode and,
// for the small deltas updates are made of (many of them half subnormals),
// ~2 ns to decode: more CPU per 200-client round than the encryption the
// halved upload saves (docs/compression.md, "Codec speed").

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace fedge::compression {

// Round to nearest even; beyond +-65504 clamps to it (never infinite); NaN
// stays NaN.
uint16_t FloatToHalf(float value);
float HalfToFloat(uint16_t half);

// out[2i, 2i+2) = FloatToHalf(in[i]), little-endian. `in` must be finite
// (the codec checks it first); out holds 2 * in.size() bytes.
void FloatsToHalves(absl::Span<const float> in, char* out);

// Decodes out.size() little-endian halves from `in` (2 * out.size() bytes).
// Returns the index of the first half that is infinite or NaN, with `out`
// then unspecified, or out.size() when every one is finite.
size_t HalvesToFloats(const char* in, absl::Span<float> out);

namespace half_internal {
// Each implementation on its own, so tests hold every one this CPU can run
// to the reference.
void FloatsToHalvesPortable(absl::Span<const float> in, char* out);
size_t HalvesToFloatsPortable(const char* in, absl::Span<float> out);
// Only when CpuHasF16c() (base/cpu_features.h).
void FloatsToHalvesF16c(absl::Span<const float> in, char* out);
size_t HalvesToFloatsF16c(const char* in, absl::Span<float> out);
}  // namespace half_internal

}  // namespace fedge::compression

#endif  // FEDGE_COMPRESSION_HALF_H_
