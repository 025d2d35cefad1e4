#include "base/wake_fd.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace fedge {

absl::StatusOr<WakeFd> WakeFd::Create(absl::string_view what) {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return absl::InternalError(absl::StrCat(what, ": eventfd: ", std::strerror(errno)));
  return WakeFd(fd);
}

WakeFd::WakeFd(WakeFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

WakeFd& WakeFd::operator=(WakeFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

WakeFd::~WakeFd() {
  if (fd_ >= 0) ::close(fd_);
}

bool WakeFd::Signal() const {
  const uint64_t one = 1;
  return ::write(fd_, &one, sizeof one) == sizeof one;
}

void WakeFd::Drain() const {
  uint64_t count = 0;
  (void)!::read(fd_, &count, sizeof count);  // EAGAIN when nothing was signalled
}

}  // namespace fedge
