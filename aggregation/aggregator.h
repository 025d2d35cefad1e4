#ifndef FEDGE_AGGREGATION_AGGREGATOR_H_
#define FEDGE_AGGREGATION_AGGREGATOR_H_

// Aggregation of client updates given as flat float spans. No torch, no I/O.

#include <cstddef>
#include <memory>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace fedge::aggregation {

// Combines the updates of one round. FedAvg is streaming: an update is folded
// in when it arrives and then no longer referenced, so memory is O(model size)
// however many clients report. The robust rules (robust.h) need all updates at
// once and keep a copy of each; buffered_bytes() says how much. Not
// thread-safe.
class Aggregator {
 public:
  virtual ~Aggregator() = default;

  // Starts a round over updates of `dim` floats, forgetting any previous one.
  // Reuses the accumulator's storage when `dim` is unchanged.
  virtual void Reset(size_t dim) = 0;

  // Folds in one update. InvalidArgument (and the aggregate untouched) when the
  // length is not `dim`, a value is NaN or infinite, or the weight is not a
  // positive finite number.
  virtual absl::Status Add(absl::Span<const float> update, double weight) = 0;

  // Number of updates folded in since Reset, and the sum of their weights.
  virtual size_t count() const = 0;
  virtual double total_weight() const = 0;

  // Bytes held now in proportion to the number of updates: buffered copies,
  // pairwise distances and scratch, counted by capacity (so it includes what
  // Reset kept from earlier rounds). Streaming aggregators return 0: their one
  // dim-sized accumulator does not grow with the cohort. For metrics and
  // limits; BufferedBytes (robust.h) bounds it before a round starts.
  virtual size_t buffered_bytes() const { return 0; }

  // Writes the aggregate into `out` (size `dim`). FailedPrecondition when no
  // update was added; InvalidArgument when `out` has the wrong size.
  virtual absl::Status Finish(absl::Span<float> out) const = 0;
};

// FedAvg (McMahan et al. 2017): the example-weighted mean of the updates.
std::unique_ptr<Aggregator> MakeFedAvgAggregator();

}  // namespace fedge::aggregation

#endif  // FEDGE_AGGREGATION_AGGREGATOR_H_
