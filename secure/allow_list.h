#ifndef FEDGE_SECURE_ALLOW_LIST_H_
#define FEDGE_SECURE_ALLOW_LIST_H_

// The devices a coordinator accepts: each device's CURVE public key and the
// client ids it may register as. A text file, one device per line:
//
//   # comments run from '#' to the end of the line; blank lines are ignored
//   <64 hex digits: the device's CURVE public key> <client_id>[,<client_id>...]
//
// A key appears on one line only, and a client id belongs to one key only.
// fedge-keygen enrol appends lines (EnrolDevice); the coordinator's ZAP
// handler (protocol/zap_authenticator.h) consults the list on every CURVE
// handshake through AllowListFile, which follows edits to the file.
//
// Errors name the file and line ("allow.txt:7: client id 4 is already
// enrolled for key 3b6a27bc... on line 2"); parsing never crashes on
// arbitrary bytes (tests/fuzz/key_file_fuzzer.cc).

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/file_util.h"
#include "secure/x25519.h"

namespace fedge::secure {

// One parsed allow-list. Immutable once built; safe to share between threads.
class AllowList {
 public:
  // Parses the text of an allow-list file; `origin` (the path) prefixes
  // errors. InvalidArgument on any malformed line.
  static absl::StatusOr<AllowList> Parse(absl::string_view text, absl::string_view origin);

  // The client ids enrolled for `key` (sorted), or nullptr if it is not.
  const std::vector<uint64_t>* Find(const X25519PublicKey& key) const;
  bool IsEnrolled(const X25519PublicKey& key, uint64_t client_id) const;
  // The key `client_id` is enrolled for, or nullptr.
  const X25519PublicKey* KeyFor(uint64_t client_id) const;
  size_t size() const { return by_key_.size(); }

  // The line for one device, as Parse reads it.
  static std::string FormatLine(const X25519PublicKey& key, absl::Span<const uint64_t> client_ids);

 private:
  std::map<X25519PublicKey, std::vector<uint64_t>> by_key_;
  std::map<uint64_t, X25519PublicKey> by_client_;
};

// An allow-list file kept current: ReloadIfChanged re-reads it when its
// inode, mtime or size changed (a replaced or edited file). A failed reload
// keeps the previous list, logs why once per version of the file, and
// returns the error. Thread-safe.
class AllowListFile {
 public:
  // Reads and parses `path`; its error otherwise (the coordinator refuses to
  // start without a valid list).
  static absl::StatusOr<std::unique_ptr<AllowListFile>> Open(const std::string& path);

  // `force` re-reads even an unchanged file (SIGHUP). OK when the list in
  // use is the file's current content; otherwise why not (the same error,
  // logged once, until the file changes).
  absl::Status ReloadIfChanged(bool force = false) ABSL_LOCKS_EXCLUDED(mu_);

  // The list in use. Never null.
  std::shared_ptr<const AllowList> Current() const ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& path() const { return path_; }
  uint64_t reloads() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  AllowListFile(std::string path, std::shared_ptr<const AllowList> list, FileStamp stamp)
      : path_(std::move(path)), list_(std::move(list)), stamp_(stamp) {}

  const std::string path_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const AllowList> list_ ABSL_GUARDED_BY(mu_);
  FileStamp stamp_ ABSL_GUARDED_BY(mu_);  // of the last read attempt
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);  // of the last read attempt
  uint64_t reloads_ ABSL_GUARDED_BY(mu_) = 0;
};

// Enrols a device: appends its line to the allow-list at `path` (created if
// missing) by writing a new file and renaming it over the old one, so a
// coordinator reloading meanwhile sees the old or the new list, never half a
// line. Concurrent enrolments are serialised with a lock on `path`.lock.
// AlreadyExists when the key or one of the client ids is enrolled already;
// InvalidArgument when `client_ids` is empty or repeats an id, or the
// existing file does not parse (it is left untouched).
absl::Status EnrolDevice(const std::string& path, const X25519PublicKey& key,
                         absl::Span<const uint64_t> client_ids);

}  // namespace fedge::secure

#endif  // FEDGE_SECURE_ALLOW_LIST_H_
