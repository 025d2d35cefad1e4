#ifndef FEDGE_COMPRESSION_PRUNING_H_
#define FEDGE_COMPRESSION_PRUNING_H_

// Magnitude pruning decided by the coordinator (docs/compression.md): a
// sparsity schedule over rounds (Zhu and Gupta, "To prune, or not to prune",
// 2017), a mask of kept coordinates that travels signed with the model, and
// the gather/scatter that let devices upload only the kept coordinates. Pure
// computation on flat weights; the caller says which ranges may be pruned
// (the coordinator: weight matrices and kernels, never biases, buffers or
// normalisation layers).
//
// A mask is a bitmap over all n coordinates of the model, ceil(n/8) bytes,
// bit i = (byte i/8 >> i%8) & 1, 1 = kept; the unused high bits of the last
// byte are 0. An empty mask means dense (everything kept).

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace fedge::compression {

using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;  // [begin, end) of the flat weights

// kLayer: each range (tensor) is pruned to the sparsity on its own. kGlobal:
// one magnitude threshold over all ranges together, so large redundant
// layers give up more weights than small ones; the ranges' total reaches the
// sparsity.
enum class PruneScope : uint8_t { kLayer = 0, kGlobal = 1 };

struct PruneSchedule {
  double final_sparsity = 0;  // 0: off; else in (0, 1)
  PruneScope scope = PruneScope::kGlobal;
  // The model of round `begin_round` is the first pruned, that of
  // `end_round` and later reach final_sparsity; in between the sparsity
  // follows s_f * (1 - (1 - (r - b) / (e - b))^3), pruning fast while the
  // network has redundant weights and slowly as it reaches the target.
  uint64_t begin_round = 2;
  uint64_t end_round = 2;
};

// InvalidArgument naming the flag for a sparsity outside [0, 1) or rounds
// with begin < 2 or end < begin (round 1's model is the initial one).
absl::Status ValidateSchedule(const PruneSchedule& s);
// The sparsity of the model sent in `round` (0 when off or before begin).
double SparsityAt(const PruneSchedule& s, uint64_t round);

// A mask keeping all n coordinates.
std::string DenseMask(uint64_t n);
inline bool Kept(absl::string_view mask, uint64_t i) {
  return mask.empty() || ((static_cast<unsigned char>(mask[i / 8]) >> (i % 8)) & 1);
}
// Kept coordinates: n for an empty mask.
uint64_t KeptCount(absl::string_view mask, uint64_t n);
// InvalidArgument unless mask is empty or ceil(n/8) bytes with 0 padding.
absl::Status ValidateMask(absl::string_view mask, uint64_t n);

// Prunes `weights` so that each range (kLayer), or all ranges together
// (kGlobal), have at least round(sparsity * size) of their coordinates
// pruned: the kept ones of smallest magnitude go (ties: the lower index),
// already-pruned ones stay pruned (the mask only shrinks).
// Pruned weights are set to 0. `*mask` may be empty (dense) on entry; it is
// a full bitmap on return. InvalidArgument for a bad mask, a range past the
// weights or a sparsity outside [0, 1).
absl::Status Prune(absl::Span<float> weights, const Ranges& prunable, double sparsity,
                   std::string* mask, PruneScope scope = PruneScope::kLayer);

// Sets the pruned coordinates of `weights` to 0 (after a server optimiser
// step, which may move them).
void ApplyMask(absl::string_view mask, absl::Span<float> weights);

// `ranges` of the full weights as ranges of the kept coordinates (in
// Gather's order), empty ones dropped: where norm bounding applies once only
// the kept coordinates travel.
Ranges KeptRanges(const Ranges& ranges, absl::string_view mask);

// The kept coordinates of `full`, in order.
void Gather(absl::string_view mask, absl::Span<const float> full, std::vector<float>* kept);
// The inverse: full[i] = the next kept value for kept coordinates, 0 for the
// others. InvalidArgument when kept.size() is not the mask's kept count.
absl::Status Scatter(absl::string_view mask, absl::Span<const float> kept, absl::Span<float> full);

}  // namespace fedge::compression

#endif  // FEDGE_COMPRESSION_PRUNING_H_
