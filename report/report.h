#ifndef FEDGE_REPORT_REPORT_H_
#define FEDGE_REPORT_REPORT_H_

// fedge-report's work: reads run directories (fedge-sim --out), writes PNG
// plots with gnuplot and a markdown summary that links them.
//
// Into `out`: report.md; accuracy.png (test accuracy per round),
// loss.png (test and training loss per round), accuracy_time.png (test
// accuracy against the run's cumulative round time), bytes.png (MB up and down
// per round), round_time.png (seconds per round); the inputs gnuplot drew
// them from (plots.gp, run-N.dat), so a plot can be restyled by hand. Several
// runs share each plot, one colour per run, labelled by the flags that differ
// between them (Legends in run_flags.h). A plot no run has data for is left
// out and report.md says why.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "report/run_data.h"

namespace fedge::report {

struct ReportOptions {
  std::string out;  // created if missing
  int width = 800;  // of every PNG, in pixels
  int height = 500;
  std::string gnuplot;  // its path; "" looks it up in $PATH
};

struct ReportResult {
  std::string markdown;             // path of report.md
  std::vector<std::string> images;  // paths of the PNGs written
  std::string gnuplot_warnings;     // what gnuplot printed while succeeding
};

// The plot names and titles WriteReport draws, in order (file, title).
const std::vector<std::pair<std::string, std::string>>& PlotNames();

// Errors: InvalidArgument for no runs or a bad size; as LoadRun for a run
// directory (NotFound, DataLoss naming file and line); FailedPrecondition
// when gnuplot is missing (nothing is written then); Internal when gnuplot
// fails (with its stderr) or writes no PNG.
absl::StatusOr<ReportResult> WriteReport(const std::vector<std::string>& run_dirs,
                                         const ReportOptions& options);

// report.md's text for `runs` labelled `legends`, linking `images` (file
// names in the same directory) and listing `notes`.
std::string Markdown(const std::vector<Run>& runs, const std::vector<std::string>& legends,
                     const std::vector<std::pair<std::string, std::string>>& images,
                     const std::vector<std::string>& notes);

}  // namespace fedge::report

#endif  // FEDGE_REPORT_REPORT_H_
