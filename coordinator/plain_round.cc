#include "coordinator/plain_round.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "aggregation/kernels.h"
#include "aggregation/norm_bound.h"
#include "compression/compression.h"

namespace fedge::coordinator {

using protocol::ErrorCode;

PlainRound::PlainRound(Settings settings, aggregation::Aggregator* aggregator,
                       aggregation::Aggregator* control)
    : settings_(std::move(settings)), aggregator_(aggregator), control_(control) {
  aggregator_->Reset(settings_.model_size);
  if (control_ != nullptr) control_->Reset(settings_.model_size);
}

std::optional<Refusal> PlainRound::OnUpdate(const std::string&, protocol::Update& m) {
  if (m.encoding != protocol::DeltaEncoding::kFloat32) {
    // Bounded by the model's size; a payload that does not decode to exactly
    // that is refused whole (compression/compression.h).
    absl::Status s =
        compression::Decompress(m.encoding, m.packed, settings_.model_size, &m.delta);
    if (!s.ok()) {
      return Refusal{ErrorCode::kMalformed,
                     absl::StrCat("round ", settings_.round, ": update from client ", m.client_id,
                                  ": ", s.message()),
                     /*drop=*/true};
    }
    m.packed.clear();
  }
  if (m.delta.size() != settings_.model_size) {
    return Refusal{ErrorCode::kWrongLength,
                   absl::StrCat("round ", settings_.round, ": update from client ", m.client_id,
                                " has ", m.delta.size(), " floats, want ", settings_.model_size)};
  }
  if (m.num_examples == 0) return Refusal{ErrorCode::kBadWeight, "update trained on zero examples"};
  const size_t want_control = control_ != nullptr ? settings_.model_size : 0;
  if (m.control_delta.size() != want_control) {
    return Refusal{ErrorCode::kWrongLength,
                   absl::StrCat("round ", settings_.round, ": update from client ", m.client_id,
                                " has a ", m.control_delta.size(),
                                "-value control-variate change, want ", want_control,
                                want_control ? " (SCAFFOLD)" : " (not a SCAFFOLD round)")};
  }
  if (control_ != nullptr &&
      !aggregation::AllFinite(m.control_delta.data(), m.control_delta.size())) {
    return Refusal{ErrorCode::kNonFinite,
                   absl::StrCat("round ", settings_.round, ": update from client ", m.client_id,
                                ": control-variate change contains NaN or infinite values"),
                   /*drop=*/true};
  }
  if (settings_.clip_norm > 0) {
    // Norm bounding does not trust the client to have clipped.
    aggregation::ClipNorm(absl::MakeSpan(m.delta), settings_.parameter_ranges,
                          settings_.clip_norm);
  }
  if (settings_.dp != nullptr) {
    if (!aggregation::AllFinite(m.delta.data(), m.delta.size())) {
      return Refusal{ErrorCode::kNonFinite,
                     absl::StrCat("round ", settings_.round, ": update from client ", m.client_id,
                                  " contains NaN or infinite values"),
                     /*drop=*/true};
    }
    settings_.dp->ClipUpdate(absl::MakeSpan(m.delta));
  }
  // Under DP each client counts once: its weight is not bounded otherwise.
  const double weight = settings_.dp != nullptr ? 1.0 : static_cast<double>(m.num_examples);
  absl::Status s = aggregator_->Add(m.delta, weight);
  if (!s.ok()) {
    // A client that sends garbage is not waited for.
    return Refusal{ErrorCode::kNonFinite,
                   absl::StrCat("round ", settings_.round, ": update from client ", m.client_id,
                                ": ", s.message()),
                   /*drop=*/true};
  }
  if (control_ != nullptr) {
    // Finite and of the right size (checked above), so this cannot fail.
    control_->Add(m.control_delta, 1.0).IgnoreError();
  }
  if (std::isfinite(m.metrics.loss)) {
    train_loss_sum_ += static_cast<double>(m.metrics.loss) * weight;
    train_loss_weight_ += weight;
  }
  return std::nullopt;
}

std::optional<Refusal> PlainRound::OnSecAgg(const std::string&, secure::SecAggClientMessage&&) {
  return Refusal{ErrorCode::kMalformed,
                 absl::StrCat("round ", settings_.round, " does not use secure aggregation")};
}

Round::Frames PlainRound::Advance(absl::Time now, const CohortProgress& cohort) {
  if (outcome_ != Outcome::kRunning) return {};
  const bool deadline = now >= settings_.deadline;
  // Over-selected: the first `target` updates are enough.
  if (!deadline && cohort.pending > 0 && cohort.reported < settings_.target) return {};
  if (cohort.reported >= settings_.quorum) {
    outcome_ = Outcome::kCompleted;
  } else {
    outcome_ = Outcome::kFailed;
    failure_ = deadline ? absl::StrCat("deadline passed with ", cohort.reported, " of ",
                                       settings_.quorum, " updates needed")
                        : absl::StrCat("cohort shrank to ", cohort.reported,
                                       " updates, below the quorum of ", settings_.quorum);
  }
  return {};
}

absl::StatusOr<std::vector<std::string>> PlainRound::Finish(absl::Span<float> delta,
                                                            RoundReport* report) {
  report->aggregated = static_cast<uint32_t>(aggregator_->count());
  report->total_weight = aggregator_->total_weight();
  // NaN when no update carried a loss (local DP devices send none).
  report->train_loss =
      train_loss_weight_ > 0 ? train_loss_sum_ / train_loss_weight_ : std::nan("");
  absl::Status s = aggregator_->Finish(delta);
  report->buffered_bytes = aggregator_->buffered_bytes();
  if (!s.ok()) return s;
  return std::vector<std::string>{};  // reporters were never pending
}

absl::Status PlainRound::ControlDelta(absl::Span<float> mean) const {
  if (control_ == nullptr) return Round::ControlDelta(mean);
  return control_->Finish(mean);
}

}  // namespace fedge::coordinator
