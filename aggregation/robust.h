#ifndef FEDGE_AGGREGATION_ROBUST_H_
#define FEDGE_AGGREGATION_ROBUST_H_

// Byzantine-robust aggregation rules and update-norm bounding. No torch, no
// I/O.
//
// Unlike FedAvg these rules need every update of the round at once, so the
// aggregators below copy each update on Add and hold the copies until the next
// Reset: memory grows with the number of updates (see BufferedBytes). They
// cannot run under secure aggregation, which only ever reveals the sum.
//
// The rules are unweighted: every accepted update counts once, whatever its
// weight. Weights are still checked (positive, finite) and summed for
// total_weight(), so callers can report example counts as with FedAvg.
//
// Add checks what FedAvg's Add checks (length, NaN/Inf, weight) and leaves the
// round untouched on error. Reset keeps the per-update buffers (and Krum's
// distance rows) when `dim` is unchanged, so a steady cohort reuses the same
// memory every round; a round with fewer updates still holds the buffers of the
// largest one, and a different `dim` releases them all.
//
// Finish errors common to all: FailedPrecondition when no update was added,
// InvalidArgument when `out` does not have `dim` values. Not thread-safe.

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "aggregation/aggregator.h"

namespace fedge::aggregation {

// Coordinate-wise median (Yin et al. 2018, "Byzantine-Robust Distributed
// Learning"). With an even count, each coordinate is the mean of its two
// middle values. O(n * dim) time.
std::unique_ptr<Aggregator> MakeMedianAggregator();

// Coordinate-wise trimmed mean (Yin et al. 2018): per coordinate, drops the
// floor(beta * n) largest and floor(beta * n) smallest values and averages the
// rest. `beta` must be in [0, 0.5); beta = 0 is the plain mean. Finish returns
// InvalidArgument for a beta outside that range (NaN included) and
// FailedPrecondition should no value be left to average. O(n * dim) time.
std::unique_ptr<Aggregator> MakeTrimmedMeanAggregator(double beta);

// Krum and Multi-Krum (Blanchard et al. 2017, "Machine Learning with
// Adversaries"). With n updates and f = `byzantine`, the score of update i is
// the sum of squared L2 distances to its n - f - 2 nearest other updates.
// select = 1 is Krum: the output is the lowest-scoring update. select = m > 1
// is Multi-Krum: the output is the plain mean of the m lowest-scoring updates.
// select = 0 means m = n - f (the usual Multi-Krum choice). Equal scores are
// ordered by arrival, so the result is deterministic.
//
// Distances to earlier updates are computed in Add (in double), so most of the
// O(n^2 * dim) work overlaps the wait for stragglers. Finish returns
// FailedPrecondition, naming n and f, when n < 2f + 3 or m > n.
std::unique_ptr<Aggregator> MakeKrumAggregator(uint32_t byzantine, uint32_t select);

// Bucketing (Karimireddy, He and Jaggi 2022, "Byzantine-Robust Learning on
// Heterogeneous Datasets via Bucketing", Algorithm 1) around any rule above:
// each round, a random permutation of the updates (from a stream seeded by
// `seed`, so runs repeat) is cut into consecutive buckets of `bucket_size`
// (the last may be smaller), and `rule` runs on the buckets' plain means,
// each counting once. bucket_size 1 is `rule` itself, applied to the
// updates in a shuffled order. On non-IID data honest updates differ a lot
// and coordinate-wise rules then mistake them for attackers; averaging s of
// them shrinks that spread by about sqrt(s). The price: up to
// bucket_size x as many bucket means are touched by attackers, so `rule`
// must tolerate that share (e.g. trimmed mean's beta >= s x the attackers'
// share).
std::unique_ptr<Aggregator> MakeBucketingAggregator(std::unique_ptr<Aggregator> rule,
                                                    uint32_t bucket_size, uint64_t seed);

// What the bucketing aggregator holds for `updates` updates of `dim` floats:
// their copies, one mean and the permutation, and the inner rule's
// BufferedBytes for the buckets.
size_t BucketedBufferedBytes(size_t dim, size_t updates, uint32_t bucket_size);

// Norm bounding, which composes with these rules, is in norm_bound.h.

// Upper bound, in bytes, of what any aggregator above holds for a round of
// `updates` updates of `dim` floats: the copies (updates * dim * 4), Krum's
// pairwise squared distances (updates * (updates - 1) / 2 doubles) and one
// column of scratch (updates * 24 bytes: a value, a score and an index per
// update). Per-update bookkeeping of a few words is not counted. Lets the
// coordinator refuse a configuration before a round starts. Saturates at
// SIZE_MAX instead of overflowing.
size_t BufferedBytes(size_t dim, size_t updates);

}  // namespace fedge::aggregation

#endif  // FEDGE_AGGREGATION_ROBUST_H_
