#include "client/model_store.h"

#include <iterator>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "client/model_file.h"

namespace fedge::client {
namespace {

constexpr absl::string_view kPrefix = "model-";
constexpr absl::string_view kSuffix = ".fms";
constexpr absl::string_view kTempSuffix = ".tmp";

struct ParsedName {
  uint64_t version = 0;
  bool temporary = false;
};

// "model-<v>.fms" or "model-<v>.fms.tmp" with <v> in canonical decimal (so
// "model-07.fms" cannot alias version 7); anything else is not ours.
std::optional<ParsedName> ParseName(absl::string_view name) {
  ParsedName parsed;
  if (absl::EndsWith(name, kTempSuffix)) {
    parsed.temporary = true;
    name.remove_suffix(kTempSuffix.size());
  }
  if (!absl::StartsWith(name, kPrefix) || !absl::EndsWith(name, kSuffix)) return std::nullopt;
  name.remove_prefix(kPrefix.size());
  name.remove_suffix(kSuffix.size());
  if (name.empty() || name[0] < '0' || name[0] > '9' ||
      !absl::SimpleAtoi(name, &parsed.version) || absl::StrCat(parsed.version) != name) {
    return std::nullopt;
  }
  return parsed;
}

absl::Status Annotate(const absl::Status& s, absl::string_view context) {
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace

absl::StatusOr<std::unique_ptr<ModelStore>> ModelStore::Open(std::string dir, FileSystem* fs,
                                                             const ModelVerifier* verifier,
                                                             ModelStoreOptions options) {
  if (fs == nullptr) return absl::InvalidArgumentError("model store: no file system");
  if (dir.empty()) return absl::InvalidArgumentError("model store: empty directory path");
  if (options.keep == 0) {
    return absl::InvalidArgumentError("model store: options.keep must be at least 1");
  }
  if (options.max_file_bytes < kModelFileHeaderSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model store: options.max_file_bytes ", options.max_file_bytes,
        " is smaller than the ", kModelFileHeaderSize, "-byte header"));
  }
  std::unique_ptr<ModelStore> store(new ModelStore(std::move(dir), fs, verifier, options));
  FEDGE_RETURN_IF_ERROR(store->Load());
  return store;
}

std::string ModelStore::FileName(uint64_t version) {
  return absl::StrCat(kPrefix, version, kSuffix);
}

std::string ModelStore::PathOf(uint64_t version) const {
  return absl::StrCat(dir_, "/", FileName(version));
}

absl::Status ModelStore::Load() {
  absl::MutexLock lock(&commit_mu_);
  FEDGE_RETURN_IF_ERROR(fs_->CreateDir(dir_));
  FEDGE_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDir(dir_));
  for (const std::string& name : names) {
    std::optional<ParsedName> parsed = ParseName(name);
    if (!parsed) continue;  // not ours: leave it alone
    if (!parsed->temporary) {
      files_.insert(parsed->version);
      continue;
    }
    // An interrupted Commit: never renamed into place, so never acknowledged.
    const std::string path = absl::StrCat(dir_, "/", name);
    absl::Status s = fs_->Remove(path);
    if (s.ok()) {
      FEDGE_LOG(kInfo, "model store: removed %s left by an interrupted commit", path);
    } else {
      FEDGE_LOG(kWarning, "model store: cannot remove leftover %s: %s", path, s.ToString());
    }
  }
  // Newest first: the first good one becomes current; older ones are checked
  // too (each is a fallback) but their payloads are not kept in memory.
  std::shared_ptr<const StoredModel> current;
  for (auto it = files_.rbegin(); it != files_.rend(); ++it) {
    std::string digest;
    absl::StatusOr<StoredModel> model = LoadVersion(*it, &digest);
    if (!model.ok()) {
      FEDGE_LOG(kWarning, "model store: skipping version %d: %s%s", *it,
                model.status().ToString(),
                current ? "" : "; trying the previous version");
      continue;
    }
    good_.insert(*it);
    if (!current) {
      current = std::make_shared<const StoredModel>(*std::move(model));
      current_digest_ = std::move(digest);
    }
  }
  if (current) {
    FEDGE_LOG(kInfo, "model store %s: current version %d (%d good version(s) on disk)", dir_,
              current->version, good_.size());
  } else {
    FEDGE_LOG(kInfo, "model store %s: no good model on disk, starting empty", dir_);
  }
  absl::MutexLock current_lock(&mu_);
  current_ = std::move(current);
  return absl::OkStatus();
}

