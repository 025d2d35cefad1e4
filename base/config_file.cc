#include "base/config_file.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"

ABSL_FLAG(std::string, config, "",
          "Read settings from this file before the command line (docs/config-file.md, "
          "example docs/coordinator.conf): one per line, `name = value` or `--name=value`, "
          "with the values the command line takes; `#` starts a comment (at the start of a "
          "line or after whitespace); a boolean alone (`quiet`) means true, `noquiet` false. "
          "Only this program's own flags (those --help lists), each at most once, and not "
          "--config itself. Flags on the command line override the file. An unknown setting, a "
          "bad value or an unreadable file is a usage error (exit 2) naming FILE:LINE");

namespace fedge {
namespace {

constexpr size_t kMaxConfigBytes = size_t{1} << 20;
constexpr size_t kMaxReportedErrors = 20;
constexpr absl::string_view kConfigFlag = "config";

// The line without its comment: a '#' at its start or after a space or tab
// starts one; a '#' inside a word (a path "a#b") does not.
absl::string_view StripComment(absl::string_view line) {
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
      return line.substr(0, i);
    }
  }
  return line;
}

bool IsNameChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; }

bool IsValidName(absl::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), IsNameChar);
}

bool IsQuoted(absl::string_view value) {
  return value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
         value.back() == value.front();
}

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

bool IsSettable(const absl::CommandLineFlag& flag, const OwnFlagFilePredicate& is_own) {
  return !flag.IsRetired() && flag.Name() != kConfigFlag && is_own(flag.Filename());
}

// The settable flag closest to the misspelt `name` (at most two edits away;
// the alphabetically first of equals), or "" when none is that close.
std::string Suggest(absl::string_view name, const OwnFlagFilePredicate& is_own) {
  std::string best;
  size_t best_distance = 3;
  for (const auto& [flag_name, flag] : absl::GetAllFlags()) {
    if (!IsSettable(*flag, is_own)) continue;
    const size_t d = EditDistance(name, flag_name);
    if (d < best_distance || (d == best_distance && !best.empty() && flag_name < best)) {
      best = std::string(flag_name);
      best_distance = d;
    }
  }
  return best_distance < name.size() ? best : std::string();
}

// One `name = value` line, parsed but not yet checked against the flags.
struct Line {
  std::string name;  // without leading dashes
  std::optional<std::string> value;  // nullopt: the name alone
};

// The line's setting, nullopt for a blank or comment line, or an error
// (without the FILE:LINE prefix).
absl::StatusOr<std::optional<Line>> ParseLine(absl::string_view raw) {
  absl::string_view text = absl::StripAsciiWhitespace(StripComment(raw));
  if (text.empty()) return std::optional<Line>();
  Line line;
  absl::string_view name = text;
  if (const size_t eq = text.find('='); eq != absl::string_view::npos) {
    name = absl::StripAsciiWhitespace(text.substr(0, eq));
    line.value = std::string(absl::StripAsciiWhitespace(text.substr(eq + 1)));
  }
  if (!absl::ConsumePrefix(&name, "--")) absl::ConsumePrefix(&name, "-");
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' has no setting name; write name = value"));
  }
  if (!IsValidName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", name, "' is not a setting name (letters, digits and '_'); write name = value"));
  }
  line.name = std::string(name);
  return std::optional<Line>(std::move(line));
}

// What a file's settings do to the flags, kept until the whole file checked
// out: on any error every flag set so far goes back to its earlier value.
class FlagChanges {
 public:
  FlagChanges() = default;
  FlagChanges(const FlagChanges&) = delete;
  FlagChanges& operator=(const FlagChanges&) = delete;

  // Sets `flag` to `value` through its own parser; absl's message on failure.
  bool Set(absl::CommandLineFlag& flag, absl::string_view value, std::string* error) {
    std::string before = flag.CurrentValue();
    if (!flag.ParseFrom(value, error)) return false;
    undo_.emplace_back(&flag, std::move(before));
    return true;
  }

  void UndoAll() {
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
      std::string ignored;
      // CurrentValue() parses back to the same value (absl checks the
      // round trip of every flag type it accepts).
      it->first->ParseFrom(it->second, &ignored);
    }
    undo_.clear();
  }

 private:
  std::vector<std::pair<absl::CommandLineFlag*, std::string>> undo_;
};

