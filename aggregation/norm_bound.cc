#include "aggregation/norm_bound.h"

#include <cmath>

namespace fedge::aggregation {

double ClipNorm(absl::Span<float> update,
                const std::vector<std::pair<uint64_t, uint64_t>>& ranges, double max_norm) {
  double sum = 0;
  for (const auto& [begin, end] : ranges) {
    for (uint64_t i = begin; i < end; ++i) sum += static_cast<double>(update[i]) * update[i];
  }
  const double norm = std::sqrt(sum);
  if (norm > max_norm) {
    const float scale = static_cast<float>(max_norm / norm);
    for (const auto& [begin, end] : ranges) {
      for (uint64_t i = begin; i < end; ++i) update[i] *= scale;
    }
  }
  return norm;
}

}  // namespace fedge::aggregation
