#ifndef FEDGE_SIMULATIONS_PARTITION_H_
#define FEDGE_SIMULATIONS_PARTITION_H_

// Splitting a labelled training set across simulated clients. No torch: only
// labels are needed.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/dataset.h"
#include "protocol/task_spec.h"

namespace fedge::sim {

// indices[c] are the training-set indices client c holds.
using Partition = std::vector<std::vector<int64_t>>;

// The group of each example that label-skewed partitions split over: its
// class for class targets; 0/1 for binary; the first positive label for
// multi-label (K when none); for real targets, which of kQuantileBuckets
// equal-count buckets of the first target value it falls in (ties go to the
// same bucket).
inline constexpr int kQuantileBuckets = 10;
std::vector<int64_t> PartitionGroups(const data::Dataset& targets, const protocol::TaskSpec& task);

// Parses "iid", "dirichlet:ALPHA" (ALPHA > 0) or "shards:K" (K >= 1) and
// partitions examples of `labels` groups (PartitionGroups) across `clients`,
// deterministically from `seed`:
//  - iid: a shuffled even split;
//  - dirichlet: per class, proportions drawn from Dirichlet(ALPHA) over clients
//    (Hsu et al. 2019); redrawn until every client holds at least 10 examples;
//  - shards: examples sorted by label, cut into clients*K shards, K per client.
// InvalidArgument on a bad spec or more clients than examples.
absl::StatusOr<Partition> MakePartition(const std::string& spec,
                                        const std::vector<int64_t>& labels, int clients,
                                        uint64_t seed);

// Moves `fraction` (in [0, 1)) of each client's examples, chosen at random
// from (seed, client), out of `train` into the returned held-out partition
// (federated evaluation); a client with 2 or more examples keeps at least one
// of each. Deterministic.
Partition SplitHoldout(Partition* train, double fraction, uint64_t seed);

// Groups clients 0..n-1 (partition[c] their examples) into client processes
// of at most `per_process` clients so that the processes hold about the same
// number of examples: largest client first, each to the process holding the
// fewest examples that has room (LPT). ceil(n / per_process) processes, each
// list sorted. Before, processes took contiguous id ranges, which on the
// 10-client Dirichlet partition gave 26,591 against 33,409 examples.
std::vector<std::vector<uint64_t>> BalanceClients(const Partition& partition, int per_process);

// One line per client of space-separated indices.
std::string FormatPartition(const Partition& p);

// Reads the same format; checks every index is in [0, dataset_size) and that
// there are at least `clients` lines (extra lines are an error too).
absl::StatusOr<Partition> ParsePartition(const std::string& text, int clients,
                                         int64_t dataset_size);

}  // namespace fedge::sim

#endif  // FEDGE_SIMULATIONS_PARTITION_H_
