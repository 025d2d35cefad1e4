#ifndef FEDGE_REPORT_RUN_FLAGS_H_
#define FEDGE_REPORT_RUN_FLAGS_H_

// A run's flags, recorded by fedge-sim in OUT/flags.txt and read back by
// fedge-report to label runs by what sets them apart.
//
// flags.txt is an Abseil flagfile: comment lines start with '#', every other
// line is `--name=value` with the flag's effective value (defaults included),
// so `fedge-sim --flagfile=OUT/flags.txt` repeats the run. The first comment
// line that starts with "# command line: " holds the command as typed.

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fedge::report {

struct RunFlags {
  std::string command_line;  // "" when not recorded
  // (name, value) in file order; names without the leading "--".
  std::vector<std::pair<std::string, std::string>> values;
};

// The effective value of every registered flag whose defining file satisfies
// `is_run_flag(filename)`, sorted by name. Call after flag parsing.
std::vector<std::pair<std::string, std::string>> CurrentFlagValues(
    const std::function<bool(absl::string_view)>& is_run_flag);

// argv as one shell-like line: argv[0] by its base name, arguments holding
// spaces or quotes in single quotes.
std::string CommandLine(int argc, char** argv);

// The text of a flags.txt.
std::string FormatRunFlags(const RunFlags& flags);

// Parses a flags.txt; `where` (its path) prefixes errors, InvalidArgument
// naming the line that is neither a comment nor `--name=value`.
absl::StatusOr<RunFlags> ParseRunFlags(absl::string_view text, absl::string_view where);

// One legend entry per run: the `name=value` pairs of the flags whose values
// differ between the runs that have flags (a flag a run lacks counts as
// "unset"), ignoring --out and --report, which say where, not what. A run
// without flags, or with nothing that sets it apart, is labelled by
// `fallback[i]` (its directory's name). Entries are cut to `max_chars` and
// made unique. REQUIRES: flags.size() == fallback.size().
std::vector<std::string> Legends(const std::vector<const RunFlags*>& flags,
                                 const std::vector<std::string>& fallback, size_t max_chars = 80);

}  // namespace fedge::report

#endif  // FEDGE_REPORT_RUN_FLAGS_H_
