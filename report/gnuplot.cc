#include "report/gnuplot.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"
#include "simulations/subprocess.h"

namespace fedge::report {
namespace {

// A gnuplot single-quoted string: nothing is special inside but the quote,
// which is doubled.
std::string Quoted(absl::string_view s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "''"}}), "'");
}

void AppendPlot(const Plot& p, std::string* out) {
  absl::StrAppend(out, "\nset output ", Quoted(p.png), "\n");
  absl::StrAppend(out, "set title ", Quoted(p.title), "\n");
  absl::StrAppend(out, "set xlabel ", Quoted(p.x_label), "\n");
  absl::StrAppend(out, "set ylabel ", Quoted(p.y_label), "\n");
  if (p.x_tic_step > 0) {
    absl::StrAppend(out, "set xtics ", p.x_tic_step, "\n");
  } else {
    absl::StrAppend(out, "set xtics autofreq\n");
  }
  absl::StrAppend(out, "set xrange [", p.x_from_zero ? "0" : "*", ":*]\n");
  absl::StrAppend(out, "set yrange [", p.y_from_zero ? "0" : "*", ":*]\n");
  // Room above (and below, unless the axis starts at zero) autoscaled data,
  // so a flat line is not drawn on the border.
  absl::StrAppend(out, "set offsets 0, 0, graph 0.05, graph ", p.y_from_zero ? "0" : "0.05", "\n");
  absl::StrAppend(out, "plot ");
  for (size_t i = 0; i < p.lines.size(); ++i) {
    const PlotLine& l = p.lines[i];
    absl::StrAppendFormat(out,
                          "%s%s using %d:%d with linespoints pt 7 ps 0.5 lw 2 lc %d dt %d "
                          "%s",
                          i == 0 ? "" : ", \\\n     ", Quoted(l.data_file), l.x_column, l.y_column,
                          l.color, l.dashed ? 2 : 1,
                          l.title.empty() ? "notitle" : "title " + Quoted(l.title));
  }
  absl::StrAppend(out, "\nunset output\n");
}

}  // namespace

std::string GnuplotScript(const std::vector<Plot>& plots, absl::string_view terminal, int width,
                          int height) {
  std::string out = absl::StrFormat(
      "# Written by fedge-report; `gnuplot plots.gp` in this directory redraws the plots.\n"
      "set terminal %s size %d,%d noenhanced\n"
      "set datafile missing 'NaN'\n"
      "set grid\n"
      // Below the plot, sample then text: legends can be long.
      "set key below left Left reverse\n",
      terminal, width, height);
  for (const Plot& p : plots) AppendPlot(p, &out);
  return out;
}

absl::StatusOr<std::string> FindGnuplot(absl::string_view path_env) {
  for (absl::string_view dir : absl::StrSplit(path_env, ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(dir, "/gnuplot");
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return absl::FailedPreconditionError(
      "gnuplot is not installed (no executable gnuplot on PATH): install it with "
      "`apt-get install gnuplot-nox` (scripts/setup.sh does)");
}

absl::StatusOr<std::string> RunGnuplot(const std::string& gnuplot, const std::string& dir,
                                       const std::string& script, absl::Duration timeout) {
  // stderr to a file, not a pipe: nothing has to drain it while gnuplot runs.
  const std::string err_path = absl::StrCat(dir, "/gnuplot.err");
  const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (err_fd < 0) return absl::InternalError(absl::StrCat("cannot create ", err_path));
  // `cd` first so the script's relative file names resolve in `dir`; the
  // script itself stays free of absolute paths and can be rerun where it lies.
  absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(
      {gnuplot, "-e", absl::StrCat("cd ", Quoted(dir)), absl::StrCat(dir, "/", script)}, {}, -1, -1,
      err_fd);
  ::close(err_fd);
  if (!p.ok()) return p.status();
  std::optional<sim::ExitInfo> exit = p->Wait(timeout);
  if (!exit) {
    p->Kill(SIGKILL);
    p->Wait();
    return absl::DeadlineExceededError(absl::StrCat(gnuplot, " did not finish ", dir, "/", script,
                                                    " within ", absl::FormatDuration(timeout)));
  }
  absl::StatusOr<std::string> err = ReadFile(err_path, 1 << 20);
  ::unlink(err_path.c_str());
  std::string stderr_text = err.ok() ? std::string(absl::StripAsciiWhitespace(*err)) : "";
  if (!exit->ok()) {
    return absl::InternalError(absl::StrCat(gnuplot, " ", dir, "/", script, ": ", exit->ToString(),
                                            ": ",
                                            stderr_text.empty() ? "(no output)" : stderr_text));
  }
  return stderr_text;
}

}  // namespace fedge::report
