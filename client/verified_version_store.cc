#include "client/verified_version_store.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/little_endian.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/status_macros.h"

namespace fedge::client {
namespace {

constexpr size_t kFormatOffset = 8;
constexpr size_t kClientIdOffset = 12;
constexpr size_t kVersionOffset = 20;
constexpr size_t kDigestOffset = 28;
constexpr char kTempSuffix[] = ".tmp";

absl::Status Annotate(const absl::Status& s, absl::string_view where) {
  return absl::Status(s.code(), absl::StrCat(where, ": ", s.message()));
}

}  // namespace

std::string EncodeVerifiedVersionFile(const VerifiedVersionRecord& record) {
  std::string file(kVerifiedVersionFileSize, '\0');
  std::memcpy(file.data(), kVerifiedVersionMagic, sizeof(kVerifiedVersionMagic));
  PutLe(kVerifiedVersionFormatVersion, 4, &file[kFormatOffset]);
  PutLe(record.client_id, 8, &file[kClientIdOffset]);
  PutLe(record.model_version, 8, &file[kVersionOffset]);
  const Sha256Digest digest = Sha256(absl::string_view(file.data(), kDigestOffset));
  std::memcpy(&file[kDigestOffset], digest.data(), digest.size());
  return file;
}

absl::StatusOr<VerifiedVersionRecord> DecodeVerifiedVersionFile(absl::string_view bytes) {
  if (bytes.size() > kMaxVerifiedVersionFileBytes) {
    return absl::ResourceExhaustedError(absl::StrCat(bytes.size(), " bytes, more than the limit of ",
                                                     kMaxVerifiedVersionFileBytes));
  }
  // The format version first, so a later format of another size is named as
  // such rather than as a truncation.
  if (bytes.size() >= kClientIdOffset &&
      std::memcmp(bytes.data(), kVerifiedVersionMagic, sizeof(kVerifiedVersionMagic)) == 0) {
    const uint64_t format = GetLe(bytes.data() + kFormatOffset, 4);
    if (format != kVerifiedVersionFormatVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("offset ", kFormatOffset, ": format version ", format,
                       ", this build reads version ", kVerifiedVersionFormatVersion));
    }
  }
  if (bytes.size() != kVerifiedVersionFileSize) {
    return absl::DataLossError(absl::StrCat(bytes.size(), " bytes, want ",
                                            kVerifiedVersionFileSize, " (truncated or not ours)"));
  }
  if (std::memcmp(bytes.data(), kVerifiedVersionMagic, sizeof(kVerifiedVersionMagic)) != 0) {
    return absl::DataLossError("offset 0: bad magic (not a verified-version file)");
  }
  const Sha256Digest digest = Sha256(bytes.substr(0, kDigestOffset));
  if (std::memcmp(bytes.data() + kDigestOffset, digest.data(), digest.size()) != 0) {
    return absl::DataLossError(
        absl::StrCat("offset ", kDigestOffset, ": SHA-256 mismatch (the file is corrupt)"));
  }
  VerifiedVersionRecord record;
  record.client_id = GetLe(bytes.data() + kClientIdOffset, 8);
  record.model_version = GetLe(bytes.data() + kVersionOffset, 8);
  return record;
}

std::string VerifiedVersionStore::FileName(uint64_t client_id) {
  return absl::StrCat("verified-version-", client_id);
}

std::string VerifiedVersionStore::PathOf(uint64_t client_id) const {
  return absl::StrCat(dir_, "/", FileName(client_id));
}

absl::StatusOr<std::unique_ptr<VerifiedVersionStore>> VerifiedVersionStore::Open(
    std::string dir, const std::vector<uint64_t>& client_ids, FileSystem* fs) {
  if (client_ids.empty()) {
    return absl::InvalidArgumentError("verified-version store: no client ids");
  }
  FEDGE_RETURN_IF_ERROR(fs->CreateDir(dir));
  std::unique_ptr<VerifiedVersionStore> store(new VerifiedVersionStore(std::move(dir), fs));
  for (uint64_t id : client_ids) {
    const std::string path = store->PathOf(id);
    absl::StatusOr<std::string> bytes = fs->ReadFile(path, kMaxVerifiedVersionFileBytes);
    if (absl::IsNotFound(bytes.status())) {
      store->recorded_[id] = std::nullopt;
      continue;
    }
    if (!bytes.ok()) return bytes.status();
    absl::StatusOr<VerifiedVersionRecord> record = DecodeVerifiedVersionFile(*bytes);
    if (!record.ok()) {
      return Annotate(record.status(),
                      absl::StrCat(path, ": unreadable highest verified model version (remove "
                                         "the file to accept any signed version again)"));
    }
    if (record->client_id != id) {
      return absl::DataLossError(absl::StrCat(path, ": records client ", record->client_id,
                                              ", not client ", id));
    }
    store->recorded_[id] = record->model_version;
  }
  return store;
}

std::optional<uint64_t> VerifiedVersionStore::Floor() const {
  std::optional<uint64_t> floor;
  for (const auto& [id, version] : recorded_) {
    if (version.has_value()) floor = std::min(floor.value_or(*version), *version);
  }
  return floor;
}

std::optional<uint64_t> VerifiedVersionStore::Recorded(uint64_t client_id) const {
  auto it = recorded_.find(client_id);
  return it == recorded_.end() ? std::nullopt : it->second;
}

absl::Status VerifiedVersionStore::Raise(uint64_t version) {
  absl::Status first;
  for (auto& [id, recorded] : recorded_) {
    if (recorded.has_value() && *recorded >= version) continue;
    absl::Status s = Write(id, version);
    if (s.ok()) {
      recorded = version;
    } else if (first.ok()) {
      first = s;
    }
  }
  return first;
}

absl::Status VerifiedVersionStore::Write(uint64_t client_id, uint64_t version) {
  const std::string path = PathOf(client_id);
  const std::string tmp = absl::StrCat(path, kTempSuffix);
  const std::string bytes = EncodeVerifiedVersionFile({client_id, version});
  // 1-2. The whole file under a temporary name, fsynced, then atomically
  //      replacing the old value.
  absl::Status s = WriteAndRename(*fs_, tmp, path, bytes);
  // 3. Make the new binding durable; only then is the value acknowledged. If
  //    this fails the renamed file may or may not survive a crash; either
  //    way it holds a complete old or new value, and the in-memory record
  //    stays at the old one so the next Raise writes again.
  if (s.ok()) s = fs_->SyncDir(dir_);
  if (!s.ok()) {
    return Annotate(s, absl::StrCat("recording verified model version ", version, " for client ",
                                    client_id, " in ", path));
  }
  return absl::OkStatus();
}

void PersistVerifiedVersions(VerifiedVersionStore* store, ClientHostOptions* options) {
  if (std::optional<uint64_t> floor = store->Floor()) {
    options->held_model_version = std::max(options->held_model_version.value_or(0), *floor);
  }
  options->on_model = [store, next = std::move(options->on_model)](
                          uint64_t version, const protocol::ModelPayload& model,
                          const protocol::ModelSignature& signature) {
    if (next) next(version, model, signature);
    absl::Status s = store->Raise(version);
    if (!s.ok()) {
      // Not fatal: this process still refuses older versions; only a restart
      // before a later successful write would lose this version's floor.
      FEDGE_LOG(kError, "%s (kept in memory; retried with the next model)", s.ToString());
    }
  };
}

}  // namespace fedge::client
