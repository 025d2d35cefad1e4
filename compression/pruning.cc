#include "compression/pruning.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace fedge::compression {
namespace {

void Clear(std::string* mask, uint64_t i) {
  (*mask)[i / 8] = static_cast<char>(static_cast<unsigned char>((*mask)[i / 8]) & ~(1u << (i % 8)));
}

}  // namespace

absl::Status ValidateSchedule(const PruneSchedule& s) {
  if (!(s.final_sparsity >= 0 && s.final_sparsity < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--prune=", s.final_sparsity, ": want a sparsity in [0, 1)"));
  }
  if (s.final_sparsity == 0) return absl::OkStatus();
  if (s.begin_round < 2 || s.end_round < s.begin_round) {
    return absl::InvalidArgumentError(
        absl::StrCat("--prune_rounds=", s.begin_round, ":", s.end_round,
                     ": want FIRST:LAST with 2 <= FIRST <= LAST (round 1 sends the initial "
                     "model)"));
  }
  return absl::OkStatus();
}

double SparsityAt(const PruneSchedule& s, uint64_t round) {
  if (s.final_sparsity <= 0 || round < s.begin_round) return 0;
  if (round >= s.end_round) return s.final_sparsity;
  // Zhu and Gupta's cubic ramp, from round begin (already pruned a little)
  // to round end: the first pruned round gets a 1/(span+1) step of it.
  const double span = static_cast<double>(s.end_round - s.begin_round + 1);
  const double t = static_cast<double>(round - s.begin_round + 1) / span;
  return s.final_sparsity * (1 - std::pow(1 - t, 3));
}

std::string DenseMask(uint64_t n) {
  std::string mask((n + 7) / 8, static_cast<char>(0xff));
  if (n % 8 != 0) mask.back() = static_cast<char>((1u << (n % 8)) - 1);
  return mask;
}

uint64_t KeptCount(absl::string_view mask, uint64_t n) {
  if (mask.empty()) return n;
  uint64_t kept = 0;
  for (char c : mask) kept += static_cast<uint64_t>(__builtin_popcount(static_cast<unsigned char>(c)));
  return kept;
}

absl::Status ValidateMask(absl::string_view mask, uint64_t n) {
  if (mask.empty()) return absl::OkStatus();
  if (mask.size() != (n + 7) / 8) {
    return absl::InvalidArgumentError(absl::StrCat("prune mask has ", mask.size(), " bytes for ",
                                                   n, " weights, want ", (n + 7) / 8));
  }
  if (n % 8 != 0 && (static_cast<unsigned char>(mask.back()) >> (n % 8)) != 0) {
    return absl::InvalidArgumentError("prune mask: padding bits are not 0");
  }
  return absl::OkStatus();
}

absl::Status Prune(absl::Span<float> weights, const Ranges& prunable, double sparsity,
                   std::string* mask, PruneScope scope) {
  const uint64_t n = weights.size();
  if (!(sparsity >= 0 && sparsity < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("prune: sparsity ", sparsity, " not in [0, 1)"));
  }
  if (absl::Status s = ValidateMask(*mask, n); !s.ok()) return s;
  for (const auto& [begin, end] : prunable) {
    if (begin > end || end > n) {
      return absl::InvalidArgumentError(
          absl::StrCat("prune: range [", begin, ", ", end, ") is outside ", n, " weights"));
    }
  }
  if (mask->empty()) *mask = DenseMask(n);
  auto smaller = [&weights](uint64_t a, uint64_t b) {
    const float fa = std::fabs(weights[a]), fb = std::fabs(weights[b]);
    return fa != fb ? fa < fb : a < b;
  };
  // One pool per range (kLayer) or one for all (kGlobal): its kept
  // coordinates of smallest magnitude go until the pool is sparse enough.
  std::vector<uint64_t> kept;
  uint64_t size = 0;
  auto prune_pool = [&] {
    const uint64_t want_pruned = static_cast<uint64_t>(std::llround(sparsity * size));
    const uint64_t pruned = size - kept.size();
    if (want_pruned > pruned) {
      const uint64_t more = want_pruned - pruned;
      std::nth_element(kept.begin(), kept.begin() + more, kept.end(), smaller);
      for (uint64_t j = 0; j < more; ++j) Clear(mask, kept[j]);
    }
    kept.clear();
    size = 0;
  };
  for (const auto& [begin, end] : prunable) {
    for (uint64_t i = begin; i < end; ++i) {
      if (Kept(*mask, i)) kept.push_back(i);
    }
    size += end - begin;
    if (scope == PruneScope::kLayer) prune_pool();
  }
  if (scope == PruneScope::kGlobal) prune_pool();
  ApplyMask(*mask, weights);
  return absl::OkStatus();
}

void ApplyMask(absl::string_view mask, absl::Span<float> weights) {
  if (mask.empty()) return;
  for (uint64_t i = 0; i < weights.size(); ++i) {
    if (!Kept(mask, i)) weights[i] = 0;
  }
}

Ranges KeptRanges(const Ranges& ranges, absl::string_view mask) {
  if (mask.empty()) return ranges;
  Ranges out;
  uint64_t rank = 0, at = 0;  // rank: kept coordinates before `at`
  for (const auto& [begin, end] : ranges) {
    for (; at < begin; ++at) rank += Kept(mask, at) ? 1 : 0;
    const uint64_t first = rank;
    for (; at < end; ++at) rank += Kept(mask, at) ? 1 : 0;
    if (rank > first) out.emplace_back(first, rank);
  }
  return out;
}

void Gather(absl::string_view mask, absl::Span<const float> full, std::vector<float>* kept) {
  kept->clear();
  kept->reserve(KeptCount(mask, full.size()));
  for (uint64_t i = 0; i < full.size(); ++i) {
    if (Kept(mask, i)) kept->push_back(full[i]);
  }
}

absl::Status Scatter(absl::string_view mask, absl::Span<const float> kept, absl::Span<float> full) {
  const uint64_t want = KeptCount(mask, full.size());
  if (kept.size() != want) {
    return absl::InvalidArgumentError(
        absl::StrCat(kept.size(), " kept values for a mask keeping ", want));
  }
  size_t j = 0;
  for (uint64_t i = 0; i < full.size(); ++i) full[i] = Kept(mask, i) ? kept[j++] : 0.0f;
  return absl::OkStatus();
}

}  // namespace fedge::compression
