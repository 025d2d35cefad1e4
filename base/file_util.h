#ifndef FEDGE_BASE_FILE_UTIL_H_
#define FEDGE_BASE_FILE_UTIL_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fedge {

// Reads a whole file. NotFound if it does not exist; DataLoss on read errors;
// FailedPrecondition if it is larger than `max_bytes`.
absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     size_t max_bytes = size_t{1} << 31);

// Crash-safe replace: writes `path`.tmp, fsyncs it, renames it over `path` and
// fsyncs the directory, so a reader sees either the old or the new content.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// Appends one line (a trailing '\n' is added) and flushes it to the kernel.
absl::Status AppendLine(const std::string& path, absl::string_view line);

// mkdir -p.
absl::Status MakeDirs(const std::string& path);

// Directory of the running executable (to find sibling binaries and plugins).
std::string ExecutableDir();

}  // namespace fedge

#endif  // FEDGE_BASE_FILE_UTIL_H_
