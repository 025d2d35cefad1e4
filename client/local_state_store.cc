#include "client/local_state_store.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/little_endian.h"
#include "base/log.h"

namespace fedge::client {
namespace {

// Header field offsets (see local_state_store.h).
constexpr size_t kFormatOffset = 8;
constexpr size_t kFlagsOffset = 12;
constexpr size_t kClientIdOffset = 16;
constexpr size_t kModelOffset = 24;
constexpr size_t kWeightsOffset = 56;
constexpr size_t kControlCountOffset = 64;
constexpr size_t kNormCountOffset = 72;
static_assert(kNormCountOffset + 8 == kLocalStateHeaderSize);
constexpr uint32_t kFlagLocalNormalization = 1u << 0;
constexpr char kTempSuffix[] = ".tmp";

absl::Status Corrupt(size_t offset, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("offset ", offset, ": ", what));
}

absl::Status Annotate(const absl::Status& s, absl::string_view where) {
  return absl::Status(s.code(), absl::StrCat(where, ": ", s.message()));
}

absl::Status CheckConsistent(const LocalState& state) {
  if (!state.control.empty() && state.control.size() != state.num_weights) {
    return absl::InvalidArgumentError(absl::StrCat("local state has ", state.control.size(),
                                                   " control values for a model of ",
                                                   state.num_weights, " weights"));
  }
  if (state.normalization.size() > state.num_weights) {
    return absl::InvalidArgumentError(absl::StrCat(
        "local state has ", state.normalization.size(),
        " normalisation values for a model of ", state.num_weights, " weights"));
  }
  return absl::OkStatus();
}

}  // namespace

Sha256Digest ModelFingerprint(const protocol::ModelPayload& model) {
  // Length-prefixed fields, so no two layouts encode alike.
  std::string canon;
  AppendLe(model.architecture_id.size(), 8, &canon);
  canon += model.architecture_id;
  AppendLe(model.manifest.tensors.size(), 8, &canon);
  for (const protocol::TensorSpec& t : model.manifest.tensors) {
    AppendLe(t.name.size(), 8, &canon);
    canon += t.name;
    AppendLe(t.shape.size(), 8, &canon);
    for (int64_t d : t.shape) AppendLe(static_cast<uint64_t>(d), 8, &canon);
    AppendLe(static_cast<uint8_t>(t.dtype), 1, &canon);
    AppendLe(static_cast<uint8_t>(t.role), 1, &canon);
    AppendLe(t.normalization ? 1 : 0, 1, &canon);
  }
  return Sha256(canon);
}

absl::StatusOr<std::string> EncodeLocalStateFile(uint64_t client_id, const LocalState& state) {
  if (absl::Status s = CheckConsistent(state); !s.ok()) return s;
  std::string file(kLocalStateHeaderSize, '\0');
  file.reserve(kLocalStateHeaderSize + 4 * (state.control.size() + state.normalization.size()) +
               kLocalStateDigestSize);
  std::memcpy(file.data(), kLocalStateMagic, sizeof(kLocalStateMagic));
  PutLe(kLocalStateFormatVersion, 4, &file[kFormatOffset]);
  PutLe(state.local_normalization ? kFlagLocalNormalization : 0, 4, &file[kFlagsOffset]);
  PutLe(client_id, 8, &file[kClientIdOffset]);
  std::memcpy(&file[kModelOffset], state.model.data(), state.model.size());
  PutLe(state.num_weights, 8, &file[kWeightsOffset]);
  PutLe(state.control.size(), 8, &file[kControlCountOffset]);
  PutLe(state.normalization.size(), 8, &file[kNormCountOffset]);
  AppendFloatsLe(state.control, &file);
  AppendFloatsLe(state.normalization, &file);
  const Sha256Digest digest = Sha256(file);
  file.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return file;
}

