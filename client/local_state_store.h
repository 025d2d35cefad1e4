#ifndef FEDGE_CLIENT_LOCAL_STATE_STORE_H_
#define FEDGE_CLIENT_LOCAL_STATE_STORE_H_

// What a device keeps between its rounds for strategies with per-client
// state (client/local_state.h: SCAFFOLD's control variate c_i, FedBN's own
// normalisation values), durably, in one file of its model store directory,
// `local-state.fls`. No torch. All integers little-endian, floats float32:
//
//   offset  size  field
//        0     8  magic "FEDGELS\0"
//        8     4  format version (kLocalStateFormatVersion)
//       12     4  flags: bit 0 = the last task trained said local_normalization
//                 (FedBN); other bits zero
//       16     8  logical client id
//       24    32  model fingerprint (ModelFingerprint) the state belongs to
//       56     8  n: the model's weights
//       64     8  c: control values, 0 or n
//       72     8  m: normalisation values, at most n
//       80  4c+4m the c control values, then the m normalisation values
//    80+4(c+m) 32  SHA-256 of every byte before it
//
// Crash safety: Save writes `local-state.fls.tmp`, fsyncs it, renames it over
// the file and fsyncs the directory (WriteAndRename); it returns OK only
// after that, so a saved state survives any crash, and a crash before leaves
// the previous file whole.
//
// Damage: Load reports a file that exists but does not decode (truncated,
// bit rot, a newer format, over the size limit, another client's) as an
// error naming the file, never as "no state". What to do about it is the
// caller's choice; LoadOrStartAfresh is the device SDK's.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/file_system.h"
#include "base/sha256.h"
#include "protocol/model_payload.h"

namespace fedge::client {

// Identifies a model's layout: SHA-256 over its architecture id and its
// manifest (tensor names, shapes, dtypes, roles, normalisation flags).
// Weights and task do not enter it: every version of one federation's model
// has the same fingerprint.
Sha256Digest ModelFingerprint(const protocol::ModelPayload& model);

// A logical client's strategy state between rounds (client/local_state.h
// keeps and applies it).
struct LocalState {
  // The model the state belongs to (ModelFingerprint) and its weight count;
  // state of another model is dropped, never applied.
  Sha256Digest model{};
  uint64_t num_weights = 0;
  // SCAFFOLD's c_i, one value per weight (zero off the parameter ranges);
  // empty: c_i = 0 (no SCAFFOLD task trained yet).
  std::vector<float> control;
  // FedBN: the last task this client trained said local_normalization, so
  // its own `normalization` values replace the global ones in its models.
  bool local_normalization = false;
  // FedBN: this client's values of the manifest's normalisation tensors,
  // concatenated in manifest order; empty: none trained yet.
  std::vector<float> normalization;

  bool empty() const { return control.empty() && normalization.empty() && !local_normalization; }
  bool operator==(const LocalState& o) const {
    return model == o.model && num_weights == o.num_weights && control == o.control &&
           local_normalization == o.local_normalization && normalization == o.normalization;
  }
};

inline constexpr char kLocalStateMagic[8] = {'F', 'E', 'D', 'G', 'E', 'L', 'S', '\0'};
inline constexpr uint32_t kLocalStateFormatVersion = 1;
inline constexpr size_t kLocalStateHeaderSize = 80;
inline constexpr size_t kLocalStateDigestSize = 32;
// A model store's limit (ModelStoreOptions::max_file_bytes): the state of a
// model is at most twice its weights.
inline constexpr size_t kDefaultMaxLocalStateFileBytes = size_t{1} << 30;

// The complete file for `client_id`'s `state`. InvalidArgument when the
// state is inconsistent (control neither empty nor num_weights values, more
// normalisation values than weights).
absl::StatusOr<std::string> EncodeLocalStateFile(uint64_t client_id, const LocalState& state);

struct LocalStateFile {
  uint64_t client_id = 0;
  LocalState state;
};

// Parses and checks a whole file. Never crashes; checks every count against
// the bytes present before allocating. Errors name the offset of the bad
// field:
//   ResourceExhausted   larger than `max_bytes`;
//   FailedPrecondition  a format version this build does not read;
//   DataLoss            anything else: too short, bad magic, unknown flags,
//                       counts that do not fit n or the file size, digest
//                       mismatch.
absl::StatusOr<LocalStateFile> DecodeLocalStateFile(absl::string_view bytes, size_t max_bytes);

// The file of one logical client in one directory. Not thread-safe: one
// owner (the SDK's Client) calls it.
class LocalStateStore {
 public:
  static constexpr char kFileName[] = "local-state.fls";
  // Where LoadOrStartAfresh moves a file it cannot use.
  static constexpr char kSetAsideSuffix[] = ".unreadable";

  // Reads nothing. `fs` must outlive the store; `dir` must exist when Save
  // is called (the model store in it creates it).
  LocalStateStore(std::string dir, uint64_t client_id, FileSystem* fs,
                  size_t max_file_bytes = kDefaultMaxLocalStateFileBytes);

  const std::string& path() const { return path_; }

  // The saved state; nullopt when there is no file. Errors, each naming the
  // file: the file system's when it cannot be read; DecodeLocalStateFile's
  // for a damaged one; FailedPrecondition when it belongs to another client
  // id.
  absl::StatusOr<std::optional<LocalState>> Load();

  // Load, for a device that must keep federating: a file that cannot be used
  // is renamed to <file>.unreadable (kept for diagnosis; the next one
  // replaces it), the reason is logged as an error naming the file, and the
  // state starts empty, as for a new client. Losing this state is benign
  // where refusing to run is not: empty state is each strategy's own
  // starting point (c_i = 0; FedBN layers taken from the global model and
  // retrained), at the cost of one client's bounded drift between its c_i
  // and the server's c (the server keeps this client's old contribution),
  // whereas an error would stop an unattended device from training until
  // someone removed the file. (The verified-version store refuses instead:
  // forgetting its floor would admit rollbacks.) A file system error other
  // than the file missing is logged the same way, without moving the file.
  LocalState LoadOrStartAfresh();

  // Durably replaces the saved state with `state`; OK only once it survives
  // a crash. On error the previous file stays (or, if the final directory
  // fsync failed, either file may survive a crash, whole). Errors name the
  // file: InvalidArgument for an inconsistent state; ResourceExhausted when
  // the file would exceed the size limit; the file system's.
  absl::Status Save(const LocalState& state);

 private:
  const std::string dir_;
  const std::string path_;
  const uint64_t client_id_;
  FileSystem* const fs_;
  const size_t max_file_bytes_;
};

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_LOCAL_STATE_STORE_H_
