#ifndef FEDGE_CLIENT_MODEL_STORE_H_
#define FEDGE_CLIENT_MODEL_STORE_H_

// The device's on-disk copy of the global model: lets a device run inference
// offline and keeps the last known good model across power loss at any
// instant. Versioned (model-<version>.fms in one directory, format in
// client/model_file.h), verified (a ModelVerifier checks every model before it
// is stored and again when it is loaded), refuses rollback, and keeps the
// newest `keep` good versions.
//
// Crash safety: a version is written to model-<v>.fms.tmp, fsynced, renamed
// into place and the directory fsynced; only then does Commit return OK, so
// an acknowledged version survives any crash. A crash earlier leaves either no
// file or a complete fsynced one; Open ignores anything that fails its checks
// and removes leftover temporary files. docs/model_store.md has the argument.
//
// Thread-safety: Commit calls are serialized; Current() may be called from any
// thread at any time (an inference thread) and never waits for disk I/O.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/file_system.h"
#include "protocol/model_payload.h"

namespace fedge::client {

// Decides whether a model may be trusted (e.g. checks the coordinator's
// signature). Implementations must be thread-safe.
class ModelVerifier {
 public:
  virtual ~ModelVerifier() = default;
  // OK when `payload` at `version` with `signature` is trusted; any error
  // (typically Unauthenticated) means it must never become current.
  virtual absl::Status Verify(uint64_t version, const protocol::ModelPayload& payload,
                              absl::Span<const uint8_t> signature) const = 0;
};

struct ModelStoreOptions {
  // How many good versions stay on disk (>= 1); older ones are removed after
  // each Commit. 2 keeps the previous version as a fallback for bit rot.
  size_t keep = 2;
  // Files larger than this are neither written nor read (a corrupt length
  // cannot make the store allocate more).
  size_t max_file_bytes = size_t{1} << 30;
};

// One stored model version, immutable once published.
struct StoredModel {
  uint64_t version = 0;
  protocol::ModelPayload payload;
  std::string signature;  // opaque to the store; empty if unsigned
};

class ModelStore {
 public:
  // Opens (creating if needed) the store in `dir`. Every model file is read
  // and checked (format, lengths, SHA-256, payload decoding, `verifier` if
  // not null); files that fail are skipped with a warning, so a corrupt
  // newest version falls back to the previous good one. Leftover temporary
  // files are removed. An empty or all-corrupt store opens empty. `fs` and
  // `verifier` must outlive the store; `verifier` may be null (trust all).
  // Errors: InvalidArgument for bad options; the file system's error if the
  // directory cannot be created or listed.
  static absl::StatusOr<std::unique_ptr<ModelStore>> Open(std::string dir, FileSystem* fs,
                                                          const ModelVerifier* verifier,
                                                          ModelStoreOptions options = {});

  // Verifies and durably stores `version`, which then becomes current. Errors:
  //   the verifier's error (e.g. Unauthenticated)  refused, nothing written;
  //   FailedPrecondition  `version` is older than the current one (rollback);
  //   AlreadyExists       `version` is current with different contents
  //                       (the same contents again are an OK no-op);
  //   ResourceExhausted   the file would exceed options.max_file_bytes;
  //   InvalidArgument     the signature exceeds kMaxModelSignatureBytes;
  //   the file system's error otherwise: the store removes what it wrote and
  //   the previous version stays current (after a crash the new version may
  //   or may not be there, but never in part).
  absl::Status Commit(uint64_t version, protocol::ModelPayload payload, std::string signature);

  // The newest good model, shared so a caller can keep using it while a
  // later Commit replaces it. NotFound when the store is empty.
  absl::StatusOr<std::shared_ptr<const StoredModel>> Current() const;

  // The good versions on disk, oldest first (for tests and diagnostics).
  std::vector<uint64_t> versions() const;
  const std::string& dir() const { return dir_; }

  // "model-<version>.fms".
  static std::string FileName(uint64_t version);

 private:
  ModelStore(std::string dir, FileSystem* fs, const ModelVerifier* verifier,
             ModelStoreOptions options)
      : dir_(std::move(dir)), fs_(fs), verifier_(verifier), options_(options) {}

  std::string PathOf(uint64_t version) const;
  // Scans the directory (Open).
  absl::Status Load();
  // Reads, decodes and verifies one file; `digest` gets its content digest.
  absl::StatusOr<StoredModel> LoadVersion(uint64_t version, std::string* digest) const;
  // tmp, fsync, rename, fsync dir; removes what it wrote on failure.
  absl::Status WriteVersion(uint64_t version, absl::string_view bytes);
  // Removes files older than the newest `keep` good versions.
  void RemoveOldVersions() ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);

  // Constant after construction.
  const std::string dir_;
  FileSystem* const fs_;
  const ModelVerifier* const verifier_;
  const ModelStoreOptions options_;

  // Serializes Commit; guards the on-disk bookkeeping.
  mutable absl::Mutex commit_mu_;
  std::set<uint64_t> good_ ABSL_GUARDED_BY(commit_mu_);   // verified versions on disk
  std::set<uint64_t> files_ ABSL_GUARDED_BY(commit_mu_);  // every model file, good or not
  std::string current_digest_ ABSL_GUARDED_BY(commit_mu_);

  // Held only to swap or copy the pointer, never across I/O.
  mutable absl::Mutex mu_;
  std::shared_ptr<const StoredModel> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_MODEL_STORE_H_
