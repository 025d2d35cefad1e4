// report.md: a table per run and the plots, readable as plain text and
// rendered by any markdown viewer (the images are relative links).

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "report/report.h"

namespace fedge::report {
namespace {

std::string Fixed(double v, int digits) {
  return std::isfinite(v) ? absl::StrFormat("%.*f", digits, v) : "-";
}

// Inside a table cell a '|' would start the next cell.
std::string Cell(absl::string_view s) { return absl::StrReplaceAll(s, {{"|", "\\|"}}); }

// Inside `code`: a backtick would end it.
std::string Code(absl::string_view s) {
  return absl::StrCat("`", absl::StrReplaceAll(s, {{"`", "'"}}), "`");
}

std::string RunRow(size_t i, const Run& r, const std::string& legend) {
  const sim::Summary& s = r.summary;
  const std::string best = std::isfinite(s.best_accuracy)
                               ? absl::StrFormat("%.4f (%d)", s.best_accuracy, s.best_round)
                               : "-";
  const double rounds = static_cast<double>(std::max<size_t>(1, r.rows.size()));
  return absl::StrFormat(
      "| %d | %s | %s | %d/%d | %s | %s | %s | %s | %s | %.2f / %.2f | %.1f / %.1f |\n", i + 1,
      Code(r.dir), Cell(legend), s.completed_rounds, r.rows.size(), Fixed(s.final_accuracy, 4),
      best, Fixed(s.final_loss, 4), s.completed_rounds > 0 ? Fixed(s.mean_round_seconds, 2) : "-",
      Fixed(r.total_seconds, 1), static_cast<double>(r.total_bytes_up) / rounds / 1e6,
      static_cast<double>(r.total_bytes_down) / rounds / 1e6,
      static_cast<double>(r.total_bytes_up) / 1e6, static_cast<double>(r.total_bytes_down) / 1e6);
}

}  // namespace

std::string Markdown(const std::vector<Run>& runs, const std::vector<std::string>& legends,
                     const std::vector<std::pair<std::string, std::string>>& images,
                     const std::vector<std::string>& notes) {
  std::string out = absl::StrFormat(
      "# fedge run report\n\n"
      "%d run%s, from each run's metrics.jsonl. Rounds: completed/recorded; accuracy and loss are "
      "the server-side test figures of the last completed round; time is the sum of the round "
      "times the coordinator measured (the processes' start-up before round 1 not included); MB "
      "per round are means over every recorded round.\n\n"
      "| # | run | legend | rounds | final accuracy | best accuracy (round) | final loss | "
      "mean round s (completed) | time s | MB per round up / down | total MB up / down |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n",
      runs.size(), runs.size() == 1 ? "" : "s");
  for (size_t i = 0; i < runs.size(); ++i) absl::StrAppend(&out, RunRow(i, runs[i], legends[i]));

  absl::StrAppend(&out, "\n## Flags\n\n");
  for (size_t i = 0; i < runs.size(); ++i) {
    const Run& r = runs[i];
    absl::StrAppend(&out, "- ", i + 1, ": ");
    if (!r.flags) {
      absl::StrAppend(&out, "no flags.txt in ", Code(r.dir), "\n");
    } else if (r.flags->command_line.empty()) {
      absl::StrAppend(&out, Code(r.dir + "/flags.txt"), " (no command line recorded)\n");
    } else {
      absl::StrAppend(&out, Code(r.flags->command_line), "\n");
    }
  }
  for (size_t i = 0; i < runs.size(); ++i) {
    if (runs[i].rows.empty()) {
      absl::StrAppend(&out, "\nRun ", i + 1, " recorded no rounds.\n");
    }
  }

  if (!images.empty()) absl::StrAppend(&out, "\n## Plots\n");
  for (const auto& [file, title] : images) {
    absl::StrAppend(&out, "\n![", title, "](", file, ")\n");
  }
  if (!notes.empty()) absl::StrAppend(&out, "\n");
  for (const std::string& n : notes) absl::StrAppend(&out, n, "\n");
  return out;
}

}  // namespace fedge::report