absl::StatusOr<LocalStateFile> DecodeLocalStateFile(absl::string_view bytes, size_t max_bytes) {
  if (bytes.size() > max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat(bytes.size(), " bytes, more than the limit of ", max_bytes));
  }
  const bool magic = bytes.size() >= sizeof(kLocalStateMagic) &&
                     std::memcmp(bytes.data(), kLocalStateMagic, sizeof(kLocalStateMagic)) == 0;
  // The format version before the size, so a later format is named as such
  // rather than as a truncation.
  if (magic && bytes.size() >= kFlagsOffset) {
    const uint64_t format = GetLe(bytes.data() + kFormatOffset, 4);
    if (format != kLocalStateFormatVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("offset ", kFormatOffset, ": format version ", format,
                       ", this build reads version ", kLocalStateFormatVersion));
    }
  }
  const size_t fixed = kLocalStateHeaderSize + kLocalStateDigestSize;
  if (bytes.size() < fixed) {
    return Corrupt(bytes.size(), absl::StrCat("the file ends after ", bytes.size(),
                                              " bytes, before its ", fixed,
                                              " bytes of header and digest (truncated)"));
  }
  if (!magic) return Corrupt(0, "bad magic (not a local-state file)");
  // The digest before the fields: a flipped bit anywhere is named as such.
  const size_t digest_at = bytes.size() - kLocalStateDigestSize;
  const Sha256Digest digest = Sha256(bytes.substr(0, digest_at));
  if (std::memcmp(bytes.data() + digest_at, digest.data(), digest.size()) != 0) {
    return Corrupt(digest_at, "SHA-256 mismatch (the file is corrupt or truncated)");
  }
  const uint64_t flags = GetLe(bytes.data() + kFlagsOffset, 4);
  if ((flags & ~uint64_t{kFlagLocalNormalization}) != 0) {
    return Corrupt(kFlagsOffset, absl::StrCat("unknown flags 0x", absl::Hex(flags)));
  }
  LocalStateFile out;
  out.client_id = GetLe(bytes.data() + kClientIdOffset, 8);
  LocalState& s = out.state;
  std::memcpy(s.model.data(), bytes.data() + kModelOffset, s.model.size());
  s.num_weights = GetLe(bytes.data() + kWeightsOffset, 8);
  s.local_normalization = (flags & kFlagLocalNormalization) != 0;
  const uint64_t control = GetLe(bytes.data() + kControlCountOffset, 8);
  const uint64_t norm = GetLe(bytes.data() + kNormCountOffset, 8);
  if (control != 0 && control != s.num_weights) {
    return Corrupt(kControlCountOffset, absl::StrCat(control, " control values for ",
                                                     s.num_weights, " weights"));
  }
  if (norm > s.num_weights) {
    return Corrupt(kNormCountOffset, absl::StrCat(norm, " normalisation values for ",
                                                  s.num_weights, " weights"));
  }
  // Both counts are checked against the bytes present before either is
  // multiplied or allocated.
  const uint64_t values_bytes = digest_at - kLocalStateHeaderSize;
  if (control > values_bytes / 4 || norm > values_bytes / 4 ||
      4 * (control + norm) != values_bytes) {
    return Corrupt(kControlCountOffset,
                   absl::StrCat("the header declares ", control, " control and ", norm,
                                " normalisation values, but ", values_bytes,
                                " bytes of values follow it"));
  }
  s.control.resize(control);
  s.normalization.resize(norm);
  GetFloatsLe(bytes.data() + kLocalStateHeaderSize, absl::MakeSpan(s.control));
  GetFloatsLe(bytes.data() + kLocalStateHeaderSize + 4 * control, absl::MakeSpan(s.normalization));
  return out;
}

LocalStateStore::LocalStateStore(std::string dir, uint64_t client_id, FileSystem* fs,
                                 size_t max_file_bytes)
    : dir_(std::move(dir)), path_(absl::StrCat(dir_, "/", kFileName)), client_id_(client_id),
      fs_(fs), max_file_bytes_(max_file_bytes) {}

absl::StatusOr<std::optional<LocalState>> LocalStateStore::Load() {
  absl::StatusOr<std::string> bytes = fs_->ReadFile(path_, max_file_bytes_);
  if (absl::IsNotFound(bytes.status())) return std::nullopt;
  if (!bytes.ok()) return Annotate(bytes.status(), "local state");  // names the path already
  absl::StatusOr<LocalStateFile> file = DecodeLocalStateFile(*bytes, max_file_bytes_);
  if (!file.ok()) return Annotate(file.status(), absl::StrCat(path_, ": unreadable local state"));
  if (file->client_id != client_id_) {
    return absl::FailedPreconditionError(absl::StrCat(
        path_, ": local state of client ", file->client_id, ", not client ", client_id_));
  }
  return std::optional<LocalState>(std::move(file->state));
}

LocalState LocalStateStore::LoadOrStartAfresh() {
  absl::StatusOr<std::optional<LocalState>> loaded = Load();
  if (loaded.ok()) return loaded->value_or(LocalState());
  const absl::StatusCode code = loaded.status().code();
  // What the file says, not whether it could be read: a read error may pass.
  const bool contents = code == absl::StatusCode::kDataLoss ||
                        code == absl::StatusCode::kFailedPrecondition ||
                        code == absl::StatusCode::kResourceExhausted;
  if (!contents) {
    FEDGE_LOG(kError, "%s; starting this run with empty local state (SCAFFOLD c_i = 0, FedBN "
              "layers from the global model)", loaded.status().ToString());
    return LocalState();
  }
  const std::string aside = absl::StrCat(path_, kSetAsideSuffix);
  absl::Status moved = fs_->Rename(path_, aside);
  FEDGE_LOG(kError, "%s; %s; starting with empty local state (SCAFFOLD c_i = 0, FedBN layers "
            "from the global model)", loaded.status().ToString(),
            moved.ok() ? absl::StrCat("moved to ", aside)
                       : absl::StrCat("could not move it aside: ", moved.ToString()));
  return LocalState();
}

absl::Status LocalStateStore::Save(const LocalState& state) {
  absl::StatusOr<std::string> bytes = EncodeLocalStateFile(client_id_, state);
  if (!bytes.ok()) return Annotate(bytes.status(), absl::StrCat("saving ", path_));
  if (bytes->size() > max_file_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat("saving ", path_, ": ", bytes->size(),
                                                     " bytes, more than the limit of ",
                                                     max_file_bytes_));
  }
  // 1-2. The whole file under a temporary name, fsynced, then atomically
  //      replacing the old one.
  absl::Status s = WriteAndRename(*fs_, absl::StrCat(path_, kTempSuffix), path_, *bytes);
  // 3. The new binding made durable; only then is the state saved. If this
  //    fails, a crash may bring back the old file or keep the new one, both
  //    whole; the caller still holds the state and saves it again.
  if (s.ok()) s = fs_->SyncDir(dir_);
  if (!s.ok()) return Annotate(s, absl::StrCat("saving local state to ", path_));
  return absl::OkStatus();
}

}  // namespace fedge::client
