#include "tests/testing/fake_file_system.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace fedge::testing {
namespace {

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

class FakeFileSystem::File final : public WritableFile {
 public:
  File(FakeFileSystem* fs, NodePtr node, std::string path, uint64_t generation)
      : fs_(fs), node_(std::move(node)), path_(std::move(path)), generation_(generation) {}

  absl::Status Append(absl::string_view data) override {
    absl::MutexLock lock(&fs_->mu_);
    if (absl::Status s = Begin("write"); !s.ok()) return s;
    node_->data.append(data.data(), data.size());
    return absl::OkStatus();
  }
  absl::Status Sync() override {
    absl::MutexLock lock(&fs_->mu_);
    if (absl::Status s = Begin("fsync"); !s.ok()) return s;
    node_->durable = node_->data;
    return absl::OkStatus();
  }
  absl::Status Close() override {
    absl::MutexLock lock(&fs_->mu_);
    if (absl::Status s = Begin("close"); !s.ok()) return s;
    closed_ = true;
    return absl::OkStatus();
  }

 private:
  absl::Status Begin(absl::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(fs_->mu_) {
    if (absl::Status s = fs_->BeginOp(what, path_); !s.ok()) return s;
    if (closed_) return absl::FailedPreconditionError(absl::StrCat(path_, " is already closed"));
    if (generation_ != fs_->generation_) {
      return absl::FailedPreconditionError(
          absl::StrCat(path_, " was opened before a power cycle"));
    }
    return absl::OkStatus();
  }

  FakeFileSystem* const fs_;
  const NodePtr node_;
  const std::string path_;
  const uint64_t generation_;
  bool closed_ = false;
};

int64_t FakeFileSystem::operation_count() const {
  absl::MutexLock lock(&mu_);
  return ops_;
}

void FakeFileSystem::FailOperation(int64_t op, absl::Status error) {
  absl::MutexLock lock(&mu_);
  failures_[op] = std::move(error);
}

void FakeFileSystem::CrashAtOperation(int64_t op) {
  absl::MutexLock lock(&mu_);
  crash_at_ = op;
}

bool FakeFileSystem::crashed() const {
  absl::MutexLock lock(&mu_);
  return crashed_;
}

absl::Status FakeFileSystem::BeginOp(absl::string_view what, const std::string& path) {
  const int64_t op = ops_++;
  if (op == crash_at_) crashed_ = true;
  if (crashed_) {
    return absl::UnavailableError(
        absl::StrCat("power lost (operation ", op, ": ", what, " ", path, ")"));
  }
  auto it = failures_.find(op);
  if (it != failures_.end()) {
    return absl::Status(it->second.code(), absl::StrCat(what, " ", path, ": ",
                                                        it->second.message()));
  }
  return absl::OkStatus();
}

void FakeFileSystem::Apply(const DirOp& op, Namespace* ns) {
  switch (op.kind) {
    case DirOp::kLink:
      (*ns)[op.path] = op.node;
      break;
    case DirOp::kUnlink:
      ns->erase(op.path);
      break;
    case DirOp::kRename:
      ns->erase(op.path);
      (*ns)[op.to] = op.node;
      break;
  }
}

std::string FakeFileSystem::Survivor(const Node& node, CrashLoss loss) {
  if (node.data == node.durable) return node.data;
  // Unsynced appends extend the durable contents; a truncation does not.
  const bool extends = node.data.compare(0, node.durable.size(), node.durable) == 0;
  const size_t synced = extends ? node.durable.size() : 0;
  switch (loss) {
    case CrashLoss::kLoseAll:
      return node.durable;
    case CrashLoss::kKeepAll:
      return node.data;
    case CrashLoss::kZeroTail: {
      std::string s = node.data;
      std::fill(s.begin() + static_cast<std::ptrdiff_t>(synced), s.end(), '\0');
      return s;
    }
    case CrashLoss::kRandom: {
      const size_t keep = synced + rng_() % (node.data.size() - synced + 1);
      std::string s = node.data.substr(0, keep);
      if (rng_() % 3 == 0) s.resize(node.data.size(), '\0');  // size reached disk, data did not
      return s;
    }
  }
  return node.durable;
}

void FakeFileSystem::PowerCycle(CrashLoss loss) {
  absl::MutexLock lock(&mu_);
  for (auto& [dir, ops] : pending_) {
    size_t n = 0;
    switch (loss) {
      case CrashLoss::kLoseAll: n = 0; break;
      case CrashLoss::kKeepAll:
      case CrashLoss::kZeroTail: n = ops.size(); break;
      case CrashLoss::kRandom: n = rng_() % (ops.size() + 1); break;
    }
    for (size_t i = 0; i < n; ++i) Apply(ops[i], &durable_);
  }
  pending_.clear();
  live_ = durable_;
  std::set<Node*> done;
  for (auto& [path, node] : live_) {
    if (!done.insert(node.get()).second) continue;
    node->data = Survivor(*node, loss);
    node->durable = node->data;
  }
  ++generation_;
  crashed_ = false;
  crash_at_ = -1;
  failures_.clear();
}

std::optional<std::string> FakeFileSystem::Contents(const std::string& path) const {
  absl::MutexLock lock(&mu_);
  auto it = live_.find(path);
  if (it == live_.end()) return std::nullopt;
  return it->second->data;
}

void FakeFileSystem::SetContents(const std::string& path, std::string data) {
  absl::MutexLock lock(&mu_);
  for (std::string d = Parent(path); d != "." && d != "/"; d = Parent(d)) dirs_.insert(d);
  auto node = std::make_shared<Node>(Node{data, data});
  live_[path] = node;
  durable_[path] = node;
}

std::vector<std::string> FakeFileSystem::Paths() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [path, node] : live_) out.push_back(path);
  return out;
}

