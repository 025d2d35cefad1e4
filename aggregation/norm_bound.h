#ifndef FEDGE_AGGREGATION_NORM_BOUND_H_
#define FEDGE_AGGREGATION_NORM_BOUND_H_

// Update-norm bounding (Sun et al. 2019, "Can You Really Backdoor Federated
// Learning?"): an update whose L2 norm exceeds a bound is scaled down to it,
// so no single client can move the model far. Measured over the parameter
// coordinates only (protocol::ParameterRanges); buffer coordinates (BatchNorm
// statistics) are left as they are, since their scale says nothing about an
// attack and would otherwise dominate the norm. No torch, no I/O.

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/types/span.h"

namespace fedge::aggregation {

// Scales the coordinates of `update` inside `ranges` so their joint L2 norm
// is at most `max_norm` (> 0). Returns the norm before scaling (accumulated
// in double). Ranges must lie inside the update.
double ClipNorm(absl::Span<float> update,
                const std::vector<std::pair<uint64_t, uint64_t>>& ranges, double max_norm);

}  // namespace fedge::aggregation

#endif  // FEDGE_AGGREGATION_NORM_BOUND_H_
