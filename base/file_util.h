#ifndef FEDGE_BASE_FILE_UTIL_H_
#define FEDGE_BASE_FILE_UTIL_H_

#include <sys/types.h>

#include <cstdint>
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
// The file gets exactly `mode` (the umask does not apply); pass 0600 for
// secrets: the mode is set before any byte is written, so no other user can
// open the temporary file in between.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 mode_t mode = 0644);

// Reads a whole file that must be private to its owner (a secret key): refused
// with PermissionDenied, naming the file and its mode, when the group or others
// have any access to it (mode & 077), and with FailedPrecondition when it is
// not a regular file. Otherwise as ReadFile. The mode is checked on the open
// descriptor, so the file cannot be swapped between the check and the read.
absl::StatusOr<std::string> ReadOwnerOnlyFile(const std::string& path,
                                              size_t max_bytes = size_t{1} << 20);

// What identifies a version of a file's contents cheaply: a replaced
// (renamed-over) file has a new inode; an edited one a new mtime or size.
struct FileStamp {
  uint64_t inode = 0;
  int64_t mtime_ns = 0;
  int64_t size = 0;
  bool operator==(const FileStamp& o) const {
    return inode == o.inode && mtime_ns == o.mtime_ns && size == o.size;
  }
  bool operator!=(const FileStamp& o) const { return !(*this == o); }
};
// NotFound if `path` does not exist; Internal on other stat failures.
absl::StatusOr<FileStamp> StatFile(const std::string& path);

// Appends one line (a trailing '\n' is added) and flushes it to the kernel.
absl::Status AppendLine(const std::string& path, absl::string_view line);

// mkdir -p.
absl::Status MakeDirs(const std::string& path);

// Directory of the running executable (to find sibling binaries and plugins).
std::string ExecutableDir();

}  // namespace fedge

#endif  // FEDGE_BASE_FILE_UTIL_H_
