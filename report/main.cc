// fedge-report: PNG plots and a markdown summary of one or more fedge-sim
// runs, overlaid so runs with different flags can be compared.

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "report/report.h"

namespace fedge::report {
namespace {

constexpr char kUsage[] =
    "usage: fedge-report [--out=DIR] [--size=WxH] [--gnuplot=PATH] RUN_DIR [RUN_DIR...]\n"
    "\n"
    "Plots and summarises fedge-sim runs (each RUN_DIR is a fedge-sim --out directory) with\n"
    "gnuplot (Debian: apt-get install gnuplot-nox). Writes into --out:\n"
    "  report.md          a table per run (rounds, final and best accuracy, round time,\n"
    "                     bytes, flags) and links to the plots\n"
    "  accuracy.png       test accuracy per round (dashed: federated evaluation)\n"
    "  loss.png           test (solid) and training (dashed) loss per round\n"
    "  accuracy_time.png  test accuracy against the sum of the round times\n"
    "  bytes.png          MB up (solid) and down (dashed) per round\n"
    "  round_time.png     seconds per round\n"
    "  plots.gp, run-N.dat  gnuplot's input: edit and rerun `gnuplot plots.gp` there\n"
    "Several runs share each plot; the legend names the flags that differ between them\n"
    "(from RUN_DIR/flags.txt, which fedge-sim writes), else the directory names.\n"
    "\n"
    "flags:\n"
    "  --out=DIR       where to write (default: the first RUN_DIR's report/)\n"
    "  --size=WxH      size of every PNG in pixels (default 800x500)\n"
    "  --gnuplot=PATH  the gnuplot to run (default: gnuplot on PATH)\n"
    "\n"
    "exit codes: 0 written; 1 a run's files do not parse, or gnuplot is missing or failed;\n"
    "2 usage errors (bad flags, no RUN_DIR, a RUN_DIR without metrics.jsonl)\n";

struct Args {
  std::vector<std::string> run_dirs;
  ReportOptions options;
  bool help = false;
};

bool ParseSize(absl::string_view v, ReportOptions* o) {
  std::vector<absl::string_view> wh = absl::StrSplit(v, 'x');
  return wh.size() == 2 && absl::SimpleAtoi(wh[0], &o->width) &&
         absl::SimpleAtoi(wh[1], &o->height);
}

// Returns false (having said why) on a usage error.
bool Parse(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      args->help = true;
      continue;
    }
    if (!absl::StartsWith(a, "-")) {
      args->run_dirs.emplace_back(a);
      continue;
    }
    // --name=value, or --name value.
    const char* flag = argv[i];
    absl::string_view name = a, value;
    const size_t eq = a.find('=');
    if (eq != absl::string_view::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    }
    if (name == "--out" && !value.empty()) {
      args->options.out = std::string(value);
    } else if (name == "--gnuplot" && !value.empty()) {
      args->options.gnuplot = std::string(value);
    } else if (name == "--size" && ParseSize(value, &args->options)) {
    } else {
      std::fprintf(stderr, "fedge-report: bad flag %s (fedge-report --help lists them)\n", flag);
      return false;
    }
  }
  return true;
}

int Main(int argc, char** argv) {
  Args args;
  if (!Parse(argc, argv, &args)) return 2;
  if (args.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (args.run_dirs.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (args.options.out.empty()) {
    args.options.out = std::string(absl::StripSuffix(args.run_dirs[0], "/")) + "/report";
  }
  absl::StatusOr<ReportResult> r = WriteReport(args.run_dirs, args.options);
  if (!r.ok()) {
    std::fprintf(stderr, "fedge-report: %s\n", std::string(r.status().message()).c_str());
    return absl::IsInvalidArgument(r.status()) || absl::IsNotFound(r.status()) ? 2 : 1;
  }
  if (!r->gnuplot_warnings.empty()) {
    std::fprintf(stderr, "fedge-report: gnuplot warned:\n%s\n", r->gnuplot_warnings.c_str());
  }
  std::printf("wrote %s and %zu plots\n", r->markdown.c_str(), r->images.size());
  return 0;
}

}  // namespace
}  // namespace fedge::report

int main(int argc, char** argv) { return fedge::report::Main(argc, argv); }
