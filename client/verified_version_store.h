#ifndef FEDGE_CLIENT_VERIFIED_VERSION_STORE_H_
#define FEDGE_CLIENT_VERIFIED_VERSION_STORE_H_

// Keeps, across restarts, the highest model version each logical client of a
// device has verified, so a restarted fedge-client still refuses a replayed
// older (correctly signed) model as a rollback (client/model_gate.h).
//
// One file per logical client id, `verified-version-<id>` in the state
// directory, so processes hosting disjoint ids may share a directory. The
// file is 60 bytes, all integers little-endian:
//
//   offset  size  field
//        0     8  magic "FEDGEVV\0"
//        8     4  format version (kVerifiedVersionFormatVersion)
//       12     8  logical client id (must match the file name)
//       20     8  highest verified model version
//       28    32  SHA-256 of bytes [0, 28)
//
// Crash safety: a new value is written to `<file>.tmp`, fsynced, renamed over
// the file and the directory fsynced; Raise returns OK only after that, so an
// acknowledged value survives any crash, and a crash before leaves the old
// file intact (a stale .tmp is overwritten by the next Raise).
//
// A file that exists but does not decode (truncated, bit rot, another id's
// file) is an error at Open, never silently treated as "no record": that
// would accept rollbacks. The operator removes the file to start afresh.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/file_system.h"
#include "client/client_host.h"

namespace fedge::client {

inline constexpr char kVerifiedVersionMagic[8] = {'F', 'E', 'D', 'G', 'E', 'V', 'V', '\0'};
inline constexpr uint32_t kVerifiedVersionFormatVersion = 1;
inline constexpr size_t kVerifiedVersionFileSize = 60;
// Files are read only up to this size; anything larger is refused unread.
inline constexpr size_t kMaxVerifiedVersionFileBytes = 4096;

struct VerifiedVersionRecord {
  uint64_t client_id = 0;
  uint64_t model_version = 0;
};

// The complete file for `record`.
std::string EncodeVerifiedVersionFile(const VerifiedVersionRecord& record);

// Parses and checks a whole file. Never crashes, allocates nothing sized by
// the input. Errors name the offset of the bad field:
//   ResourceExhausted   larger than kMaxVerifiedVersionFileBytes;
//   FailedPrecondition  a format version this build does not read;
//   DataLoss            wrong size, bad magic, checksum mismatch.
absl::StatusOr<VerifiedVersionRecord> DecodeVerifiedVersionFile(absl::string_view bytes);

// Not thread-safe: fedge-client opens it before the client host runs and then
// calls Raise only from the host's I/O thread (ClientHostOptions::on_model).
class VerifiedVersionStore {
 public:
  // `verified-version-<id>`.
  static std::string FileName(uint64_t client_id);

  // Opens the store in `dir` (created if missing) for the logical clients
  // `client_ids` and reads each one's file; a missing file means "no record".
  // `fs` must outlive the store. Errors: InvalidArgument for no ids; the file
  // system's error if the directory cannot be created or a file read;
  // DataLoss / FailedPrecondition / ResourceExhausted naming the path when a
  // file exists but is corrupt, truncated, of another format version, too
  // large, or records another client id.
  static absl::StatusOr<std::unique_ptr<VerifiedVersionStore>> Open(
      std::string dir, const std::vector<uint64_t>& client_ids, FileSystem* fs);

  // The rollback floor for a host serving all the store's clients at once
  // (they share one ModelGate): the lowest recorded version among the ids
  // that have a record, so no client is refused a version it would accept on
  // its own; nullopt if none has a record. Ids without a record (newly added
  // to this host) do not lower it.
  std::optional<uint64_t> Floor() const;

  // The recorded version of `client_id`; nullopt if none (or not hosted).
  std::optional<uint64_t> Recorded(uint64_t client_id) const;

  // Durably records `version` for every hosted client whose record is lower
  // (or missing); a no-op for the others. On a write error the in-memory
  // record of that client keeps its durable value (the next Raise retries)
  // and the first error is returned after trying every client.
  absl::Status Raise(uint64_t version);

 private:
  VerifiedVersionStore(std::string dir, FileSystem* fs) : dir_(std::move(dir)), fs_(fs) {}
  std::string PathOf(uint64_t client_id) const;
  absl::Status Write(uint64_t client_id, uint64_t version);

  const std::string dir_;
  FileSystem* const fs_;
  std::map<uint64_t, std::optional<uint64_t>> recorded_;  // every hosted id
};

// Wires `store` into a client host's options: held_model_version is raised to
// store->Floor() (the host's ModelGate refuses older versions from its first
// task on), and on_model (any callback already set still runs, first) raises
// the store with every verified model, on the host's I/O thread, before the
// model is trained. A failed write is logged as an error and retried at the
// next verified model; the in-memory floor still protects the running
// process. Only for persistent hosts: a check-in host announces
// held_model_version in its Hello as a model it holds. `store` must outlive
// the host.
void PersistVerifiedVersions(VerifiedVersionStore* store, ClientHostOptions* options);

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_VERIFIED_VERSION_STORE_H_
