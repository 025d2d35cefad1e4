#include "ops/control_channel.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace fedge::ops {

const char* CommandName(Command c) {
  switch (c) {
    case Command::kPause: return "pause";
    case Command::kResume: return "resume";
    case Command::kStop: return "stop";
    case Command::kListClients: return "clients";
    case Command::kExportModel: return "model";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<ControlChannel>> ControlChannel::Create(size_t max_pending) {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  return std::unique_ptr<ControlChannel>(new ControlChannel(fd, max_pending));
}

ControlChannel::~ControlChannel() {
  // Callers still waiting get a broken promise, not a hang.
  absl::MutexLock lock(&mu_);
  pending_.clear();
  ::close(wake_fd_);
}

absl::StatusOr<CommandReply> ControlChannel::Call(Command command, absl::Duration timeout) {
  auto p = std::make_shared<Pending>();
  p->command = command;
  std::future<CommandReply> reply = p->reply.get_future();
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return absl::UnavailableError("the coordinator has stopped serving");
    if (pending_.size() >= max_pending_) {
      return absl::UnavailableError(
          absl::StrCat(max_pending_, " control requests are already waiting for the coordinator"));
    }
    pending_.push_back(std::move(p));
  }
  const uint64_t one = 1;
  // Nonblocking: the counter cannot realistically overflow; a failed write
  // leaves the command for the loop's next regular wake-up (<= 100 ms).
  (void)!::write(wake_fd_, &one, sizeof(one));
  if (reply.wait_for(absl::ToChronoNanoseconds(timeout)) != std::future_status::ready) {
    return absl::DeadlineExceededError(absl::StrCat("the coordinator did not answer '",
                                                    CommandName(command), "' within ",
                                                    absl::FormatDuration(timeout)));
  }
  try {
    return reply.get();
  } catch (const std::future_error&) {
    return absl::UnavailableError("the coordinator is shutting down");
  }
}

void ControlChannel::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  pending_.clear();  // their callers see a broken promise: Unavailable
}

void ControlChannel::Serve(const std::function<CommandReply(Command)>& handler) {
  uint64_t count;
  (void)!::read(wake_fd_, &count, sizeof(count));  // resets the counter
  std::deque<std::shared_ptr<Pending>> todo;
  {
    absl::MutexLock lock(&mu_);
    todo.swap(pending_);
  }
  for (const std::shared_ptr<Pending>& p : todo) p->reply.set_value(handler(p->command));
}

}  // namespace fedge::ops