// The flag `line` names (`quiet` for `noquiet`) and the value to give it, or
// why the line cannot set it.
absl::StatusOr<std::pair<absl::CommandLineFlag*, std::string>> Resolve(
    const Line& line, absl::string_view program, const OwnFlagFilePredicate& is_own) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(line.name);
  bool negated = false;
  if (flag == nullptr && absl::StartsWith(line.name, "no")) {
    absl::CommandLineFlag* positive = absl::FindCommandLineFlag(line.name.substr(2));
    if (positive != nullptr && positive->IsOfType<bool>()) {
      if (line.value.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat(line.name, " takes no value; write ", positive->Name(), " = ",
                         *line.value));
      }
      flag = positive;
      negated = true;
    }
  }
  const std::string hint = absl::StrCat(" (", program, " --help lists the settings)");
  if (flag == nullptr || flag->IsRetired()) {
    const std::string suggestion = Suggest(line.name, is_own);
    return absl::InvalidArgumentError(
        absl::StrCat("unknown setting '", line.name, "'",
                     suggestion.empty() ? "" : absl::StrCat("; did you mean '", suggestion, "'?"),
                     hint));
  }
  if (flag->Name() == kConfigFlag) {
    return absl::InvalidArgumentError(
        "config: a config file cannot load another one; give all settings in one file");
  }
  if (!is_own(flag->Filename())) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", flag->Name(), "' is not a setting of ", program, hint));
  }
  if (!line.value.has_value()) {
    if (!flag->IsOfType<bool>()) {
      return absl::InvalidArgumentError(
          absl::StrCat(line.name, " needs a value; write ", line.name, " = VALUE"));
    }
    return std::make_pair(flag, std::string(negated ? "false" : "true"));
  }
  if (IsQuoted(*line.value)) {
    return absl::InvalidArgumentError(absl::StrCat(
        line.name, " = ", *line.value, ": values are taken literally, without quotes; write ",
        line.name, " = ", line.value->substr(1, line.value->size() - 2)));
  }
  return std::make_pair(flag, *line.value);
}

}  // namespace

absl::Status ApplyConfigText(absl::string_view text, absl::string_view file_name,
                             absl::string_view program, const OwnFlagFilePredicate& is_own) {
  std::vector<std::string> errors;
  size_t error_count = 0;
  auto fail = [&](size_t line_number, absl::string_view message) {
    if (++error_count <= kMaxReportedErrors) {
      errors.push_back(absl::StrCat(file_name, ":", line_number, ": ", message));
    }
  };
  FlagChanges changes;
  std::map<std::string, size_t> first_line;  // by flag name
  size_t line_number = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_number;
    absl::ConsumeSuffix(&raw, "\r");
    absl::StatusOr<std::optional<Line>> line = ParseLine(raw);
    if (!line.ok()) {
      fail(line_number, line.status().message());
      continue;
    }
    if (!line->has_value()) continue;
    absl::StatusOr<std::pair<absl::CommandLineFlag*, std::string>> setting =
        Resolve(**line, program, is_own);
    if (!setting.ok()) {
      fail(line_number, setting.status().message());
      continue;
    }
    auto [flag, value] = *std::move(setting);
    const std::string name(flag->Name());
    if (auto [it, fresh] = first_line.emplace(name, line_number); !fresh) {
      fail(line_number, absl::StrCat(name, " is set twice (first on line ", it->second,
                                     "); keep one"));
      continue;
    }
    std::string error;
    if (!changes.Set(*flag, value, &error)) {
      fail(line_number, absl::StrCat((*line)->name, " = ", value, ": ", error));
    }
  }
  if (error_count == 0) return absl::OkStatus();
  changes.UndoAll();
  if (error_count == 1) return absl::InvalidArgumentError(errors.front());
  std::string message = absl::StrCat(file_name, " has ", error_count, " errors:\n  ",
                                     absl::StrJoin(errors, "\n  "));
  if (error_count > errors.size()) {
    absl::StrAppend(&message, "\n  ... and ", error_count - errors.size(), " more");
  }
  return absl::InvalidArgumentError(message);
}

absl::Status ApplyConfigFile(const std::string& path, absl::string_view program,
                             const OwnFlagFilePredicate& is_own) {
  absl::StatusOr<std::string> text = ReadFile(path, kMaxConfigBytes);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read: ", text.status().message()));
  }
  return ApplyConfigText(*text, path, program, is_own);
}

absl::Status LoadConfigFromArgs(int argc, char** argv, const OwnFlagFilePredicate& is_own) {
  std::optional<std::string> path;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (!absl::ConsumePrefix(&arg, "--") && !absl::ConsumePrefix(&arg, "-")) continue;
    std::string value;
    if (arg == kConfigFlag) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError("--config needs a file: --config=FILE");
      }
      value = argv[++i];
    } else if (absl::ConsumePrefix(&arg, "config=")) {
      value = std::string(arg);
    } else {
      continue;
    }
    if (path.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("--config is given twice ('", *path,
                                                     "' and '", value,
                                                     "'); put the settings in one file"));
    }
    path = std::move(value);
  }
  if (!path.has_value() || path->empty()) return absl::OkStatus();
  absl::string_view program = argc > 0 && argv[0] != nullptr ? argv[0] : "this program";
  if (const size_t slash = program.rfind('/'); slash != absl::string_view::npos) {
    program.remove_prefix(slash + 1);
  }
  return ApplyConfigFile(*path, program, is_own);
}

}  // namespace fedge
