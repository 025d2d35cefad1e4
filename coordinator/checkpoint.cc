#include "coordinator/checkpoint.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <variant>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "protocol/codec.h"
#include "protocol/envelope.h"
#include "protocol/messages.h"

namespace fedge::coordinator {
namespace {

// Header field offsets (see checkpoint.h).
constexpr size_t kFormatOffset = 8;
constexpr size_t kRoundOffset = 12;
constexpr size_t kBodyLengthOffset = 20;
constexpr size_t kReservedOffset = 28;
constexpr size_t kDigestOffset = 32;
constexpr size_t kDigestSize = 32;
static_assert(kDigestOffset + kDigestSize == kCheckpointHeaderSize);

// Limits on the small fields; anything larger is corruption.
constexpr uint32_t kMaxOptimizerStateBytes = 1u << 30;
constexpr uint32_t kMaxRngStateBytes = 64 * 1024;
// The accountant: a few hundred orders of two doubles, the clip, counters.
constexpr uint32_t kMaxPrivacyStateBytes = 64 * 1024;
constexpr uint32_t kMaxMetricsLineBytes = 1u << 20;
constexpr uint32_t kMaxClients = 1u << 24;

constexpr absl::string_view kPrefix = "checkpoint-";
constexpr absl::string_view kSuffix = ".ckpt";
constexpr absl::string_view kTempSuffix = ".tmp";

void PutLe(uint64_t v, size_t bytes, std::string* out) {
  for (size_t i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetLe(const char* in, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return v;
}

void PutBytes(absl::string_view b, std::string* out) {
  PutLe(b.size(), 4, out);
  out->append(b.data(), b.size());
}

// Floats as their little-endian IEEE-754 bit patterns, behind a byte count.
std::string FloatBytes(const std::vector<float>& v) {
  std::string out;
  out.reserve(v.size() * 4);
  for (float f : v) {
    uint32_t bits = 0;
    std::memcpy(&bits, &f, 4);
    PutLe(bits, 4, &out);
  }
  return out;
}

// SHA-256(header[0, 32) || SHA-256(body)): covers every byte without copying
// the model-sized body.
std::string FileDigest(absl::string_view header, absl::string_view body) {
  const Sha256Digest inner = Sha256(body);
  std::string covered(header.substr(0, kDigestOffset));
  covered.append(reinterpret_cast<const char*>(inner.data()), inner.size());
  const Sha256Digest outer = Sha256(covered);
  return std::string(reinterpret_cast<const char*>(outer.data()), outer.size());
}

absl::Status Corrupt(size_t offset, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("checkpoint: at offset ", offset, ": ", what));
}

// Reads the body front to back; every read checks the bytes left first.
class BodyReader {
 public:
  explicit BodyReader(absl::string_view body) : body_(body) {}
  size_t offset() const { return kCheckpointHeaderSize + pos_; }
  size_t left() const { return body_.size() - pos_; }

  absl::Status Int(size_t bytes, absl::string_view what, uint64_t* v) {
    if (left() < bytes) return Truncated(what);
    *v = GetLe(body_.data() + pos_, bytes);
    pos_ += bytes;
    return absl::OkStatus();
  }
  absl::Status Bytes(uint32_t max, absl::string_view what, std::string* out) {
    uint64_t n = 0;
    FEDGE_RETURN_IF_ERROR(Int(4, what, &n));
    if (n > max) {
      return Corrupt(offset() - 4,
                     absl::StrCat(what, ": length ", n, " exceeds the limit of ", max));
    }
    if (n > left()) return Truncated(what);
    out->assign(body_.data() + pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }
  absl::string_view Rest() {
    absl::string_view rest = body_.substr(pos_);
    pos_ = body_.size();
    return rest;
  }

 private:
  absl::Status Truncated(absl::string_view what) {
    return Corrupt(offset(), absl::StrCat("body ends inside ", what, " (truncated)"));
  }
  absl::string_view body_;
  size_t pos_ = 0;
};

// "checkpoint-<round>.ckpt" with <round> in canonical decimal.
std::optional<uint64_t> ParseName(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, kPrefix) || !absl::ConsumeSuffix(&name, kSuffix)) {
    return std::nullopt;
  }
  uint64_t round = 0;
  if (name.empty() || (name.size() > 1 && name[0] == '0') || !absl::SimpleAtoi(name, &round) ||
      absl::StrCat(round) != name) {
    return std::nullopt;
  }
  return round;
}

}  // namespace

absl::StatusOr<std::string> EncodeCheckpoint(const Checkpoint& c) {
  const CoordinatorSnapshot& s = c.coordinator;
  if (s.optimizer.state.size() > kMaxOptimizerStateBytes ||
      s.control_variate.size() * 4 > kMaxOptimizerStateBytes ||
      s.cohort_rng.size() > kMaxRngStateBytes || s.privacy_state.size() > kMaxPrivacyStateBytes ||
      c.round_metrics_line.size() > kMaxMetricsLineBytes || s.clients.size() > kMaxClients) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint of round ", s.round, ": a field is over its limit (optimiser state ",
        s.optimizer.state.size(), " bytes, generator ", s.cohort_rng.size(),
        " bytes, metrics line ", c.round_metrics_line.size(), " bytes, ", s.clients.size(),
        " clients)"));
  }
  protocol::Task task;
  task.model_version = s.model_version;
  task.model = s.model;
  const std::string model_frame = protocol::Encode(task);

  std::string body;
  body.reserve(model_frame.size() + 256 + s.cohort_rng.size() + c.round_metrics_line.size() +
               16 * s.clients.size());
  PutLe(s.completed_rounds, 8, &body);
  PutLe(s.model_version, 8, &body);
  PutLe(s.consecutive_failures, 4, &body);
  PutLe(c.metrics_lines_before, 8, &body);
  PutLe(s.optimizer.kind, 4, &body);
  PutBytes(s.optimizer.state, &body);
  PutBytes(FloatBytes(s.control_variate), &body);
  PutBytes(s.cohort_rng, &body);
  PutBytes(s.privacy_state, &body);
  PutBytes(c.round_metrics_line, &body);
  PutLe(s.clients.size(), 4, &body);
  for (const KnownClient& k : s.clients) {
    PutLe(k.client_id, 8, &body);
    PutLe(k.num_examples, 8, &body);
  }
  body += model_frame;

  std::string file;
  file.reserve(kCheckpointHeaderSize + body.size());
  file.append(kCheckpointMagic, sizeof(kCheckpointMagic));
  PutLe(kCheckpointFormatVersion, 4, &file);
  PutLe(s.round, 8, &file);
  PutLe(body.size(), 8, &file);
  PutLe(0, 4, &file);
  file += FileDigest(file, body);
  file += body;
  return file;
}

