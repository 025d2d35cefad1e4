#ifndef FEDGE_BASE_FILE_SYSTEM_H_
#define FEDGE_BASE_FILE_SYSTEM_H_

// The FileSystem seam: exactly the operations a crash-safe store needs, so a
// test can replace the disk with a fake that fails or "loses power" at any
// chosen operation (tests/testing/fake_file_system.h).
//
// Durability contract (what callers may rely on, and what the fake enforces):
//   * bytes appended to a file are durable only after WritableFile::Sync;
//   * creating, renaming or removing a directory entry is durable only after
//     SyncDir on that directory;
//   * Rename within one directory is atomic: a reader (and a crash) sees the
//     old or the new binding, never a mix.
//
// Errors are absl::Status naming the operation and the path
// ("fsync /data/model-7.fms.tmp: Input/output error"): NotFound when a path
// does not exist, PermissionDenied, ResourceExhausted (disk full, file over
// the read limit), Internal for other system errors.

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fedge {

// A file open for writing. Not thread-safe. Destroying it without Close
// closes the descriptor and drops any error.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends `data` at the end of the file.
  virtual absl::Status Append(absl::string_view data) = 0;
  // Makes everything appended so far durable (fsync).
  virtual absl::Status Sync() = 0;
  // Closes the file; later calls fail with FailedPrecondition.
  virtual absl::Status Close() = 0;
};

// Implementations are thread-safe unless they say otherwise.
class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Creates `path` empty (truncating an existing file) with permissions
  // `mode` (also when it existed: a stale temporary never keeps a wider mode)
  // and opens it for writing. Does not follow a symbolic link at `path`.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                                        mode_t mode) = 0;
  // Renames `from` to `to`, replacing `to` if it exists.
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  // Makes the entries of directory `dir` durable (fsync of the directory).
  virtual absl::Status SyncDir(const std::string& dir) = 0;
  // Reads a whole file; ResourceExhausted, before reading, when it is larger
  // than `max_bytes`.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes) = 0;
  // The names (not paths) in `dir`, without "." and "..", in no given order.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  // Removes the file `path`.
  virtual absl::Status Remove(const std::string& path) = 0;
  // Creates directory `dir` and any missing parents; OK if it exists.
  virtual absl::Status CreateDir(const std::string& dir) = 0;
};

// Steps 1 and 2 of a durable write, the one copy every store uses: `bytes`
// go to `tmp`, which is fsynced and closed, then renamed over `path`; no crash
// can leave a partial file under `path`. On any failure `tmp` is removed (best
// effort) and `path` keeps its old contents. The new binding is durable only
// after the caller's SyncDir of the directory (step 3), which stays with the
// caller: stores differ in what a failed SyncDir means for the new file.
// `tmp` is created with `mode`, so `path` ends up with it.
absl::Status WriteAndRename(FileSystem& fs, const std::string& tmp, const std::string& path,
                            absl::string_view bytes, mode_t mode = 0644);

// All three steps, for a writer with nothing to undo when the last fails:
// WriteAndRename through `path`.tmp, then SyncDir of `path`'s directory.
// OK means `path` holds `bytes` durably.
absl::Status WriteFileDurably(FileSystem& fs, const std::string& path, absl::string_view bytes,
                              mode_t mode = 0644);

// The real file system through POSIX calls. Stateless and thread-safe.
class PosixFileSystem final : public FileSystem {
 public:
  // The process-wide instance. Never destroyed.
  static PosixFileSystem* Default();

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                                mode_t mode) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status SyncDir(const std::string& dir) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes) override;
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override;
  absl::Status Remove(const std::string& path) override;
  absl::Status CreateDir(const std::string& dir) override;
};

}  // namespace fedge

#endif  // FEDGE_BASE_FILE_SYSTEM_H_
