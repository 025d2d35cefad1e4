#include "coordinator/compression_flags.h"

#include "absl/flags/flag.h"
#include <algorithm>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
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

ABSL_FLAG(double, prune, 0,
          "Magnitude pruning (docs/compression.md): the final share, in [0, 1), of every weight "
          "matrix and kernel the coordinator zeroes (biases, buffers and normalisation layers "
          "stay dense). The mask of kept weights is signed with the model; devices train under "
          "it and upload only the kept weights (composes with --compress and --secure). "
          "0 = off");
ABSL_FLAG(std::string, prune_scope, "global",
          "With --prune: global (one magnitude threshold over all prunable weights, so large "
          "redundant layers lose more) or layer (every weight matrix and kernel pruned to the "
          "same sparsity)");
ABSL_FLAG(std::string, prune_rounds, "",
          "With --prune: FIRST:LAST, the rounds whose models the sparsity ramps over (cubic, "
          "Zhu and Gupta 2017) to reach --prune at LAST; default 2:max(2, rounds/2)");

namespace fedge::coordinator {

absl::StatusOr<CompressionFlags> CompressionFlagsFromFlags(uint64_t rounds) {
  CompressionFlags f;
  absl::StatusOr<compression::Config> c = compression::ParseConfig(absl::GetFlag(FLAGS_compress));
  if (!c.ok()) return absl::InvalidArgumentError(absl::StrCat("--compress: ", c.status().message()));
  f.update = *c;
  f.secagg_bits = absl::GetFlag(FLAGS_secagg_bits);
  if (f.secagg_bits < aggregation::kMinRingBits || f.secagg_bits > 32) {
    return absl::InvalidArgumentError(absl::StrCat("--secagg_bits=", f.secagg_bits, ": want ",
                                                   aggregation::kMinRingBits, " to 32"));
  }
  f.prune.final_sparsity = absl::GetFlag(FLAGS_prune);
  f.prune.begin_round = 2;
  f.prune.end_round = std::max<uint64_t>(2, rounds / 2);
  if (const std::string r = absl::GetFlag(FLAGS_prune_rounds); !r.empty()) {
    const std::vector<std::string> parts = absl::StrSplit(r, ':');
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &f.prune.begin_round) ||
        !absl::SimpleAtoi(parts[1], &f.prune.end_round)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--prune_rounds=", r, ": want FIRST:LAST, two round numbers"));
    }
    if (f.prune.final_sparsity == 0) {
      return absl::InvalidArgumentError("--prune_rounds needs --prune");
    }
  }
  if (const std::string scope = absl::GetFlag(FLAGS_prune_scope); scope == "layer") {
    f.prune.scope = compression::PruneScope::kLayer;
  } else if (scope != "global") {
    return absl::InvalidArgumentError(
        absl::StrCat("--prune_scope=", scope, ": want global or layer"));
  }
  FEDGE_RETURN_IF_ERROR(compression::ValidateSchedule(f.prune));
  return f;
}

std::vector<std::string> CompressionFlagArgs() {
  return {absl::StrCat("--compress=", absl::GetFlag(FLAGS_compress)),
          absl::StrCat("--secagg_bits=", absl::GetFlag(FLAGS_secagg_bits)),
          absl::StrFormat("--prune=%.17g", absl::GetFlag(FLAGS_prune)),
          absl::StrCat("--prune_rounds=", absl::GetFlag(FLAGS_prune_rounds)),
          absl::StrCat("--prune_scope=", absl::GetFlag(FLAGS_prune_scope))};
}

}  // namespace fedge::coordinator