absl::StatusOr<Checkpoint> DecodeCheckpoint(absl::string_view bytes, size_t max_bytes) {
  if (bytes.size() > max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "checkpoint: ", bytes.size(), " bytes, more than the limit of ", max_bytes));
  }
  if (bytes.size() < kCheckpointHeaderSize) {
    return Corrupt(bytes.size(), absl::StrCat("file ends after ", bytes.size(),
                                              " bytes, inside the ", kCheckpointHeaderSize,
                                              "-byte header (truncated)"));
  }
  if (std::memcmp(bytes.data(), kCheckpointMagic, sizeof(kCheckpointMagic)) != 0) {
    return Corrupt(0, "bad magic, not a fedge checkpoint");
  }
  const uint64_t format = GetLe(&bytes[kFormatOffset], 4);
  if (format != kCheckpointFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint: at offset ", kFormatOffset, ": format version ", format,
                     ", this build reads ", kCheckpointFormatVersion));
  }
  const uint64_t body_length = GetLe(&bytes[kBodyLengthOffset], 8);
  if (body_length != bytes.size() - kCheckpointHeaderSize) {
    return Corrupt(kBodyLengthOffset,
                   absl::StrCat("header declares a ", body_length, "-byte body, but ",
                                bytes.size() - kCheckpointHeaderSize,
                                " bytes follow the header (truncated?)"));
  }
  if (GetLe(&bytes[kReservedOffset], 4) != 0) {
    return Corrupt(kReservedOffset, "reserved field is not zero");
  }
  const absl::string_view body = bytes.substr(kCheckpointHeaderSize);
  if (FileDigest(bytes, body) != bytes.substr(kDigestOffset, kDigestSize)) {
    return Corrupt(kDigestOffset, "SHA-256 digest does not match the contents");
  }

  Checkpoint c;
  CoordinatorSnapshot& s = c.coordinator;
  s.round = GetLe(&bytes[kRoundOffset], 8);
  BodyReader r(body);
  uint64_t v = 0;
  FEDGE_RETURN_IF_ERROR(r.Int(8, "completed rounds", &s.completed_rounds));
  FEDGE_RETURN_IF_ERROR(r.Int(8, "model version", &s.model_version));
  FEDGE_RETURN_IF_ERROR(r.Int(4, "consecutive failures", &v));
  s.consecutive_failures = static_cast<uint32_t>(v);
  FEDGE_RETURN_IF_ERROR(r.Int(8, "metrics cursor", &c.metrics_lines_before));
  FEDGE_RETURN_IF_ERROR(r.Int(4, "optimiser kind", &v));
  s.optimizer.kind = static_cast<uint32_t>(v);
  FEDGE_RETURN_IF_ERROR(r.Bytes(kMaxOptimizerStateBytes, "optimiser state", &s.optimizer.state));
  std::string control;
  FEDGE_RETURN_IF_ERROR(r.Bytes(kMaxOptimizerStateBytes, "control variate", &control));
  if (control.size() % 4 != 0) {
    return Corrupt(r.offset() - control.size(),
                   absl::StrCat("control variate: ", control.size(),
                                " bytes is not a whole number of floats"));
  }
  s.control_variate.resize(control.size() / 4);
  for (size_t i = 0; i < s.control_variate.size(); ++i) {
    const uint32_t bits = static_cast<uint32_t>(GetLe(&control[4 * i], 4));
    std::memcpy(&s.control_variate[i], &bits, 4);
  }
  FEDGE_RETURN_IF_ERROR(r.Bytes(kMaxRngStateBytes, "cohort generator", &s.cohort_rng));
  FEDGE_RETURN_IF_ERROR(r.Bytes(kMaxPrivacyStateBytes, "privacy state", &s.privacy_state));
  FEDGE_RETURN_IF_ERROR(r.Bytes(kMaxMetricsLineBytes, "metrics line", &c.round_metrics_line));
  uint64_t clients = 0;
  FEDGE_RETURN_IF_ERROR(r.Int(4, "client count", &clients));
  if (clients > kMaxClients || clients * 16 > r.left()) {
    return Corrupt(r.offset() - 4, absl::StrCat(clients, " clients do not fit in the ",
                                                r.left(), " bytes left"));
  }
  s.clients.resize(clients);
  for (KnownClient& k : s.clients) {
    FEDGE_RETURN_IF_ERROR(r.Int(8, "client id", &k.client_id));
    FEDGE_RETURN_IF_ERROR(r.Int(8, "client examples", &k.num_examples));
  }
  const size_t model_offset = r.offset();
  const absl::string_view frame = r.Rest();
  protocol::DecodeLimits limits;
  limits.max_frame_bytes = frame.size();
  absl::StatusOr<protocol::Message> message = protocol::Decode(frame, limits);
  if (!message.ok()) {
    return Corrupt(model_offset, absl::StrCat("model: ", message.status().message()));
  }
  auto* task = std::get_if<protocol::Task>(&*message);
  if (task == nullptr) return Corrupt(model_offset, "model is not a Task frame");
  if (task->model_version != s.model_version) {
    return Corrupt(model_offset, absl::StrCat("model frame holds version ", task->model_version,
                                              ", the checkpoint says ", s.model_version));
  }
  s.model = std::move(task->model);
  return c;
}

