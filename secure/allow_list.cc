#include "secure/allow_list.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "secure/key_files.h"

namespace fedge::secure {
namespace {

constexpr size_t kMaxAllowListBytes = 16 << 20;

// A short, printable name for a public key in messages.
std::string ShortKey(const X25519PublicKey& key) {
  return PublicKeyHex(absl::MakeConstSpan(key).subspan(0, 4)) + "...";
}

absl::Status ParseClientIds(absl::string_view text, std::vector<uint64_t>* ids) {
  std::set<uint64_t> seen;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    uint64_t id = 0;
    if (item.empty() || item.size() > 20 ||
        !std::all_of(item.begin(), item.end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(item, &id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "client ids must be decimal numbers separated by commas (item ", ids->size() + 1,
          " is not)"));
    }
    if (!seen.insert(id).second) {
      return absl::InvalidArgumentError(absl::StrCat("client id ", id, " is listed twice"));
    }
    ids->push_back(id);
  }
  std::sort(ids->begin(), ids->end());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AllowList> AllowList::Parse(absl::string_view text, absl::string_view origin) {
  AllowList list;
  std::map<X25519PublicKey, int> key_line;
  std::map<uint64_t, std::pair<X25519PublicKey, int>> owner;
  int line_no = 0;
  for (absl::string_view rest = text; !rest.empty();) {
    const size_t nl = rest.find('\n');
    absl::string_view line = rest.substr(0, nl);
    rest = nl == absl::string_view::npos ? absl::string_view() : rest.substr(nl + 1);
    ++line_no;
    if (const size_t hash = line.find('#'); hash != absl::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    const std::string where = absl::StrCat(origin, ":", line_no, ": ");
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "want '<64-hex public key> <client_id>[,<client_id>...]', found ",
          fields.size(), " fields"));
    }
    absl::StatusOr<std::array<uint8_t, 32>> key = ParsePublicKeyHex(fields[0]);
    if (!key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "public key: ", key.status().message()));
    }
    std::vector<uint64_t> ids;
    absl::Status s = ParseClientIds(fields[1], &ids);
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(where, s.message()));
    if (auto it = key_line.find(*key); it != key_line.end()) {
      return absl::InvalidArgumentError(absl::StrCat(where, "key ", ShortKey(*key),
                                                     " is already enrolled on line ", it->second));
    }
    for (uint64_t id : ids) {
      if (auto it = owner.find(id); it != owner.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "client id ", id, " is already enrolled for key ",
                         ShortKey(it->second.first), " on line ", it->second.second));
      }
      owner[id] = {*key, line_no};
    }
    key_line[*key] = line_no;
    for (uint64_t id : ids) list.by_client_[id] = *key;
    list.by_key_[*key] = std::move(ids);
  }
  return list;
}

const std::vector<uint64_t>* AllowList::Find(const X25519PublicKey& key) const {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : &it->second;
}

bool AllowList::IsEnrolled(const X25519PublicKey& key, uint64_t client_id) const {
  const std::vector<uint64_t>* ids = Find(key);
  return ids != nullptr && std::binary_search(ids->begin(), ids->end(), client_id);
}

const X25519PublicKey* AllowList::KeyFor(uint64_t client_id) const {
  auto it = by_client_.find(client_id);
  return it == by_client_.end() ? nullptr : &it->second;
}

std::string AllowList::FormatLine(const X25519PublicKey& key,
                                  absl::Span<const uint64_t> client_ids) {
  return absl::StrCat(PublicKeyHex(key), " ", absl::StrJoin(client_ids, ","));
}

// ---- AllowListFile -----------------------------------------------------------

absl::StatusOr<std::unique_ptr<AllowListFile>> AllowListFile::Open(const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(FileStamp stamp, StatFile(path));
  FEDGE_ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxAllowListBytes));
  FEDGE_ASSIGN_OR_RETURN(AllowList list, AllowList::Parse(text, path));
  return std::unique_ptr<AllowListFile>(new AllowListFile(
      path, std::make_shared<const AllowList>(std::move(list)), stamp));
}

