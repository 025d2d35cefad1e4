#include "aggregation/robust.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "aggregation/kernels.h"

namespace fedge::aggregation {
namespace {

// Krum's Finish holds, per update, one distance of the column being scored,
// one score and one index; the median rules only a float per update.
constexpr size_t kScratchBytesPerUpdate = 2 * sizeof(double) + sizeof(size_t);

// Four independent sums so the loop is not one long dependency chain; the
// difference is taken in double so nearby updates do not lose their digits.
double SquaredDistance(const float* a, const float* b, size_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const double d0 = static_cast<double>(a[i]) - b[i];
    const double d1 = static_cast<double>(a[i + 1]) - b[i + 1];
    const double d2 = static_cast<double>(a[i + 2]) - b[i + 2];
    const double d3 = static_cast<double>(a[i + 3]) - b[i + 3];
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    s0 += d * d;
  }
  return (s0 + s1) + (s2 + s3);
}

size_t SaturatingMul(size_t a, size_t b) {
  size_t r;
  return __builtin_mul_overflow(a, b, &r) ? std::numeric_limits<size_t>::max() : r;
}

size_t SaturatingAdd(size_t a, size_t b) {
  size_t r;
  return __builtin_add_overflow(a, b, &r) ? std::numeric_limits<size_t>::max() : r;
}

// Keeps a copy of every update of the round; subclasses apply the rule in
// Combine. Slots outlive Reset so model-sized buffers are allocated (and their
// pages first touched) once, not every round.
class BufferedAggregator : public Aggregator {
 public:
  void Reset(size_t dim) override {
    if (dim != dim_) {
      // Resizing kept buffers to another dim would hold the old capacity;
      // a model change is rare enough to start over.
      std::vector<Slot>().swap(slots_);
      dim_ = dim;
    }
    count_ = 0;
    total_weight_ = 0;
  }

  absl::Status Add(absl::Span<const float> update, double weight) override {
    if (update.size() != dim_) {
      return absl::InvalidArgumentError(
          absl::StrCat("update has ", update.size(), " values, the model has ", dim_));
    }
    if (!(weight > 0) || !std::isfinite(weight)) {
      return absl::InvalidArgumentError(
          absl::StrCat("update weight ", weight, " is not a positive finite number"));
    }
    if (!AllFinite(update.data(), update.size())) {
      return absl::InvalidArgumentError("update contains NaN or infinite values");
    }
    if (count_ == slots_.size()) slots_.emplace_back();
    Slot& slot = slots_[count_];
    slot.values.resize(dim_);  // No-op on a slot kept from an earlier round.
    std::copy(update.begin(), update.end(), slot.values.begin());
    OnAdded(count_);
    ++count_;
    total_weight_ += weight;
    return absl::OkStatus();
  }

  size_t count() const override { return count_; }
  double total_weight() const override { return total_weight_; }

  size_t buffered_bytes() const override {
    size_t bytes = ScratchBytes();
    for (const Slot& slot : slots_) {
      bytes += slot.values.capacity() * sizeof(float) + slot.distances.capacity() * sizeof(double);
    }
    return bytes;
  }

  absl::Status Finish(absl::Span<float> out) const override {
    if (count_ == 0) return absl::FailedPreconditionError("no update was aggregated");
    if (out.size() != dim_) {
      return absl::InvalidArgumentError(
          absl::StrCat("output has ", out.size(), " values, the model has ", dim_));
    }
    return Combine(out);
  }

 protected:
  struct Slot {
    std::vector<float> values;
    // Krum only: squared distance to each earlier slot of the round, so slot
    // k always has k entries and keeps its allocation across rounds.
    std::vector<double> distances;
  };

  // Called once the update is stored at slots_[index].values.
  virtual void OnAdded(size_t /*index*/) {}
  // `out` has dim_ values and count_ > 0.
  virtual absl::Status Combine(absl::Span<float> out) const = 0;
  // Capacity of the scratch Combine keeps between calls.
  virtual size_t ScratchBytes() const { return column_.capacity() * sizeof(float); }

  const float* values(size_t k) const { return slots_[k].values.data(); }

  // Gathers coordinate `c` of every update into column_.
  void GatherColumn(size_t c) const {
    column_.resize(count_);
    for (size_t k = 0; k < count_; ++k) column_[k] = slots_[k].values[c];
  }