absl::StatusOr<std::unique_ptr<WritableFile>> FakeFileSystem::NewWritableFile(
    const std::string& path, mode_t /*mode*/) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp("create", path); !s.ok()) return s;
  const std::string dir = Parent(path);
  if (dirs_.count(dir) == 0) {
    return absl::NotFoundError(absl::StrCat("create ", path, ": no directory ", dir));
  }
  NodePtr& node = live_[path];
  if (node) {
    node->data.clear();  // O_TRUNC: same file, no directory change
  } else {
    node = std::make_shared<Node>();
    pending_[dir].push_back(DirOp{DirOp::kLink, path, "", node});
  }
  return std::unique_ptr<WritableFile>(new File(this, node, path, generation_));
}

absl::Status FakeFileSystem::Rename(const std::string& from, const std::string& to) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp("rename", from + " to " + to); !s.ok()) return s;
  auto it = live_.find(from);
  if (it == live_.end()) return absl::NotFoundError(absl::StrCat("rename ", from, ": no such file"));
  if (Parent(from) != Parent(to)) {
    return absl::UnimplementedError("FakeFileSystem renames only within one directory");
  }
  NodePtr node = it->second;
  live_.erase(it);
  live_[to] = node;
  pending_[Parent(to)].push_back(DirOp{DirOp::kRename, from, to, node});
  return absl::OkStatus();
}

absl::Status FakeFileSystem::SyncDir(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp("fsync directory", dir); !s.ok()) return s;
  if (dirs_.count(dir) == 0) return absl::NotFoundError(absl::StrCat("no directory ", dir));
  for (const DirOp& op : pending_[dir]) Apply(op, &durable_);
  pending_.erase(dir);
  return absl::OkStatus();
}

absl::StatusOr<std::string> FakeFileSystem::ReadFile(const std::string& path, size_t max_bytes) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp("read", path); !s.ok()) return s;
  auto it = live_.find(path);
  if (it == live_.end()) return absl::NotFoundError(absl::StrCat("open ", path, ": no such file"));
  if (it->second->data.size() > max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(path, " is ", it->second->data.size(),
                                                     " bytes, more than ", max_bytes));
  }
  return it->second->data;
}

absl::StatusOr<std::vector<std::string>> FakeFileSystem::ListDir(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp("list directory", dir); !s.ok()) return s;
  if (dirs_.count(dir) == 0) return absl::NotFoundError(absl::StrCat("no directory ", dir));
  std::vector<std::string> names;
  const std::string prefix = dir + "/";
  for (const auto& [path, node] : live_) {
    if (Parent(path) == dir) names.push_back(path.substr(prefix.size()));
  }
  for (const std::string& d : dirs_) {
    if (Parent(d) == dir) names.push_back(d.substr(prefix.size()));
  }
  return names;
}

absl::Status FakeFileSystem::Remove(const std::string& path) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp("remove", path); !s.ok()) return s;
  if (live_.erase(path) == 0) {
    return absl::NotFoundError(absl::StrCat("remove ", path, ": no such file"));
  }
  pending_[Parent(path)].push_back(DirOp{DirOp::kUnlink, path, "", nullptr});
  return absl::OkStatus();
}

absl::Status FakeFileSystem::CreateDir(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp("create directory", dir); !s.ok()) return s;
  for (std::string d = dir; d != "." && d != "/"; d = Parent(d)) dirs_.insert(d);
  return absl::OkStatus();
}

}  // namespace fedge::testing