// ---- CheckpointStore ----------------------------------------------------------

absl::StatusOr<std::unique_ptr<CheckpointStore>> CheckpointStore::Open(
    std::string dir, FileSystem* fs, CheckpointStoreOptions options) {
  if (options.keep < 1) return absl::InvalidArgumentError("checkpoint store: keep must be >= 1");
  FEDGE_RETURN_IF_ERROR(fs->CreateDir(dir));
  FEDGE_ASSIGN_OR_RETURN(std::vector<std::string> names, fs->ListDir(dir));
  for (const std::string& name : names) {
    absl::string_view base = name;
    if (absl::ConsumeSuffix(&base, kTempSuffix) && ParseName(base).has_value()) {
      // A write a crash interrupted; its checkpoint was never acknowledged.
      absl::Status s = fs->Remove(absl::StrCat(dir, "/", name));
      if (!s.ok()) FEDGE_LOG(kWarning, "checkpoint store: %s", s.ToString());
    }
  }
  return std::unique_ptr<CheckpointStore>(new CheckpointStore(std::move(dir), fs, options));
}

std::string CheckpointStore::PathOf(uint64_t round) const {
  return absl::StrCat(dir_, "/", kPrefix, round, kSuffix);
}

absl::StatusOr<std::vector<uint64_t>> CheckpointStore::ListRounds() {
  FEDGE_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDir(dir_));
  std::vector<uint64_t> rounds;
  for (const std::string& name : names) {
    if (std::optional<uint64_t> r = ParseName(name)) rounds.push_back(*r);
  }
  std::sort(rounds.begin(), rounds.end());
  return rounds;
}