  size_t dim_ = 0;
  size_t count_ = 0;
  double total_weight_ = 0;
  std::vector<Slot> slots_;
  // Scratch of the coordinate-wise rules; mutable because Finish is const.
  mutable std::vector<float> column_;
};

class MedianAggregator final : public BufferedAggregator {
 private:
  absl::Status Combine(absl::Span<float> out) const override {
    const size_t n = count_;
    for (size_t c = 0; c < dim_; ++c) {
      GatherColumn(c);
      auto mid = column_.begin() + n / 2;
      std::nth_element(column_.begin(), mid, column_.end());
      const float upper = *mid;
      if (n % 2 == 1) {
        out[c] = upper;
      } else {
        // nth_element leaves the lower half before `mid`; its largest is the
        // other middle value. Averaged in double so it cannot overflow.
        const float lower = *std::max_element(column_.begin(), mid);
        out[c] = static_cast<float>((static_cast<double>(lower) + upper) / 2);
      }
    }
    return absl::OkStatus();
  }
};

class TrimmedMeanAggregator final : public BufferedAggregator {
 public:
  explicit TrimmedMeanAggregator(double beta) : beta_(beta) {}

 private:
  absl::Status Combine(absl::Span<float> out) const override {
    if (!(beta_ >= 0 && beta_ < 0.5)) {
      return absl::InvalidArgumentError(
          absl::StrCat("trimmed mean beta ", beta_, " is not in [0, 0.5)"));
    }
    const size_t n = count_;
    const size_t trim = static_cast<size_t>(std::floor(beta_ * static_cast<double>(n)));
    // floor(beta * n) < n / 2 for beta < 0.5, but say so rather than divide
    // by zero should rounding ever disagree.
    if (2 * trim >= n) {
      return absl::FailedPreconditionError(absl::StrCat(
          "trimmed mean with beta ", beta_, " drops ", trim, " values at each end of ", n,
          ": nothing left to average"));
    }
    const double kept = static_cast<double>(n - 2 * trim);
    for (size_t c = 0; c < dim_; ++c) {
      GatherColumn(c);
      auto first = column_.begin() + trim;
      auto last = column_.begin() + (n - trim);
      if (trim > 0) {
        // Two partial selections isolate the middle n - 2*trim values
        // without sorting the column.
        std::nth_element(column_.begin(), first, column_.end());
        std::nth_element(first, last, column_.end());
      }
      double sum = 0;
      for (auto it = first; it != last; ++it) sum += *it;
      out[c] = static_cast<float>(sum / kept);
    }
    return absl::OkStatus();
  }

  const double beta_;
};

class KrumAggregator final : public BufferedAggregator {
 public:
  KrumAggregator(uint32_t byzantine, uint32_t select) : byzantine_(byzantine), select_(select) {}

 private:
  // Distances are taken as updates arrive: the quadratic part of Krum then
  // overlaps the wait for the rest of the cohort instead of delaying Finish.
  void OnAdded(size_t index) override {
    Slot& slot = slots_[index];
    slot.distances.resize(index);
    for (size_t j = 0; j < index; ++j) {
      slot.distances[j] = SquaredDistance(slot.values.data(), values(j), dim_);
    }
  }

  double Distance(size_t i, size_t j) const {
    return i > j ? slots_[i].distances[j] : slots_[j].distances[i];
  }

  absl::Status Combine(absl::Span<float> out) const override {
    const size_t n = count_;
    const size_t f = byzantine_;
    if (n < 2 * f + 3) {
      return absl::FailedPreconditionError(
          absl::StrCat("Krum with f = ", f, " Byzantine updates needs n >= 2f + 3 = ", 2 * f + 3,
                       " updates, got n = ", n));
    }
    const size_t m = select_ == 0 ? n - f : select_;
    if (m > n) {
      return absl::FailedPreconditionError(absl::StrCat(
          "Multi-Krum selects m = ", m, " updates but only n = ", n, " arrived (f = ", f, ")"));
    }
    // n >= 2f + 3 makes neighbours >= f + 1 >= 1 and < n - 1, so the
    // nth_element position below is inside the column.
    const size_t neighbours = n - f - 2;
    distance_column_.resize(n - 1);
    scores_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      size_t w = 0;
      for (size_t j = 0; j < n; ++j) {
        if (j != i) distance_column_[w++] = Distance(i, j);
      }
      auto kth = distance_column_.begin() + neighbours;
      std::nth_element(distance_column_.begin(), kth, distance_column_.end());
      scores_[i] = std::accumulate(distance_column_.begin(), kth, 0.0);
    }
    order_.resize(n);
    std::iota(order_.begin(), order_.end(), size_t{0});
    // Lowest score first; equal scores by arrival, so the pick is deterministic.
    std::partial_sort(order_.begin(), order_.begin() + m, order_.end(), [this](size_t a, size_t b) {
      return scores_[a] != scores_[b] ? scores_[a] < scores_[b] : a < b;
    });
    std::copy(values(order_[0]), values(order_[0]) + dim_, out.begin());
    if (m > 1) {
      for (size_t s = 1; s < m; ++s) Axpy(1.0f, values(order_[s]), out.data(), dim_);
      const float inv = 1.0f / static_cast<float>(m);
      for (float& x : out) x *= inv;
    }
    return absl::OkStatus();
  }