absl::Status AllowListFile::ReloadIfChanged(bool force) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<FileStamp> stamp = StatFile(path_);
  if (!stamp.ok()) {
    // Log once per disappearance, not on every handshake.
    if (stamp_ != FileStamp{}) {
      FEDGE_LOG(kError, "allow-list %s: %s; keeping the previous list (%d devices)", path_,
                stamp.status().ToString(), list_->size());
      stamp_ = FileStamp{};
    }
    last_error_ = stamp.status();
    return last_error_;
  }
  if (!force && *stamp == stamp_) return last_error_;
  // Remember the attempt whatever its outcome, so a broken file is reported
  // once rather than on every handshake until it changes again.
  stamp_ = *stamp;
  absl::StatusOr<std::string> text = ReadFile(path_, kMaxAllowListBytes);
  absl::StatusOr<AllowList> list =
      text.ok() ? AllowList::Parse(*text, path_) : absl::StatusOr<AllowList>(text.status());
  if (!list.ok()) {
    FEDGE_LOG(kError, "allow-list reload failed, keeping the previous list (%d devices): %s",
              list_->size(), list.status().ToString());
    last_error_ = list.status();
    return last_error_;
  }
  last_error_ = absl::OkStatus();
  list_ = std::make_shared<const AllowList>(*std::move(list));
  ++reloads_;
  FEDGE_LOG(kInfo, "allow-list %s reloaded: %d devices", path_, list_->size());
  return absl::OkStatus();
}

std::shared_ptr<const AllowList> AllowListFile::Current() const {
  absl::MutexLock lock(&mu_);
  return list_;
}

uint64_t AllowListFile::reloads() const {
  absl::MutexLock lock(&mu_);
  return reloads_;
}

// ---- Enrolment ------------------------------------------------------------------

absl::Status EnrolDevice(const std::string& path, const X25519PublicKey& key,
                         absl::Span<const uint64_t> client_ids) {
  if (client_ids.empty()) return absl::InvalidArgumentError("enrol: no client ids given");
  std::set<uint64_t> unique(client_ids.begin(), client_ids.end());
  if (unique.size() != client_ids.size()) {
    return absl::InvalidArgumentError("enrol: a client id is given twice");
  }
  // Serialise read-check-write against other enrolments. The lock is on a
  // side file because the list itself is replaced by rename.
  const std::string lock_path = path + ".lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat("enrol: cannot open lock file ", lock_path));
  }
  struct Unlock {
    int fd;
    ~Unlock() { ::close(fd); }  // also releases the flock
  } unlock{lock_fd};
  if (::flock(lock_fd, LOCK_EX) != 0) {
    return absl::InternalError(absl::StrCat("enrol: cannot lock ", lock_path));
  }

  std::string text;
  mode_t mode = 0644;
  absl::StatusOr<std::string> existing = ReadFile(path, kMaxAllowListBytes);
  if (existing.ok()) {
    text = *std::move(existing);
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) mode = st.st_mode & 07777;
  } else if (!absl::IsNotFound(existing.status())) {
    return existing.status();
  }
  FEDGE_ASSIGN_OR_RETURN(AllowList list, AllowList::Parse(text, path));
  if (const std::vector<uint64_t>* ids = list.Find(key)) {
    return absl::AlreadyExistsError(absl::StrCat("key ", ShortKey(key),
                                                 " is already enrolled in ", path,
                                                 " for client ids ", absl::StrJoin(*ids, ",")));
  }
  for (uint64_t id : client_ids) {
    if (const X25519PublicKey* owner = list.KeyFor(id)) {
      return absl::AlreadyExistsError(absl::StrCat("client id ", id, " is already enrolled in ",
                                                   path, " for key ", ShortKey(*owner)));
    }
  }
  std::vector<uint64_t> sorted(client_ids.begin(), client_ids.end());
  std::sort(sorted.begin(), sorted.end());
  const std::string line = AllowList::FormatLine(key, sorted);
  // Check the combined file exactly as the coordinator will read it.
  if (!text.empty() && text.back() != '\n') text.push_back('\n');
  text += line;
  text.push_back('\n');
  absl::StatusOr<AllowList> combined = AllowList::Parse(text, path);
  if (!combined.ok()) {
    return absl::AlreadyExistsError(absl::StrCat("enrol: ", combined.status().message()));
  }
  return WriteFileAtomically(path, text, mode);
}

}  // namespace fedge::secure
