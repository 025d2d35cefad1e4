#ifndef FEDGE_COORDINATOR_COMPRESSION_FLAGS_H_
#define FEDGE_COORDINATOR_COMPRESSION_FLAGS_H_

// --compress and --secagg_bits, shared by fedge-coordinator (which puts them
// in every task) and fedge-sim (which checks them at once and passes them
// on), so both spell and document them the same way (docs/compression.md).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "compression/compression.h"
#include "compression/pruning.h"

// For fedge-sim's summary.
ABSL_DECLARE_FLAG(std::string, compress);
ABSL_DECLARE_FLAG(uint32_t, secagg_bits);

namespace fedge::coordinator {

struct CompressionFlags {
  compression::Config update;        // --compress
  uint32_t secagg_bits = 32;         // --secagg_bits
  compression::PruneSchedule prune;  // --prune, --prune_rounds
};

// InvalidArgument naming the flag for a value that does not parse or is out
// of range. `rounds` (--rounds) sets --prune_rounds' default.
absl::StatusOr<CompressionFlags> CompressionFlagsFromFlags(uint64_t rounds);

// The same flags as "--name=value" arguments, to start a fedge-coordinator
// with them.
std::vector<std::string> CompressionFlagArgs();

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_COMPRESSION_FLAGS_H_
