#ifndef FEDGE_COORDINATOR_ROUND_OUTPUTS_H_
#define FEDGE_COORDINATOR_ROUND_OUTPUTS_H_

// What fedge-coordinator does at the end of every round: the checkpoint
// (--state_dir), then the round's JSON line (--metrics_out) and its line on
// stdout. Both the checkpoint and the metrics file carry the same line, so a
// resumed coordinator re-appends exactly what the crashed one wrote
// (ResumeMetricsLog), the process figures (rss_kb, open_fds) included.
//
// Not thread-safe: the coordinator's thread calls them.

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "coordinator/checkpoint.h"
#include "coordinator/coordinator.h"
#include "coordinator/coordinator_server.h"
#include "coordinator/round_report.h"

namespace fedge::coordinator {

// The round's line on stdout: "round   3/10  clients  10  test_acc ..." (or,
// once rounds failed, "round   5 (4/10 completed)  ..."), or why it failed.
std::string RoundLine(const RoundReport& report, uint64_t rounds);

// Appends a JSON line per round to `metrics_path` (if not empty) and prints a
// line per round on stdout (unless `quiet`).
class ReportPrinter final : public RoundObserver {
 public:
  ReportPrinter(std::string metrics_path, uint64_t rounds, bool quiet)
      : path_(std::move(metrics_path)), rounds_(rounds), quiet_(quiet) {}

  // The round's metrics line: RoundReportJson with this process's RSS and
  // open descriptors (base/process_stats.h), measured at the first call for
  // that round; later calls for the same round return the same line.
  const std::string& MetricsLine(const RoundReport& report);

  // Lines in the metrics file so far (the checkpoints' metrics cursor).
  uint64_t lines_written() const { return lines_; }
  void set_lines_written(uint64_t lines) { lines_ = lines; }

  void OnRoundEnd(const RoundReport& report) override;
  // A ProgressLine shares the terminal: each round's line first erases it.
  void set_erase_progress(bool erase) { erase_progress_ = erase; }

 private:
  bool erase_progress_ = false;
  std::string path_;
  uint64_t rounds_;
  bool quiet_;
  uint64_t lines_ = 0;
  std::optional<uint64_t> line_round_;  // the round the process figures belong to
  int64_t rss_kb_ = -1;
  int64_t open_fds_ = -1;
  std::string line_;
};

// fedge-coordinator --progress: on a terminal, one line that updates in place
// while a round runs (inputs in / cohort, elapsed, time to the deadline); the
// round's own line (ReportPrinter, set_erase_progress) replaces it.
class ProgressLine final : public LoopHook {
 public:
  ProgressLine(uint64_t rounds, std::FILE* out) : rounds_(rounds), out_(out) {}
  int wake_fd() const override { return -1; }
  void OnLoop(Coordinator& coordinator, absl::Time now) override;

 private:
  const uint64_t rounds_;
  std::FILE* const out_;
  std::string shown_;
  absl::Time shown_at_ = absl::InfinitePast();
};

// Writes a checkpoint at the end of every round, before the round's metrics
// line (coordinator/checkpoint.h explains the ordering). `store` and
// `printer` must outlive it. Testing only: with `kill_after_round` the
// process SIGKILLs itself right after that round's checkpoint is durable
// (fedge-coordinator --inject_fault=kill_after_checkpoint:K).
class CheckpointWriter final : public CheckpointSink {
 public:
  CheckpointWriter(CheckpointStore* store, ReportPrinter* printer,
                   std::optional<uint64_t> kill_after_round = std::nullopt)
      : store_(store), printer_(printer), kill_after_round_(kill_after_round) {}
  absl::Status Save(const CoordinatorSnapshot& snapshot, const RoundReport& report,
                    absl::Span<const RoundReport> unpublished) override;

 private:
  CheckpointStore* store_;
  ReportPrinter* printer_;
  std::optional<uint64_t> kill_after_round_;
};

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_ROUND_OUTPUTS_H_
