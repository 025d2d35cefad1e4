#ifndef FEDGE_REPORT_GNUPLOT_H_
#define FEDGE_REPORT_GNUPLOT_H_

// Line plots as gnuplot scripts, and running gnuplot (Debian: gnuplot-nox,
// whose pngcairo terminal writes the PNGs) on them.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace fedge::report {

// One line of a plot: columns of a whitespace-separated data file (1-based,
// "NaN" where a value is missing; gnuplot skips those points).
struct PlotLine {
  std::string data_file;  // relative to the directory gnuplot runs in
  int x_column = 1;
  int y_column = 2;
  std::string title;  // the legend entry; "" for none
  int color = 1;      // gnuplot's line colour index: one per run
  bool dashed = false;
};

struct Plot {
  std::string png;  // output file name, relative like data_file
  std::string title, x_label, y_label;
  int x_tic_step = 0;  // 0: gnuplot chooses (use 1+ for round numbers)
  bool x_from_zero = false;
  bool y_from_zero = false;
  std::vector<PlotLine> lines;
};

// A script writing each plot to its PNG with `terminal` ("pngcairo" or
// "png") at `width` x `height` pixels. Legend text is taken literally
// (noenhanced: flag names hold underscores).
std::string GnuplotScript(const std::vector<Plot>& plots, absl::string_view terminal, int width,
                          int height);

// The first executable "gnuplot" in the ':'-separated directories of
// `path_env` (the PATH variable's form). FailedPrecondition telling to
// install gnuplot-nox when there is none.
absl::StatusOr<std::string> FindGnuplot(absl::string_view path_env);

// Runs `gnuplot` (a path) on `dir`/`script` with `dir` as its working
// directory, through an argv (no shell). Returns what it printed on stderr
// (warnings) when it exits 0; Internal with its exit status and stderr when
// it does not, DeadlineExceeded (it is killed) after `timeout`.
absl::StatusOr<std::string> RunGnuplot(const std::string& gnuplot, const std::string& dir,
                                       const std::string& script,
                                       absl::Duration timeout = absl::Seconds(60));

}  // namespace fedge::report

#endif  // FEDGE_REPORT_GNUPLOT_H_
