#include "coordinator/round_outputs.h"

#include <algorithm>

#include <signal.h>

#include <cstdio>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "base/file_util.h"
#include "base/log.h"
#include "base/process_stats.h"
#include "base/status_macros.h"

namespace fedge::coordinator {

const std::string& ReportPrinter::MetricsLine(const RoundReport& report) {
  if (line_round_ != report.round) {
    // Measured once per round: the checkpoint written before the metrics
    // line must hold the same figures, or a resumed run would rewrite them.
    const ProcessStats process = ReadProcessStats();
    rss_kb_ = process.rss_kb;
    open_fds_ = process.open_fds;
    line_round_ = report.round;
  }
  // Formatted each time: an async round's report gains its evaluation after
  // its checkpoint was written (coordinator.h).
  RoundReport with_process = report;
  with_process.rss_kb = rss_kb_;
  with_process.open_fds = open_fds_;
  line_ = RoundReportJson(with_process);
  return line_;
}

std::string RoundLine(const RoundReport& r, uint64_t rounds) {
  std::string line;
  if (r.completed) {
    // Round ids count failed rounds too; the model version counts the
    // completed ones. "round 5/4" would read as a bug.
    line = r.round == r.model_version
               ? absl::StrFormat("round %3d/%d  ", r.round, rounds)
               : absl::StrFormat("round %3d (%d/%d completed)  ", r.round, r.model_version, rounds);
    absl::StrAppendFormat(&line, "clients %3d  ", r.aggregated);
    if (r.evaluated && r.eval.has_accuracy) {
      absl::StrAppendFormat(&line, "test_acc %.4f  test_loss %.4f  ", r.eval.accuracy,
                            r.eval.loss);
    } else if (r.evaluated) {
      absl::StrAppendFormat(&line, "test_mse %.4f  test_mae %.4f  ", r.eval.mse, r.eval.mae);
    }
    if (r.federated.has_value() && r.federated->clients > 0) {
      absl::StrAppendFormat(&line, "fed(%d) %s %.4f  fed_loss %.4f  ", r.federated->clients,
                            r.federated->has_accuracy ? "acc" : "mse",
                            r.federated->has_accuracy ? r.federated->accuracy : r.federated->mse,
                            r.federated->loss);
    }
    if (r.evaluated) {
      if (r.eval.backdoor_success.has_value()) {
        absl::StrAppendFormat(&line, "backdoor %.4f  ", *r.eval.backdoor_success);
      }
    }
    if (r.privacy.has_value()) {
      absl::StrAppendFormat(&line, "eps %.3f  clip %.3g  ", r.privacy->epsilon, r.privacy->clip);
    }
    if (r.async.has_value()) {
      absl::StrAppendFormat(&line, "staleness %.1f (max %d)  ", r.async->staleness_mean,
                            r.async->staleness_max);
    }
    absl::StrAppendFormat(&line, "%6.2fs  up %.2f MB  down %.2f MB", r.seconds,
                          r.bytes_up / 1e6, r.bytes_down / 1e6);
  } else {
    line = absl::StrFormat("round %3d FAILED after %.2fs: %s", r.round, r.seconds, r.failure);
  }
  return line;
}

void ReportPrinter::OnRoundEnd(const RoundReport& r) {
  if (!path_.empty()) {
    absl::Status s = AppendLine(path_, MetricsLine(r));
    if (!s.ok()) FEDGE_LOG(kError, "cannot write metrics: %s", s.ToString());
    ++lines_;
  }
  if (quiet_) return;
  const std::string line = RoundLine(r, rounds_);
  std::printf("%s%s\n", erase_progress_ ? "\r\033[K" : "", line.c_str());
  std::fflush(stdout);
}

void ProgressLine::OnLoop(Coordinator& c, absl::Time now) {
  std::string text;
  if (c.phase() == Coordinator::Phase::kTraining) {
    text = absl::StrFormat("round %3d/%d  %d/%d updates in  %.0fs, deadline in %.0fs",
                           c.completed_rounds() + 1, rounds_, c.inputs_accepted(), c.cohort_size(),
                           absl::ToDoubleSeconds(now - c.round_start()),
                           std::max(0.0, absl::ToDoubleSeconds(c.round_deadline() - now)));
  } else if (c.phase() == Coordinator::Phase::kServerEvaluating ||
             c.phase() == Coordinator::Phase::kEvaluating) {
    text = absl::StrFormat("round %3d/%d  evaluating", c.completed_rounds() + 1, rounds_);
  } else if (c.paused() && c.phase() == Coordinator::Phase::kWaitingForClients) {
    text = absl::StrFormat("paused after round %d (fedge-ctl resume)", c.round());
  }
  // At most 4 redraws a second; the seconds counters change once a second.
  if (text == shown_ || now - shown_at_ < absl::Milliseconds(250)) return;
  std::fprintf(out_, "\r\033[K%s", text.c_str());
  std::fflush(out_);
  shown_ = std::move(text);
  shown_at_ = now;
}

absl::Status CheckpointWriter::Save(const CoordinatorSnapshot& snapshot,
                                    const RoundReport& report,
                                    absl::Span<const RoundReport> unpublished) {
  const absl::Time start = absl::Now();
  // Lines the metrics file lacks after its cursor, in order: a resumed run
  // writes them all (ResumeMetricsLog).
  std::string lines;
  for (const RoundReport& r : unpublished) {
    absl::StrAppend(&lines, printer_->MetricsLine(r), "\n");
  }
  lines += printer_->MetricsLine(report);
  Checkpoint c{snapshot, printer_->lines_written(), std::move(lines)};
  FEDGE_ASSIGN_OR_RETURN(size_t bytes, store_->Write(c));
  FEDGE_LOG(kDebug, "checkpoint of round %d (model version %d): %d bytes in %.1f ms",
            snapshot.round, snapshot.model_version, bytes,
            absl::ToDoubleMilliseconds(absl::Now() - start));
  if (kill_after_round_ == snapshot.round) {
    FEDGE_LOG(kWarning, "--inject_fault: SIGKILL after the checkpoint of round %d",
              snapshot.round);
    ::raise(SIGKILL);
  }
  return absl::OkStatus();
}

}  // namespace fedge::coordinator
