#ifndef FEDGE_TESTS_TESTING_FAKE_FILE_SYSTEM_H_
#define FEDGE_TESTS_TESTING_FAKE_FILE_SYSTEM_H_

// An in-memory FileSystem that fails or loses power at a chosen operation,
// and enforces the durability contract of base/file_system.h at the crash:
//
//   * each file has "durable" contents (as of its last Sync) and current
//     contents; at a power loss a file with unsynced changes keeps only what
//     the CrashLoss policy lets through (nothing, everything, everything with
//     the unsynced bytes zeroed, or a random prefix);
//   * creating, renaming and removing entries are recorded per directory and
//     become durable at SyncDir of that directory; at a power loss a prefix
//     of each directory's unsynced changes survives (journaling file systems
//     commit metadata in order), so an un-fsynced rename may be undone.
//     Rename stays atomic.
//
// Simplifications: directories themselves are durable as soon as created;
// Rename only within one directory (Unimplemented otherwise).
//
// Operations are numbered from 0 in call order: every FileSystem and
// WritableFile method call is one. Thread-safe.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "base/file_system.h"

namespace fedge::testing {

// What survives of changes that were not made durable when power is lost.
enum class CrashLoss {
  kLoseAll,   // nothing unsynced survives
  kKeepAll,   // everything reached the disk anyway
  kZeroTail,  // all directory changes survive; unsynced bytes read as zeros
  kRandom,    // random prefixes of data and of directory changes
};

class FakeFileSystem final : public FileSystem {
 public:
  explicit FakeFileSystem(uint64_t seed = 1) : rng_(seed) {}

  // How many operations have been issued (the number the next one gets).
  int64_t operation_count() const;
  // Operation number `op` returns `error` and has no effect.
  void FailOperation(int64_t op, absl::Status error);
  // Power is lost as operation number `op` starts: it and every later
  // operation return Unavailable and have no effect, until PowerCycle.
  void CrashAtOperation(int64_t op);
  bool crashed() const;
  // Loses power (now, unless a scheduled crash already happened) and
  // reboots: the disk keeps what was durable plus what `loss` lets through;
  // open files become unusable; scheduled faults are cleared.
  void PowerCycle(CrashLoss loss);

  // Back doors for tests; not operations, no faults.
  std::optional<std::string> Contents(const std::string& path) const;
  // Writes `path` durably (creating its directory).
  void SetContents(const std::string& path, std::string data);
  // Every file, sorted.
  std::vector<std::string> Paths() const;

  // FileSystem.
  // Modes are not modelled: the file is created as PosixFileSystem would,
  // without permissions to check.
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                                mode_t mode) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status SyncDir(const std::string& dir) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes) override;
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override;
  absl::Status Remove(const std::string& path) override;
  absl::Status CreateDir(const std::string& dir) override;

 private:
  class File;
  friend class File;
  struct Node {
    std::string durable;  // contents as of the last Sync
    std::string data;     // current contents
  };
  using NodePtr = std::shared_ptr<Node>;
  using Namespace = std::map<std::string, NodePtr>;  // path -> file
  struct DirOp {
    enum Kind { kLink, kUnlink, kRename } kind;
    std::string path;  // kRename: the source
    std::string to;    // kRename only
    NodePtr node;      // kLink, kRename
  };

  // Counts an operation and applies scheduled faults: OK to go ahead.
  absl::Status BeginOp(absl::string_view what, const std::string& path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Apply(const DirOp& op, Namespace* ns);
  std::string Survivor(const Node& node, CrashLoss loss) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  int64_t ops_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t crash_at_ ABSL_GUARDED_BY(mu_) = -1;
  bool crashed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // bumped by PowerCycle
  std::map<int64_t, absl::Status> failures_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> dirs_ ABSL_GUARDED_BY(mu_);
  Namespace live_ ABSL_GUARDED_BY(mu_);     // what is visible now
  Namespace durable_ ABSL_GUARDED_BY(mu_);  // what a power loss cannot undo
  std::map<std::string, std::vector<DirOp>> pending_ ABSL_GUARDED_BY(mu_);  // by directory
};

}  // namespace fedge::testing

#endif  // FEDGE_TESTS_TESTING_FAKE_FILE_SYSTEM_H_
