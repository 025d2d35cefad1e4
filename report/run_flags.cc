#include "report/run_flags.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace fedge::report {
namespace {

constexpr absl::string_view kCommandLinePrefix = "# command line: ";

// Flags that name where a run wrote, not how it ran: they differ between any
// two runs and would crowd out what does.
bool IgnoredInLegend(absl::string_view name) { return name == "out" || name == "report"; }

std::string Quote(absl::string_view arg) {
  if (!arg.empty() && arg.find_first_of(" \t'\"\\$`") == absl::string_view::npos) {
    return std::string(arg);
  }
  // POSIX single quotes: only ' itself needs care.
  return absl::StrCat("'", absl::StrReplaceAll(arg, {{"'", "'\\''"}}), "'");
}

}  // namespace

std::vector<std::pair<std::string, std::string>> CurrentFlagValues(
    const std::function<bool(absl::string_view)>& is_run_flag) {
  std::vector<std::pair<std::string, std::string>> values;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!is_run_flag(flag->Filename())) continue;
    values.emplace_back(std::string(name), flag->CurrentValue());
  }
  std::sort(values.begin(), values.end());
  return values;
}

std::string CommandLine(int argc, char** argv) {
  std::vector<std::string> parts;
  for (int i = 0; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (i == 0) a = a.substr(a.rfind('/') + 1);  // npos + 1 == 0
    parts.push_back(Quote(a));
  }
  return absl::StrJoin(parts, " ");
}

std::string FormatRunFlags(const RunFlags& flags) {
  std::string out =
      "# The run's flags with their effective values; `fedge-sim --flagfile=THIS_FILE` "
      "repeats it.\n";
  if (!flags.command_line.empty()) {
    // One line: a newline inside an argument would end the comment early.
    absl::StrAppend(&out, kCommandLinePrefix,
                    absl::StrReplaceAll(flags.command_line, {{"\n", " "}}), "\n");
  }
  for (const auto& [name, value] : flags.values) {
    absl::StrAppend(&out, "--", name, "=", value, "\n");
  }
  return out;
}

absl::StatusOr<RunFlags> ParseRunFlags(absl::string_view text, absl::string_view where) {
  RunFlags flags;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (flags.command_line.empty() && absl::ConsumePrefix(&line, kCommandLinePrefix)) {
        flags.command_line = std::string(line);
      }
      continue;
    }
    const size_t eq = line.find('=');
    if (!absl::ConsumePrefix(&line, "--") || eq == absl::string_view::npos || eq == 2) {
      return absl::InvalidArgumentError(absl::StrCat(where, " line ", line_no,
                                                     ": want --name=value or a # comment, got '",
                                                     line.substr(0, 60), "'"));
    }
    flags.values.emplace_back(std::string(line.substr(0, eq - 2)),
                              std::string(line.substr(eq - 1)));
  }
  return flags;
}

std::vector<std::string> Legends(const std::vector<const RunFlags*>& flags,
                                 const std::vector<std::string>& fallback, size_t max_chars) {
  // Every flag's value per run that has flags ("unset" where it lacks one).
  std::map<std::string, std::vector<std::string>> by_name;
  std::vector<size_t> with_flags;
  for (size_t i = 0; i < flags.size(); ++i) {
    if (flags[i] != nullptr) with_flags.push_back(i);
  }
  for (size_t k = 0; k < with_flags.size(); ++k) {
    for (const auto& [name, value] : flags[with_flags[k]]->values) {
      if (IgnoredInLegend(name)) continue;
      std::vector<std::string>& v = by_name[name];
      v.resize(with_flags.size(), "unset");
      v[k] = value;
    }
  }
  std::vector<std::string> legends(flags.size());
  for (auto& [name, values] : by_name) {
    values.resize(with_flags.size(), "unset");
    if (std::set<std::string>(values.begin(), values.end()).size() < 2) continue;
    for (size_t k = 0; k < with_flags.size(); ++k) {
      std::string& l = legends[with_flags[k]];
      absl::StrAppend(&l, l.empty() ? "" : ", ", name, "=", values[k]);
    }
  }
  for (size_t i = 0; i < legends.size(); ++i) {
    if (legends[i].empty()) legends[i] = fallback[i];
    if (legends[i].size() > max_chars) legends[i] = legends[i].substr(0, max_chars - 3) + "...";
  }
  // Cut entries, or runs that share both flags and directory names, could
  // collide; a plot whose lines share a title cannot be read.
  std::set<std::string> seen;
  for (size_t i = 0; i < legends.size(); ++i) {
    if (seen.insert(legends[i]).second) continue;
    legends[i] = absl::StrCat(legends[i], " (run ", i + 1, ")");
    seen.insert(legends[i]);
  }
  return legends;
}

}  // namespace fedge::report
