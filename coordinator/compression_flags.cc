#include "coordinator/compression_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "aggregation/fixed_point.h"

ABSL_FLAG(std::string, compress, "none",
          "Update compression on the devices' uplink (plain rounds; docs/compression.md): "
          "none; fp16 (half precision); int8 or int4 (unbiased stochastic quantisation with one "
          "float32 scale per block of 256 coordinates, int8:BLOCK / int4:BLOCK to change it); "
          "topk:FRACTION (the largest FRACTION of the coordinates, the rest carried to the next "
          "round by error feedback). With --secure use --secagg_bits instead");
ABSL_FLAG(uint32_t, secagg_bits, 32,
          "With --secure: bits per word of the ring the masked inputs are summed in, 8-32 "
          "(16 halves the upload). Fewer bits leave fewer fixed-point levels: each client's "
          "coordinates are rounded, stochastically, to (2^(bits-1)-1) / (clients * "
          "max(secagg_clip, 1)) levels per unit, so keep clients * max(secagg_clip, 1) well "
          "below 2^(bits-1)");

namespace fedge::coordinator {

absl::StatusOr<CompressionFlags> CompressionFlagsFromFlags() {
  CompressionFlags f;
  absl::StatusOr<compression::Config> c = compression::ParseConfig(absl::GetFlag(FLAGS_compress));
  if (!c.ok()) return absl::InvalidArgumentError(absl::StrCat("--compress: ", c.status().message()));
  f.update = *c;
  f.secagg_bits = absl::GetFlag(FLAGS_secagg_bits);
  if (f.secagg_bits < aggregation::kMinRingBits || f.secagg_bits > 32) {
    return absl::InvalidArgumentError(absl::StrCat("--secagg_bits=", f.secagg_bits, ": want ",
                                                   aggregation::kMinRingBits, " to 32"));
  }
  return f;
}

std::vector<std::string> CompressionFlagArgs() {
  return {absl::StrCat("--compress=", absl::GetFlag(FLAGS_compress)),
          absl::StrCat("--secagg_bits=", absl::GetFlag(FLAGS_secagg_bits))};
}

}  // namespace fedge::coordinator
