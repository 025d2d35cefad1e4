#ifndef FEDGE_COMPRESSION_COMPRESSION_H_
#define FEDGE_COMPRESSION_COMPRESSION_H_

// Update compression: what a device does to its trained delta so fewer bytes
// travel up (docs/compression.md). Pure computation, no torch, no I/O.
//
// Methods, and the bytes of their payloads (all integers and floats
// little-endian; n = the number of coordinates, which the receiver knows from
// the model):
//   kFloat32  no payload: the delta travels as float32 (Update.delta).
//   kFloat16  n IEEE-754 binary16 values, round to nearest even; values
//             beyond +-65504 are clamped to it (never infinite).
//   kInt8     u32 block B, then ceil(n/B) float32 scales, then n int8 values
//             q in [-127, 127]; coordinate i decodes to q_i * scale(i / B).
//   kInt4     the same with 4-bit two's-complement values q in [-7, 7], two
//             per byte (low nibble first), ceil(n/2) bytes.
//             Both quantise stochastically (Alistarh et al. 2017, QSGD, with
//             a per-block max-norm scale s = max|x| / L): x / s is rounded
//             up with probability equal to its fractional part (to within
//             2^-24; compression/stochastic_round.h has the coins), so the
//             decoded value is an unbiased estimate of x.
//   kTopK     u32 k, then k strictly increasing indices as LEB128 gaps (the
//             first index, then each index minus the previous one minus 1),
//             then k float32 values; the other coordinates decode to 0. The
//             encoder keeps the k = ceil(fraction * n) largest |x| of
//             x = delta + residual and carries the rest to the next round in
//             the residual (error feedback, Seide et al. 2014; Karimireddy
//             et al. 2019): nothing a device learned is dropped, only delayed.
//
// Decoding is bounded: it reads only the payload, allocates only n floats
// (which the caller bounds by the model size), and refuses any payload whose
// length, scales, values or indices are not exactly what an encoder makes.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "compression/half.h"  // FloatToHalf, HalfToFloat

namespace fedge::compression {

// Stable on the wire (protocol::DeltaEncoding): append only.
enum class Method : uint8_t { kFloat32 = 1, kFloat16 = 2, kInt8 = 3, kInt4 = 4, kTopK = 5 };
inline constexpr uint8_t kMaxMethod = 5;

inline constexpr uint32_t kDefaultBlock = 256;
inline constexpr uint32_t kMaxBlock = 1u << 20;

struct Config {
  Method method = Method::kFloat32;
  uint32_t block = kDefaultBlock;  // kInt8, kInt4: coordinates per scale
  float fraction = 0;              // kTopK: share of coordinates kept, in (0, 1]
  bool operator==(const Config& o) const {
    return method == o.method && block == o.block && fraction == o.fraction;
  }
};

// "none" (or "fp32"), "fp16", "int8", "int4", "int8:BLOCK", "int4:BLOCK",
// "topk:FRACTION". InvalidArgument naming what is wrong.
absl::StatusOr<Config> ParseConfig(absl::string_view text);
// The inverse of ParseConfig: "none", "fp16", "int8", "int4:128", "topk:0.1".
std::string ConfigName(const Config& config);
// InvalidArgument for an unknown method, a block outside [1, kMaxBlock] for
// the quantisers or a fraction outside (0, 1] for kTopK.
absl::Status ValidateConfig(const Config& config);
const char* MethodName(Method method);

// Payload bytes for n coordinates (kTopK: for k = KeptCoordinates(n, f) and
// the largest possible index gaps, an upper bound). 0 for kFloat32.
uint64_t PayloadBytes(const Config& config, uint64_t n);
// ceil(fraction * n), at least 1 when n > 0.
uint64_t KeptCoordinates(uint64_t n, float fraction);

// Compresses `delta` into `*out` (replacing it). `seed` drives the
// quantisers' random rounding (the same seed gives the same bytes); kTopK
// reads and updates `*residual` (resized to delta.size() and zeroed when it
// has another size). InvalidArgument for a non-finite delta or residual, a
// bad config, or kFloat32 (nothing to compress).
absl::Status Compress(absl::Span<const float> delta, const Config& config, uint64_t seed,
                      std::vector<float>* residual, std::string* out);

// Decodes a payload of `method` into `*out`, resized to `n` coordinates.
// InvalidArgument saying what is wrong for any payload an encoder could not
// have made for n coordinates: wrong length, a block of 0 or above
// kMaxBlock, a negative or non-finite scale, an int8 of -128, an int4 of -8,
// a non-finite float16 or value, k above n, indices that do not increase or
// pass n, an unterminated gap.
absl::Status Decompress(Method method, absl::string_view payload, uint64_t n,
                        std::vector<float>* out);

}  // namespace fedge::compression

#endif  // FEDGE_COMPRESSION_COMPRESSION_H_
