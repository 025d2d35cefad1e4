#ifndef FEDGE_DATA_CSV_H_
#define FEDGE_DATA_CSV_H_

// Numeric CSV files with a header line: every column is a number; the
// columns named as targets become the targets (in the order given), the
// others the features, in file order. Comma-separated, optional spaces
// around values, "\n" or "\r\n" line ends, an optional final newline; no
// quoting (a quoted field is refused with its line and column). Empty lines
// are errors, not skipped: a lost value must not shift a row.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "data/dataset.h"

namespace fedge::data {

inline constexpr uint64_t kMaxCsvBytes = uint64_t{1} << 30;
inline constexpr size_t kMaxCsvColumns = 1 << 16;

// Parses `text`. Features become float32 storage with example_shape {F};
// targets have target_shape {} for one target column, {T} for T. Errors
// (InvalidArgument) start with `what` and name the line and column: a
// missing target column (listing the header), a non-numeric value, a row
// with too few or too many fields, a duplicate column name. "nan" and "inf"
// parse as such; CheckFitsTask refuses them before training.
absl::StatusOr<Dataset> ParseCsv(std::string_view text, const std::vector<std::string>& target_columns,
                                 const std::string& what);

// Reads and parses `path` (errors name it). NotFound when it cannot be read;
// FailedPrecondition, before reading, when it is over kMaxCsvBytes.
absl::StatusOr<Dataset> ReadCsv(const std::string& path,
                                const std::vector<std::string>& target_columns);

}  // namespace fedge::data

#endif  // FEDGE_DATA_CSV_H_
