#include "coordinator/async_round.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "aggregation/kernels.h"
#include "aggregation/norm_bound.h"
#include "compression/compression.h"

namespace fedge::coordinator {

using protocol::ErrorCode;

absl::Status ValidateAsyncOptions(const AsyncOptions& o) {
  if (o.buffer == 0) return absl::InvalidArgumentError("--buffer must be at least 1");
  if (!(std::isfinite(o.staleness_exponent) && o.staleness_exponent >= 0 &&
        o.staleness_exponent <= 10)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--staleness_exponent=", o.staleness_exponent, " is not in [0, 10]"));
  }
  return absl::OkStatus();
}

double StalenessWeight(uint64_t staleness, double exponent) {
  return std::pow(1.0 + static_cast<double>(staleness), -exponent);
}

AsyncRound::AsyncRound(Settings settings, aggregation::Aggregator* aggregator)
    : settings_(std::move(settings)), aggregator_(aggregator) {
  aggregator_->Reset(settings_.model_size);
}

std::optional<Refusal> AsyncRound::OnUpdate(const std::string&, protocol::Update& m) {
  const auto where = [&] {
    return absl::StrCat("version ", settings_.round, "'s buffer: update from client ",
                        m.client_id);
  };
  if (m.model_version > settings_.model_version) {
    return Refusal{ErrorCode::kWrongModelVersion,
                   absl::StrCat(where(), " trained on model version ", m.model_version,
                                ", newer than the current ", settings_.model_version),
                   /*drop=*/true};
  }
  const uint64_t staleness = settings_.model_version - m.model_version;
  if (staleness > settings_.options.max_staleness) {
    ++stale_refused_;
    return Refusal{ErrorCode::kStale,
                   absl::StrCat(where(), " trained on model version ", m.model_version,
                                ", ", staleness, " versions behind the current ",
                                settings_.model_version, " (--max_staleness=",
                                settings_.options.max_staleness, ")"),
                   /*drop=*/true};
  }
  if (m.encoding != protocol::DeltaEncoding::kFloat32) {
    absl::Status s =
        compression::Decompress(m.encoding, m.packed, settings_.model_size, &m.delta);
    if (!s.ok()) {
      return Refusal{ErrorCode::kMalformed, absl::StrCat(where(), ": ", s.message()),
                     /*drop=*/true};
    }
    m.packed.clear();
  }
  if (m.delta.size() != settings_.model_size) {
    return Refusal{ErrorCode::kWrongLength,
                   absl::StrCat(where(), " has ", m.delta.size(), " floats, want ",
                                settings_.model_size),
                   /*drop=*/true};
  }
  if (m.num_examples == 0) {
    return Refusal{ErrorCode::kBadWeight, absl::StrCat(where(), " trained on zero examples"),
                   /*drop=*/true};
  }
  if (!m.control_delta.empty()) {
    return Refusal{ErrorCode::kWrongLength,
                   absl::StrCat(where(), " carries a control-variate change; async rounds "
                                         "have none"),
                   /*drop=*/true};
  }
  if (!aggregation::AllFinite(m.delta.data(), m.delta.size())) {
    return Refusal{ErrorCode::kNonFinite,
                   absl::StrCat(where(), " contains NaN or infinite values"), /*drop=*/true};
  }
  if (settings_.clip_norm > 0) {
    aggregation::ClipNorm(absl::MakeSpan(m.delta), settings_.parameter_ranges,
                          settings_.clip_norm);
  }
  // The discount scales the delta, not the weight: a weight would cancel
  // out of the mean when the whole buffer is equally stale.
  const float discount =
      static_cast<float>(StalenessWeight(staleness, settings_.options.staleness_exponent));
  if (discount != 1.0f) {
    for (float& x : m.delta) x *= discount;
  }
  const double weight = static_cast<double>(m.num_examples);
  if (absl::Status s = aggregator_->Add(m.delta, weight); !s.ok()) {
    return Refusal{ErrorCode::kNonFinite, absl::StrCat(where(), ": ", s.message()),
                   /*drop=*/true};
  }
  staleness_sum_ += staleness;
  staleness_max_ = std::max(staleness_max_, staleness);
  if (std::isfinite(m.metrics.loss)) {
    train_loss_sum_ += static_cast<double>(m.metrics.loss) * weight;
    train_loss_weight_ += weight;
  }
  return std::nullopt;
}

std::optional<Refusal> AsyncRound::OnSecAgg(const std::string&, secure::SecAggClientMessage&&) {
  return Refusal{ErrorCode::kMalformed, "asynchronous rounds do not use secure aggregation"};
}

Round::Frames AsyncRound::Advance(absl::Time, const CohortProgress&) {
  if (outcome_ == Outcome::kRunning && aggregator_->count() >= settings_.options.buffer) {
    outcome_ = Outcome::kCompleted;
  }
  return {};
}

absl::StatusOr<std::vector<std::string>> AsyncRound::Finish(absl::Span<float> delta,
                                                            RoundReport* report) {
  const size_t count = aggregator_->count();
  report->aggregated = static_cast<uint32_t>(count);
  report->total_weight = aggregator_->total_weight();
  report->train_loss =
      train_loss_weight_ > 0 ? train_loss_sum_ / train_loss_weight_ : std::nan("");
  AsyncFigures figures;
  figures.staleness_mean = count > 0 ? static_cast<double>(staleness_sum_) / count : 0;
  figures.staleness_max = staleness_max_;
  figures.stale_refused = stale_refused_;
  report->async = figures;
  absl::Status s = aggregator_->Finish(delta);
  report->buffered_bytes = aggregator_->buffered_bytes();
  if (!s.ok()) return s;
  return std::vector<std::string>{};
}

// ---- AsyncTasks -------------------------------------------------------------

const AsyncTasks::Task* AsyncTasks::Find(const std::string& peer) const {
  auto it = tasks_.find(peer);
  return it == tasks_.end() ? nullptr : &it->second;
}

std::vector<std::string> AsyncTasks::Choose(std::vector<std::string> candidates,
                                            size_t concurrency, std::mt19937_64& rng) const {
  if (tasks_.size() >= concurrency) return {};
  candidates.erase(std::remove_if(candidates.begin(), candidates.end(),
                                  [&](const std::string& p) { return tasks_.count(p) > 0; }),
                   candidates.end());
  const size_t want = std::min(concurrency - tasks_.size(), candidates.size());
  // A partial Fisher-Yates: the first `want` are a uniform sample.
  for (size_t i = 0; i < want; ++i) {
    std::uniform_int_distribution<size_t> pick(i, candidates.size() - 1);
    std::swap(candidates[i], candidates[pick(rng)]);
  }
  candidates.resize(want);
  return candidates;
}

std::vector<std::string> AsyncTasks::Expire(absl::Time now) {
  std::vector<std::string> expired;
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    if (it->second.deadline <= now) {
      expired.push_back(it->first);
      it = tasks_.erase(it);
    } else {
      ++it;
    }
  }
  return expired;
}

absl::Time AsyncTasks::NextDeadline() const {
  absl::Time next = absl::InfiniteFuture();
  for (const auto& [peer, task] : tasks_) next = std::min(next, task.deadline);
  return next;
}

}  // namespace fedge::coordinator
