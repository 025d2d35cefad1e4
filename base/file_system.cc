#include "base/file_system.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace fedge {
namespace {

// Reads errno; call right after the failing system call.
absl::Status ErrnoStatus(absl::string_view what, const std::string& path) {
  const int err = errno;
  std::string msg = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  switch (err) {
    case ENOENT: return absl::NotFoundError(msg);
    case EACCES:
    case EPERM: return absl::PermissionDeniedError(msg);
    case ENOSPC:
    case EDQUOT: return absl::ResourceExhaustedError(msg);
    case ENOTDIR:
    case EISDIR: return absl::FailedPreconditionError(msg);
    default: return absl::InternalError(msg);
  }
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Append(absl::string_view data) override {
    if (fd_ < 0) return Closed();
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("write", path_);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (fd_ < 0) return Closed();
    if (::fsync(fd_) != 0) return ErrnoStatus("fsync", path_);
    return absl::OkStatus();
  }

  absl::Status Close() override {
    if (fd_ < 0) return Closed();
    const int fd = fd_;
    fd_ = -1;
    // The descriptor is gone even when close reports an error; never retry.
    if (::close(fd) != 0) return ErrnoStatus("close", path_);
    return absl::OkStatus();
  }

 private:
  absl::Status Closed() const {
    return absl::FailedPreconditionError(absl::StrCat(path_, " is already closed"));
  }

  int fd_;
  const std::string path_;
};

}  // namespace

absl::Status WriteAndRename(FileSystem& fs, const std::string& tmp, const std::string& path,
                            absl::string_view bytes, mode_t mode) {
  absl::Status s;
  {
    absl::StatusOr<std::unique_ptr<WritableFile>> file = fs.NewWritableFile(tmp, mode);
    if (!file.ok()) return file.status();
    s = (*file)->Append(bytes);
    if (s.ok()) s = (*file)->Sync();
    absl::Status closed = (*file)->Close();
    if (s.ok()) s = closed;
  }
  if (s.ok()) s = fs.Rename(tmp, path);
  if (!s.ok()) fs.Remove(tmp).IgnoreError();  // stores also remove leftovers when opened
  return s;
}

absl::Status WriteFileDurably(FileSystem& fs, const std::string& path, absl::string_view bytes,
                              mode_t mode) {
  FEDGE_RETURN_IF_ERROR(WriteAndRename(fs, path + ".tmp", path, bytes, mode));
  std::string dir = ".";
  if (size_t slash = path.rfind('/'); slash != std::string::npos) {
    dir = slash == 0 ? "/" : path.substr(0, slash);
  }
  return fs.SyncDir(dir);
}

PosixFileSystem* PosixFileSystem::Default() {
  static PosixFileSystem* fs = new PosixFileSystem();
  return fs;
}

absl::StatusOr<std::unique_ptr<WritableFile>> PosixFileSystem::NewWritableFile(
    const std::string& path, mode_t mode) {
  // Created owner-only, then given `mode`: O_TRUNC keeps the mode of a file
  // that existed (a temporary a crash left), and the umask narrows a new one.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoStatus("create", path);
  if (::fchmod(fd, mode) != 0) {
    absl::Status s = ErrnoStatus("chmod", path);
    ::close(fd);
    return s;
  }
  return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, path));
}

absl::Status PosixFileSystem::Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoStatus("rename", absl::StrCat(from, " to ", to));
  }
  return absl::OkStatus();
}

absl::Status PosixFileSystem::SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open directory", dir);
  absl::Status s;
  if (::fsync(fd) != 0) s = ErrnoStatus("fsync directory", dir);
  ::close(fd);
  return s;
}

absl::StatusOr<std::string> PosixFileSystem::ReadFile(const std::string& path,
                                                      size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", path);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus("stat", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a regular file"));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        path, " is ", st.st_size, " bytes, more than the limit of ", max_bytes));
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read", path);
    }
    if (n == 0) break;  // shrank since fstat: return what is there
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

absl::StatusOr<std::vector<std::string>> PosixFileSystem::ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus("list directory", dir);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      names.emplace_back(e->d_name);
    }
  }
  absl::Status s;
  if (errno != 0) s = ErrnoStatus("list directory", dir);
  ::closedir(d);
  if (!s.ok()) return s;
  return names;
}

absl::Status PosixFileSystem::Remove(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return ErrnoStatus("remove", path);
  return absl::OkStatus();
}

absl::Status PosixFileSystem::CreateDir(const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("CreateDir: empty path");
  // mkdir -p: each prefix ending before a '/', then the whole path.
  for (size_t pos = dir.find('/', 1);; pos = dir.find('/', pos + 1)) {
    const std::string prefix = pos == std::string::npos ? dir : dir.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus("create directory", prefix);
    }
    if (pos == std::string::npos) break;
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus("stat", dir);
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(dir, " exists and is not a directory"));
  }
  return absl::OkStatus();
}

}  // namespace fedge
