#ifndef FEDGE_COORDINATOR_CHECKPOINT_H_
#define FEDGE_COORDINATOR_CHECKPOINT_H_

// Crash-safe coordinator checkpoints: the file format and the store that
// writes, rotates and finds them (fedge-coordinator --state_dir).
//
// File checkpoint-<round>.ckpt, all integers little-endian:
//
//   offset  size  field
//        0     8  magic "FEDGECK\0"
//        8     4  format version (kCheckpointFormatVersion)
//       12     8  round (the last round that ended; as in the file name)
//       20     8  body length in bytes (the rest of the file)
//       28     4  reserved, zero
//       32    32  SHA-256( bytes [0, 32) || SHA-256(body) )
//       64     -  body:
//                   u64 completed rounds, u64 model version,
//                   u32 consecutive failed rounds, u64 metrics lines before,
//                   u32 server optimiser kind, u32 n + n bytes of its state,
//                   u32 n + n bytes SCAFFOLD control variate (n/4 float32),
//                   u32 n + n bytes cohort generator state,
//                   u32 n + n bytes of this round's metrics line,
//                   u32 n + n x (u64 client id, u64 announced examples),
//                   the rest: a protocol Task frame carrying the model (with
//                   its architecture) at the model version above.
//
// DecodeCheckpoint is network-grade: it checks the size limit and every
// declared length against the bytes present before allocating, and returns a
// Status on any input (tests/fuzz/checkpoint_fuzzer.cc).
//
// Ordering at the end of a round (coordinator_snapshot.h): the checkpoint is
// written (and made durable) first, then the round's metrics line appended,
// then the next round's tasks sent. A checkpoint holds the number of metrics
// lines written before its round's and that round's line, so on resume the
// metrics file is cut back to those lines and the round's line re-appended
// (ResumeMetricsLog): each round appears exactly once whether the crash came
// before or after the append, and lines of rounds after the checkpoint (which
// a resumed coordinator runs again) are dropped.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/file_system.h"
#include "coordinator/coordinator_snapshot.h"

namespace fedge::coordinator {

inline constexpr char kCheckpointMagic[8] = {'F', 'E', 'D', 'G', 'E', 'C', 'K', '\0'};
// 2: the model frame is protocol version 2 (manifest roles).
// 3: protocol version 3 (the model carries its task).
// 4: the differential-privacy accountant's state.
// 5: the model frame is protocol version 6 (a prune mask).
inline constexpr uint32_t kCheckpointFormatVersion = 5;
inline constexpr size_t kCheckpointHeaderSize = 64;

struct Checkpoint {
  CoordinatorSnapshot coordinator;
  // Lines of the metrics file (--metrics_out) written before this round's.
  uint64_t metrics_lines_before = 0;
  // This round's metrics line (RoundReportJson), without the newline; in
  // async mode preceded by the lines of earlier versions not yet written
  // (waiting for their evaluations), each ending in a newline.
  std::string round_metrics_line;
};

// The complete file. InvalidArgument if a field is over its limit.
absl::StatusOr<std::string> EncodeCheckpoint(const Checkpoint& checkpoint);

// Parses and checks a whole file. Errors name the offset of the bad field:
//   ResourceExhausted   larger than `max_bytes`;
//   FailedPrecondition  a format version this build does not read;
//   DataLoss            anything else (truncated, bad magic, digest mismatch,
//                       lengths that do not add up, a malformed model).
absl::StatusOr<Checkpoint> DecodeCheckpoint(absl::string_view bytes, size_t max_bytes);

struct CheckpointStoreOptions {
  size_t keep = 3;  // newest checkpoints kept on disk (>= 1)
  size_t max_file_bytes = size_t{1} << 31;
};

// The checkpoints in one directory. Not thread-safe.
class CheckpointStore {
 public:
  // Opens (creating) `dir` and removes leftover temporary files. `fs` must
  // outlive the store.
  static absl::StatusOr<std::unique_ptr<CheckpointStore>> Open(
      std::string dir, FileSystem* fs, CheckpointStoreOptions options = {});

  // Durably writes checkpoint-<round>.ckpt: to a temporary file, fsync,
  // close, rename into place, fsync the directory; only then OK. A crash at
  // any point leaves the previous checkpoints intact and the new one either
  // absent or complete. Then removes all but the newest `keep` checkpoints
  // (best effort). Returns the bytes written.
  absl::StatusOr<size_t> Write(const Checkpoint& checkpoint);

  // The newest checkpoint that decodes; newer files that do not are skipped,
  // each with a warning naming the file and what is wrong. nullopt when there
  // is none. Errors only when the directory cannot be listed.
  absl::StatusOr<std::optional<Checkpoint>> LoadNewest();

  // checkpoint-<round>.ckpt in the store's directory.
  std::string PathOf(uint64_t round) const;

 private:
  CheckpointStore(std::string dir, FileSystem* fs, CheckpointStoreOptions options)
      : dir_(std::move(dir)), fs_(fs), options_(options) {}
  // The rounds of the checkpoint files present, ascending.
  absl::StatusOr<std::vector<uint64_t>> ListRounds();
  void RemoveOld();

  const std::string dir_;
  FileSystem* const fs_;
  const CheckpointStoreOptions options_;
};

// Makes the metrics file at `path` agree with `checkpoint`: keeps its first
// metrics_lines_before lines, drops the rest and appends the checkpoint's
// round line, replacing the file atomically (a missing file counts as empty;
// fewer lines than expected are kept with a warning). Returns the number of
// lines now in the file.
absl::StatusOr<uint64_t> ResumeMetricsLog(FileSystem* fs, const std::string& path,
                                          const Checkpoint& checkpoint);

// Lines in the file at `path` (0 if it does not exist).
absl::StatusOr<uint64_t> CountLines(FileSystem* fs, const std::string& path);

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_CHECKPOINT_H_
