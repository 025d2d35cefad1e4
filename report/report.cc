#include "report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "report/gnuplot.h"

namespace fedge::report {
namespace {

// Columns of run-N.dat (1-based, as gnuplot counts).
enum Column {
  kRound = 1,
  kElapsed,
  kTestAccuracy,
  kTestLoss,
  kTrainLoss,
  kRoundSeconds,
  kMbUp,
  kMbDown,
  kFedAccuracy,
  kColumns = kFedAccuracy,
};

double Value(const Run& run, size_t i, int column) {
  const sim::RoundRow& r = run.rows[i];
  // A failed round's model is not the one measured (and its training loss
  // is written as 0 when no update came): only time and bytes count.
  if (!r.completed && column != kRound && column != kElapsed && column != kRoundSeconds &&
      column != kMbUp && column != kMbDown) {
    return NAN;
  }
  switch (column) {
    case kRound:
      return static_cast<double>(r.round);
    case kElapsed:
      return run.elapsed_seconds[i];
    case kTestAccuracy:
      return r.test_accuracy;
    case kTestLoss:
      return r.test_loss;
    case kTrainLoss:
      return r.train_loss;
    case kRoundSeconds:
      return r.round_seconds;
    case kMbUp:
      return static_cast<double>(r.bytes_up) / 1e6;
    case kMbDown:
      return static_cast<double>(r.bytes_down) / 1e6;
    case kFedAccuracy:
      return r.fed_accuracy;
  }
  return NAN;
}

std::string DataFile(const Run& run) {
  std::string out =
      "# round elapsed_s test_accuracy test_loss train_loss round_s mb_up mb_down "
      "fed_accuracy\n";
  for (size_t i = 0; i < run.rows.size(); ++i) {
    for (int c = 1; c <= kColumns; ++c) {
      const double v = Value(run, i, c);
      absl::StrAppend(&out, c == 1 ? "" : " ",
                      std::isfinite(v) ? absl::StrFormat("%.6g", v) : "NaN");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

bool AnyFinite(const Run& run, int column) {
  for (size_t i = 0; i < run.rows.size(); ++i) {
    if (std::isfinite(Value(run, i, column))) return true;
  }
  return false;
}

struct Series {
  int x, y;
  bool dashed;
  // After the run's legend; a dashed companion of a solid line has no
  // legend entry of its own (the plot's title says what dashes mean), so
  // the key keeps one entry per run.
  bool titled;
  std::string suffix;
};

struct PlotKind {
  std::string png, title, x_label, y_label;
  bool x_is_round;
  bool y_from_zero;  // quantities, not scores: where zero is matters
  std::vector<Series> series;
};

std::vector<PlotKind> Kinds() {
  return {
      {"accuracy.png",
       "Test accuracy per round",
       "round",
       "accuracy",
       true,
       false,
       {{kRound, kTestAccuracy, false, true, ""},
        {kRound, kFedAccuracy, true, true, " (federated)"}}},
      {"loss.png",
       "Loss per round (solid: test, dashed: training)",
       "round",
       "loss",
       true,
       false,
       {{kRound, kTestLoss, false, true, ""}, {kRound, kTrainLoss, true, false, ""}}},
      {"accuracy_time.png",
       "Test accuracy against time (sum of round times)",
       "seconds",
       "accuracy",
       false,
       false,
       {{kElapsed, kTestAccuracy, false, true, ""}}},
      {"bytes.png",
       "Bytes per round (solid: up, dashed: down)",
       "round",
       "MB",
       true,
       true,
       {{kRound, kMbUp, false, true, ""}, {kRound, kMbDown, true, false, ""}}},
      {"round_time.png",
       "Round time",
       "round",
       "seconds",
       true,
       true,
       {{kRound, kRoundSeconds, false, true, ""}}},
  };
}

std::string DataName(size_t i) { return absl::StrCat("run-", i + 1, ".dat"); }

// The plots with a line for each (run, series) that has a value; a plot
// without any is dropped with a note.
std::vector<Plot> MakePlots(const std::vector<Run>& runs, const std::vector<std::string>& legends,
                            std::vector<std::string>* notes) {
  int64_t max_round = 1;
  for (const Run& r : runs) {
    for (const sim::RoundRow& row : r.rows) max_round = std::max(max_round, row.round);
  }
  // About ten labelled ticks at most, on whole rounds.
  const int round_step = static_cast<int>(std::max<int64_t>(1, (max_round + 9) / 10));
  std::vector<Plot> plots;
  for (const PlotKind& k : Kinds()) {
    Plot p;
    p.png = k.png;
    p.title = k.title;
    p.x_label = k.x_label;
    p.y_label = k.y_label;
    p.x_tic_step = k.x_is_round ? round_step : 0;
    p.x_from_zero = !k.x_is_round;  // time from zero: the first round's share shows
    p.y_from_zero = k.y_from_zero;
    for (size_t i = 0; i < runs.size(); ++i) {
      for (const Series& s : k.series) {
        if (!AnyFinite(runs[i], s.y)) continue;
        p.lines.push_back({DataName(i), s.x, s.y, s.titled ? legends[i] + s.suffix : "",
                           static_cast<int>(i % 8) + 1, s.dashed});
      }
    }
    if (p.lines.empty()) {
      notes->push_back(absl::StrCat(
          "No ", k.png, ": no completed round of any run has its ", k.y_label,
          k.y_label == "accuracy"
              ? " (without --test_data, or with a regression task, there is no test accuracy)."
              : "."));
      continue;
    }
    plots.push_back(std::move(p));
  }
  return plots;
}

absl::Status Draw(const ReportOptions& options, const std::vector<Plot>& plots,
                  const std::string& gnuplot, std::string* warnings) {
  // Debian's gnuplot-nox has pngcairo (antialiased); other builds may have
  // only the libgd "png" terminal.
  for (const char* terminal : {"pngcairo", "png"}) {
    FEDGE_RETURN_IF_ERROR(WriteFileAtomically(
        options.out + "/plots.gp", GnuplotScript(plots, terminal, options.width, options.height)));
    absl::StatusOr<std::string> ran = RunGnuplot(gnuplot, options.out, "plots.gp");
    if (ran.ok()) {
      *warnings = *ran;
      return absl::OkStatus();
    }
    if (!absl::StrContains(ran.status().message(), "unknown or ambiguous terminal")) {
      return ran.status();
    }
  }
  return absl::InternalError(
      absl::StrCat(gnuplot, " has neither the pngcairo nor the png terminal"));
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& PlotNames() {
  static const auto* names = [] {
    auto* v = new std::vector<std::pair<std::string, std::string>>;
    for (const PlotKind& k : Kinds()) v->emplace_back(k.png, k.title);
    return v;
  }();
  return *names;
}

absl::StatusOr<ReportResult> WriteReport(const std::vector<std::string>& run_dirs,
                                         const ReportOptions& options) {
  if (run_dirs.empty()) return absl::InvalidArgumentError("no run directory given");
  if (options.width < 100 || options.height < 100 || options.width > 10000 ||
      options.height > 10000) {
    return absl::InvalidArgumentError(absl::StrCat("plot size ", options.width, "x", options.height,
                                                   ": want 100 to 10000 pixels"));
  }
  std::vector<Run> runs;
  for (const std::string& dir : run_dirs) {
    FEDGE_ASSIGN_OR_RETURN(Run run, LoadRun(dir));
    runs.push_back(std::move(run));
  }
  std::string gnuplot = options.gnuplot;
  if (gnuplot.empty()) {
    const char* path = std::getenv("PATH");
    FEDGE_ASSIGN_OR_RETURN(gnuplot, FindGnuplot(path ? path : ""));
  }
  std::vector<const RunFlags*> flags;
  std::vector<std::string> names;
  for (const Run& r : runs) {
    flags.push_back(r.flags ? &*r.flags : nullptr);
    names.push_back(r.name);
  }
  const std::vector<std::string> legends = Legends(flags, names);

  FEDGE_RETURN_IF_ERROR(MakeDirs(options.out));
  for (size_t i = 0; i < runs.size(); ++i) {
    FEDGE_RETURN_IF_ERROR(
        WriteFileAtomically(absl::StrCat(options.out, "/", DataName(i)), DataFile(runs[i])));
  }
  ReportResult result;
  std::vector<std::string> notes;
  const std::vector<Plot> plots = MakePlots(runs, legends, &notes);
  std::vector<std::pair<std::string, std::string>> images;
  // Every plot of an earlier report goes, so none outlives its data.
  for (const auto& [png, title] : PlotNames())
    ::unlink(absl::StrCat(options.out, "/", png).c_str());
  if (!plots.empty()) {
    FEDGE_RETURN_IF_ERROR(Draw(options, plots, gnuplot, &result.gnuplot_warnings));
    for (const Plot& p : plots) {
      const std::string path = absl::StrCat(options.out, "/", p.png);
      // Old PNGs were removed above: one that is missing now was not drawn.
      if (!StatFile(path).ok()) {
        return absl::InternalError(absl::StrCat("gnuplot exited 0 but wrote no ", path,
                                                "; it said: ", result.gnuplot_warnings));
      }
      result.images.push_back(path);
      images.emplace_back(p.png, p.title);
    }
  }
  result.markdown = options.out + "/report.md";
  FEDGE_RETURN_IF_ERROR(
      WriteFileAtomically(result.markdown, Markdown(runs, legends, images, notes)));
  return result;
}

}  // namespace fedge::report