absl::StatusOr<StoredModel> ModelStore::LoadVersion(uint64_t version, std::string* digest) const {
  const std::string path = PathOf(version);
  absl::StatusOr<std::string> bytes = fs_->ReadFile(path, options_.max_file_bytes);
  if (!bytes.ok()) return bytes.status();  // names the path already
  absl::StatusOr<ModelFile> file = DecodeModelFile(*bytes, options_.max_file_bytes);
  if (!file.ok()) return Annotate(file.status(), path);
  if (file->version != version) {
    return absl::DataLossError(absl::StrCat(path, ": the header says version ", file->version));
  }
  if (verifier_ != nullptr) {
    absl::Status s = verifier_->Verify(version, file->payload, Bytes(file->signature));
    if (!s.ok()) return Annotate(s, absl::StrCat(path, ": untrusted"));
  }
  *digest = ModelFileDigest(*bytes);
  return StoredModel{version, std::move(file->payload), std::move(file->signature)};
}

absl::Status ModelStore::Commit(uint64_t version, protocol::ModelPayload payload,
                                std::string signature) {
  absl::MutexLock lock(&commit_mu_);
  if (verifier_ != nullptr) {
    absl::Status s = verifier_->Verify(version, payload, Bytes(signature));
    if (!s.ok()) {
      return Annotate(s, absl::StrCat("model store: version ", version, " refused"));
    }
  }
  std::shared_ptr<const StoredModel> current;
  {
    absl::MutexLock current_lock(&mu_);
    current = current_;
  }
  if (current && version < current->version) {
    return absl::FailedPreconditionError(
        absl::StrCat("model store: version ", version, " is older than the current version ",
                     current->version, "; refusing to roll back"));
  }
  FEDGE_ASSIGN_OR_RETURN(std::string bytes, EncodeModelFile(version, payload, signature));
  if (bytes.size() > options_.max_file_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("model store: version ", version, " needs a ", bytes.size(),
                     "-byte file, more than the limit of ", options_.max_file_bytes));
  }
  std::string digest = ModelFileDigest(bytes);
  if (current && version == current->version) {
    if (digest == current_digest_) return absl::OkStatus();
    return absl::AlreadyExistsError(absl::StrCat(
        "model store: version ", version, " is already stored with different contents"));
  }
  FEDGE_RETURN_IF_ERROR(WriteVersion(version, bytes));
  files_.insert(version);
  good_.insert(version);
  current_digest_ = std::move(digest);
  auto model = std::make_shared<const StoredModel>(
      StoredModel{version, std::move(payload), std::move(signature)});
  {
    absl::MutexLock current_lock(&mu_);
    current_ = std::move(model);
  }
  RemoveOldVersions();
  return absl::OkStatus();
}

absl::Status ModelStore::WriteVersion(uint64_t version, absl::string_view bytes) {
  const std::string path = PathOf(version);
  const std::string tmp = absl::StrCat(path, kTempSuffix);
  // 1-2. The whole file under a temporary name, fsynced, then atomically
  //      given its real name.
  absl::Status s = WriteAndRename(*fs_, tmp, path, bytes);
  if (!s.ok()) return Annotate(s, absl::StrCat("model store: writing version ", version));
  // 3. Make the new name durable: from here on the version survives a crash.
  s = fs_->SyncDir(dir_);
  if (!s.ok()) {
    // Not acknowledged, so do not leave it to become current at the next
    // Open (if a crash undoes this removal, it is still a complete file).
    fs_->Remove(path).IgnoreError();
    return Annotate(s, absl::StrCat("model store: making version ", version, " durable"));
  }
  return absl::OkStatus();
}

void ModelStore::RemoveOldVersions() {
  if (good_.empty()) return;
  // The oldest of the newest `keep` good versions; every file older goes,
  // good or corrupt. No directory fsync: a removal a crash undoes is redone
  // by a later Commit.
  auto oldest_kept = good_.rbegin();
  for (size_t i = 1; i < options_.keep && std::next(oldest_kept) != good_.rend(); ++i) {
    ++oldest_kept;
  }
  const uint64_t threshold = *oldest_kept;
  for (auto it = files_.begin(); it != files_.end() && *it < threshold;) {
    const uint64_t version = *it;
    absl::Status s = fs_->Remove(PathOf(version));
    if (!s.ok() && !absl::IsNotFound(s)) {
      FEDGE_LOG(kWarning, "model store: cannot remove old version %d: %s", version,
                s.ToString());
      ++it;
      continue;
    }
    good_.erase(version);
    it = files_.erase(it);
  }
}

absl::StatusOr<std::shared_ptr<const StoredModel>> ModelStore::Current() const {
  absl::MutexLock lock(&mu_);
  if (!current_) {
    return absl::NotFoundError(absl::StrCat("model store ", dir_, ": no model stored"));
  }
  return current_;
}

std::vector<uint64_t> ModelStore::versions() const {
  absl::MutexLock lock(&commit_mu_);
  return std::vector<uint64_t>(good_.begin(), good_.end());
}

}  // namespace fedge::client
