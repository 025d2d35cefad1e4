#ifndef FEDGE_REPORT_RUN_DATA_H_
#define FEDGE_REPORT_RUN_DATA_H_

// One run directory (fedge-sim --out) as the report sees it: its rounds from
// metrics.jsonl, figures derived from them, and its recorded flags.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "report/run_flags.h"
#include "simulations/results.h"

namespace fedge::report {

struct Run {
  std::string dir;   // as given
  std::string name;  // the directory's last component
  std::vector<sim::RoundRow> rows;
  // Sum of round_seconds up to and including each row (failed rounds too):
  // metrics.jsonl has no clock times, and the time between rounds is only
  // the coordinator starting the next one, so this is the run's wall time
  // after start-up.
  std::vector<double> elapsed_seconds;
  std::optional<RunFlags> flags;  // from flags.txt, when the run has one
  sim::Summary summary;
  double total_seconds = 0;
  int64_t total_bytes_up = 0, total_bytes_down = 0;
};

// Reads `dir`/metrics.jsonl and, if present, `dir`/flags.txt.
// NotFound when `dir` or its metrics.jsonl does not exist; DataLoss naming
// the file and line when either file does not parse.
absl::StatusOr<Run> LoadRun(const std::string& dir);

}  // namespace fedge::report

#endif  // FEDGE_REPORT_RUN_DATA_H_