absl::StatusOr<size_t> CheckpointStore::Write(const Checkpoint& checkpoint) {
  FEDGE_ASSIGN_OR_RETURN(std::string bytes, EncodeCheckpoint(checkpoint));
  if (bytes.size() > options_.max_file_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("checkpoint of round ", checkpoint.coordinator.round, " is ", bytes.size(),
                     " bytes, more than the limit of ", options_.max_file_bytes));
  }
  const std::string path = PathOf(checkpoint.coordinator.round);
  const std::string tmp = absl::StrCat(path, kTempSuffix);
  auto annotate = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("writing checkpoint ", path, ": ", s.message()));
  };
  // 1-2. The whole file under a temporary name, fsynced, given its name;
  // 3. make the name durable.
  absl::Status s = WriteAndRename(*fs_, tmp, path, bytes);
  if (!s.ok()) return annotate(s);
  s = fs_->SyncDir(dir_);
  if (!s.ok()) return annotate(s);
  RemoveOld();
  return bytes.size();
}

void CheckpointStore::RemoveOld() {
  absl::StatusOr<std::vector<uint64_t>> rounds = ListRounds();
  if (!rounds.ok()) {
    FEDGE_LOG(kWarning, "checkpoint store: cannot list %s: %s", dir_, rounds.status().ToString());
    return;
  }
  // No directory fsync: a removal a crash undoes is redone next time.
  for (size_t i = 0; i + options_.keep < rounds->size(); ++i) {
    absl::Status s = fs_->Remove(PathOf((*rounds)[i]));
    if (!s.ok() && !absl::IsNotFound(s)) {
      FEDGE_LOG(kWarning, "checkpoint store: cannot remove an old checkpoint: %s", s.ToString());
    }
  }
}

absl::StatusOr<std::optional<Checkpoint>> CheckpointStore::LoadNewest() {
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint64_t> rounds, ListRounds());
  for (auto it = rounds.rbegin(); it != rounds.rend(); ++it) {
    const std::string path = PathOf(*it);
    absl::StatusOr<std::string> bytes = fs_->ReadFile(path, options_.max_file_bytes);
    absl::StatusOr<Checkpoint> c =
        bytes.ok() ? DecodeCheckpoint(*bytes, options_.max_file_bytes) : bytes.status();
    if (c.ok() && c->coordinator.round != *it) {
      c = absl::DataLossError(absl::StrCat("holds round ", c->coordinator.round));
    }
    if (!c.ok()) {
      FEDGE_LOG(kWarning, "skipping checkpoint %s: %s; trying the previous one", path,
                c.status().ToString());
      continue;
    }
    return std::optional<Checkpoint>(*std::move(c));
  }
  return std::optional<Checkpoint>();
}

// ---- Metrics log --------------------------------------------------------------

namespace {

absl::StatusOr<std::string> ReadIfExists(FileSystem* fs, const std::string& path) {
  absl::StatusOr<std::string> text = fs->ReadFile(path, size_t{1} << 30);
  if (absl::IsNotFound(text.status())) return std::string();
  return text;
}

}  // namespace

absl::StatusOr<uint64_t> CountLines(FileSystem* fs, const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(std::string text, ReadIfExists(fs, path));
  return static_cast<uint64_t>(std::count(text.begin(), text.end(), '\n'));
}

absl::StatusOr<uint64_t> ResumeMetricsLog(FileSystem* fs, const std::string& path,
                                          const Checkpoint& checkpoint) {
  FEDGE_ASSIGN_OR_RETURN(std::string text, ReadIfExists(fs, path));
  size_t end = 0;
  uint64_t kept = 0;
  while (kept < checkpoint.metrics_lines_before) {
    const size_t nl = text.find('\n', end);
    if (nl == std::string::npos) break;
    end = nl + 1;
    ++kept;
  }
  if (kept < checkpoint.metrics_lines_before) {
    FEDGE_LOG(kWarning, "%s has %d complete lines, the checkpoint of round %d expected %d", path,
              kept, checkpoint.coordinator.round, checkpoint.metrics_lines_before);
  }
  const uint64_t dropped = std::count(text.begin() + end, text.end(), '\n');
  text.resize(end);
  text += checkpoint.round_metrics_line;
  text += '\n';
  // With the async versions' lines that were waiting for their evaluations.
  const uint64_t added =
      1 + std::count(checkpoint.round_metrics_line.begin(), checkpoint.round_metrics_line.end(), '\n');
  FEDGE_RETURN_IF_ERROR(WriteFileDurably(*fs, path, text));
  if (dropped > 0) {
    FEDGE_LOG(kInfo,
              "%s: replaced %d lines after the checkpoint's cursor with round %d's line (later "
              "rounds run again)",
              path, dropped, checkpoint.coordinator.round);
  }
  return kept + added;
}

}  // namespace fedge::coordinator
