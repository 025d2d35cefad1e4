#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "aggregation/aggregator.h"
#include "aggregation/kernels.h"

namespace fedge::aggregation {
namespace {

// Keeps sum_k w_k * u_k in a float accumulator and divides once in Finish.
// Weights are rescaled by the first update's weight so the accumulator stays
// near the magnitude of one update whatever the example counts are.
class FedAvgAggregator final : public Aggregator {
 public:
  void Reset(size_t dim) override {
    acc_.assign(dim, 0.0f);
    count_ = 0;
    total_weight_ = 0;
    weight_scale_ = 0;
  }

  absl::Status Add(absl::Span<const float> update, double weight) override {
    if (update.size() != acc_.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "update has ", update.size(), " values, the model has ", acc_.size()));
    }
    if (!(weight > 0) || !std::isfinite(weight)) {
      return absl::InvalidArgumentError(
          absl::StrCat("update weight ", weight, " is not a positive finite number"));
    }
    if (count_ == 0) weight_scale_ = weight;
    const float w = static_cast<float>(weight / weight_scale_);
    if (!CheckedAxpy(w, update.data(), acc_.data(), acc_.size())) {
      return absl::InvalidArgumentError("update contains NaN or infinite values");
    }
    ++count_;
    total_weight_ += weight;
    return absl::OkStatus();
  }

  size_t count() const override { return count_; }
  double total_weight() const override { return total_weight_; }

  absl::Status Finish(absl::Span<float> out) const override {
    if (count_ == 0) return absl::FailedPreconditionError("no update was aggregated");
    if (out.size() != acc_.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "output has ", out.size(), " values, the model has ", acc_.size()));
    }
    const float inv = static_cast<float>(weight_scale_ / total_weight_);
    for (size_t i = 0; i < acc_.size(); ++i) out[i] = acc_[i] * inv;
    return absl::OkStatus();
  }

 private:
  std::vector<float> acc_;
  size_t count_ = 0;
  double total_weight_ = 0;
  double weight_scale_ = 0;
};

}  // namespace

std::unique_ptr<Aggregator> MakeFedAvgAggregator() {
  return std::make_unique<FedAvgAggregator>();
}

}  // namespace fedge::aggregation
