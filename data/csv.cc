#include "data/csv.h"

#include <algorithm>
#include <unordered_map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/status_macros.h"

namespace fedge::data {
namespace {

// Values and names quoted in messages are cut here: a line of a 1 GB file
// may be one huge field.
constexpr size_t kMaxQuoted = 40;
// Columns listed when a target column is missing.
constexpr size_t kMaxListed = 30;

// This Abseil's string_view is its own class, not std::string_view.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Quote(std::string_view s) {
  if (s.size() <= kMaxQuoted) return absl::StrCat("'", Absl(s), "'");
  return absl::StrCat("'", Absl(s.substr(0, kMaxQuoted)), "...'");
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The lines of a text, "\n" or "\r\n" ended, numbered from 1; a final line
// end does not start another (empty) line.
class Lines {
 public:
  explicit Lines(std::string_view text) : text_(text) {}

  bool Next(std::string_view* line) {
    if (pos_ >= text_.size()) return false;
    size_t end = text_.find('\n', pos_);
    if (end == std::string_view::npos) end = text_.size();
    *line = text_.substr(pos_, end - pos_);
    if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
    pos_ = end + 1;
    ++number_;
    return true;
  }

  int64_t number() const { return number_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int64_t number_ = 0;
};

// Where each column goes.
struct Columns {
  std::vector<std::string> names;
  std::unordered_map<std::string, size_t> index;  // name -> column
  std::vector<int64_t> target_slot;  // per column: -1 for a feature, else its target index
  size_t num_features = 0;
  size_t num_targets = 0;
};

std::string ListColumns(const std::vector<std::string>& names) {
  std::string list;
  for (size_t i = 0; i < names.size() && i < kMaxListed; ++i) {
    absl::StrAppend(&list, i ? ", " : "", Quote(names[i]));
  }
  if (names.size() > kMaxListed) absl::StrAppend(&list, ", ... (", names.size(), " in all)");
  return list;
}

absl::StatusOr<Columns> ParseHeader(std::string_view line, const std::string& what) {
  const size_t fields = static_cast<size_t>(std::count(line.begin(), line.end(), ',')) + 1;
  if (fields > kMaxCsvColumns) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": line 1 has ", fields,
                                                   " columns, over the limit of ", kMaxCsvColumns));
  }
  Columns c;
  while (true) {
    const size_t comma = line.find(',');
    const std::string_view name = Trim(line.substr(0, comma));
    const size_t column = c.names.size();
    if (!name.empty() && name.front() == '"') {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": line 1, column ", column + 1, ": quoted fields are not supported"));
    }
    if (name.empty()) {
      // pandas' to_csv writes its row index under an empty name.
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": line 1, column ", column + 1,
                       ": the column has no name (a pandas index? save with index=False)"));
    }
    auto [it, inserted] = c.index.emplace(std::string(name), column);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": line 1: column name ", Quote(name),
                                                     " appears twice (columns ", it->second + 1,
                                                     " and ", column + 1, ")"));
    }
    c.names.emplace_back(name);
    if (comma == std::string_view::npos) break;
    line.remove_prefix(comma + 1);
  }
  return c;
}

absl::Status MapTargets(const std::vector<std::string>& target_columns, const std::string& what,
                        Columns& c) {
  if (target_columns.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": no target column was requested"));
  }
  c.target_slot.assign(c.names.size(), -1);
  for (size_t t = 0; t < target_columns.size(); ++t) {
    auto it = c.index.find(target_columns[t]);
    if (it == c.index.end()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": no target column ",
                                                     Quote(target_columns[t]),
                                                     " (columns: ", ListColumns(c.names), ")"));
    }
    int64_t& slot = c.target_slot[it->second];
    if (slot >= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": target column ", Quote(target_columns[t]), " is requested twice"));
    }
    slot = static_cast<int64_t>(t);
  }
  c.num_targets = target_columns.size();
  c.num_features = c.names.size() - c.num_targets;
  if (c.num_features == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": every column is a target; no feature columns are left"));
  }
  return absl::OkStatus();
}

// Appends one data line's values to `out`.
absl::Status ParseRow(std::string_view line, int64_t number, const Columns& c,
                      const std::string& what, Dataset& out) {
  const size_t fields = static_cast<size_t>(std::count(line.begin(), line.end(), ',')) + 1;
  if (line.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": line ", number, " is empty (empty lines are not skipped)"));
  }
  if (fields != c.names.size()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": line ", number, " has ", fields,
                                                   " fields, want ", c.names.size(),
                                                   " (the header's columns)"));
  }
  const size_t targets_at = out.targets.size();
  out.targets.resize(targets_at + c.num_targets);
  for (size_t column = 0; column < fields; ++column) {
    const size_t comma = line.find(',');
    const std::string_view field = Trim(line.substr(0, comma));
    line.remove_prefix(comma == std::string_view::npos ? line.size() : comma + 1);
    auto error = [&](absl::string_view problem) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": line ", number, ", column ",
                                                     Quote(c.names[column]), ": ", problem));
    };
    if (field.empty()) return error("empty value");
    if (field.front() == '"') return error("quoted fields are not supported");
    float value;
    // SimpleAtof takes the whole field or fails; it reads "nan" and "inf"
    // (refused later, by CheckFitsTask), C's hex floats ("0x1p3"), and
    // saturates out-of-range values to +-inf.
    if (!absl::SimpleAtof(Absl(field), &value)) {
      return error(absl::StrCat(Quote(field), " is not a number"));
    }
    if (c.target_slot[column] < 0) {
      out.features.push_back(value);
    } else {
      out.targets[targets_at + static_cast<size_t>(c.target_slot[column])] = value;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Dataset> ParseCsv(std::string_view text,
                                 const std::vector<std::string>& target_columns,
                                 const std::string& what) {
  // Excel's "CSV UTF-8" starts the file with a byte order mark.
  static constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (text.substr(0, kBom.size()) == kBom) text.remove_prefix(kBom.size());
  Lines lines(text);
  std::string_view line;
  if (!lines.Next(&line)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": the file is empty (want a header line)"));
  }
  if (line.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": line 1 is empty (want the header line)"));
  }
  FEDGE_ASSIGN_OR_RETURN(Columns columns, ParseHeader(line, what));
  FEDGE_RETURN_IF_ERROR(MapTargets(target_columns, what, columns));

  Dataset data;
  data.storage = Storage::kFloat32;
  data.example_shape = {static_cast<int64_t>(columns.num_features)};
  if (columns.num_targets > 1) data.target_shape = {static_cast<int64_t>(columns.num_targets)};
  // One reservation, not a doubling per growth: at most one row per line,
  // and a row of n columns takes at least 2n bytes with its line end.
  const size_t rows = std::min(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')),
                               text.size() / (2 * columns.names.size()));
  data.features.reserve(rows * columns.num_features);
  data.targets.reserve(rows * columns.num_targets);
  while (lines.Next(&line)) {
    FEDGE_RETURN_IF_ERROR(ParseRow(line, lines.number(), columns, what, data));
  }
  if (data.targets.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": no examples (only a header line)"));
  }
  return data;
}

absl::StatusOr<Dataset> ReadCsv(const std::string& path,
                                const std::vector<std::string>& target_columns) {
  absl::StatusOr<std::string> text = ReadFile(path, kMaxCsvBytes);
  if (text.status().code() == absl::StatusCode::kFailedPrecondition) return text.status();
  if (!text.ok()) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read (", text.status().message(), ")"));
  }
  return ParseCsv(*text, target_columns, path);
}

}  // namespace fedge::data