  size_t ScratchBytes() const override {
    return distance_column_.capacity() * sizeof(double) + scores_.capacity() * sizeof(double) +
           order_.capacity() * sizeof(size_t);
  }

  const uint32_t byzantine_;
  const uint32_t select_;
  mutable std::vector<double> distance_column_;
  mutable std::vector<double> scores_;
  mutable std::vector<size_t> order_;
};

// Bucketing (Karimireddy, He and Jaggi 2022, "Byzantine-Robust Learning on
// Heterogeneous Datasets via Bucketing", Algorithm 1): a random permutation
// of the round's updates is cut into buckets of `size`, and the rule runs on
// the buckets' plain means. Averaging s honest non-IID updates shrinks their
// spread, which is what lets coordinate-wise rules tell attackers apart.
class BucketingAggregator final : public BufferedAggregator {
 public:
  BucketingAggregator(std::unique_ptr<Aggregator> rule, uint32_t size, uint64_t seed)
      : rule_(std::move(rule)), size_(size), rng_(seed) {}

  void Reset(size_t dim) override {
    BufferedAggregator::Reset(dim);
    rule_->Reset(dim);
  }

  size_t buffered_bytes() const override {
    return SaturatingAdd(BufferedAggregator::buffered_bytes(),
                         SaturatingAdd(rule_->buffered_bytes(),
                                       mean_.capacity() * sizeof(float)));
  }

 private:
  absl::Status Combine(absl::Span<float> out) const override {
    order_.resize(count_);
    std::iota(order_.begin(), order_.end(), size_t{0});
    // A fresh permutation every round, from the seeded stream.
    std::shuffle(order_.begin(), order_.end(), rng_);
    rule_->Reset(dim_);
    mean_.resize(dim_);
    for (size_t start = 0; start < count_; start += size_) {
      const size_t end = std::min<size_t>(count_, start + size_);
      std::fill(mean_.begin(), mean_.end(), 0.0f);
      const float inv = 1.0f / static_cast<float>(end - start);
      for (size_t k = start; k < end; ++k) {
        const float* v = values(order_[k]);
        for (size_t c = 0; c < dim_; ++c) mean_[c] += v[c] * inv;
      }
      // Every bucket counts once, as every update does for the rules.
      if (absl::Status s = rule_->Add(mean_, static_cast<double>(end - start)); !s.ok()) {
        return s;
      }
    }
    return rule_->Finish(out);
  }

  // Mutable: Finish is const, and a bucketed round is combined once.
  const std::unique_ptr<Aggregator> rule_;
  const uint32_t size_;
  mutable std::mt19937_64 rng_;
  mutable std::vector<size_t> order_;
  mutable std::vector<float> mean_;
};

}  // namespace

std::unique_ptr<Aggregator> MakeMedianAggregator() { return std::make_unique<MedianAggregator>(); }

std::unique_ptr<Aggregator> MakeTrimmedMeanAggregator(double beta) {
  return std::make_unique<TrimmedMeanAggregator>(beta);
}

std::unique_ptr<Aggregator> MakeKrumAggregator(uint32_t byzantine, uint32_t select) {
  return std::make_unique<KrumAggregator>(byzantine, select);
}

std::unique_ptr<Aggregator> MakeBucketingAggregator(std::unique_ptr<Aggregator> rule,
                                                    uint32_t bucket_size, uint64_t seed) {
  return std::make_unique<BucketingAggregator>(std::move(rule), std::max<uint32_t>(bucket_size, 1),
                                               seed);
}

size_t BucketedBufferedBytes(size_t dim, size_t updates, uint32_t bucket_size) {
  const size_t s = std::max<uint32_t>(bucket_size, 1);
  const size_t buckets = updates / s + (updates % s != 0);
  const size_t copies = SaturatingMul(SaturatingMul(updates, dim), sizeof(float));
  const size_t scratch = SaturatingAdd(SaturatingMul(dim, sizeof(float)),
                                       SaturatingMul(updates, sizeof(size_t)));
  return SaturatingAdd(SaturatingAdd(copies, scratch), BufferedBytes(dim, buckets));
}

size_t BufferedBytes(size_t dim, size_t updates) {
  const size_t copies = SaturatingMul(SaturatingMul(updates, dim), sizeof(float));
  // n (n - 1) / 2, halving the even factor first so only the product can
  // overflow.
  const size_t pairs = updates < 2          ? 0
                       : updates % 2 == 0 ? SaturatingMul(updates / 2, updates - 1)
                                          : SaturatingMul(updates, (updates - 1) / 2);
  const size_t distances = SaturatingMul(pairs, sizeof(double));
  const size_t scratch = SaturatingMul(updates, kScratchBytesPerUpdate);
  return SaturatingAdd(SaturatingAdd(copies, distances), scratch);
}

}  // namespace fedge::aggregation
