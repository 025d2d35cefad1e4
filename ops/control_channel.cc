#include "ops/control_channel.h"

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
  absl::StatusOr<WakeFd> wake = WakeFd::Create("control channel");
  if (!wake.ok()) return wake.status();
  return std::unique_ptr<ControlChannel>(new ControlChannel(*std::move(wake), max_pending));
}

ControlChannel::~ControlChannel() {
  // Callers still waiting get a broken promise, not a hang.
  absl::MutexLock lock(&mu_);
  pending_.clear();
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
  // A failed signal (never in practice) leaves the command for the loop's
  // next regular wake-up (<= 100 ms).
  (void)wake_.Signal();
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
  wake_.Drain();
  std::deque<std::shared_ptr<Pending>> todo;
  {
    absl::MutexLock lock(&mu_);
    todo.swap(pending_);
  }
  for (const std::shared_ptr<Pending>& p : todo) p->reply.set_value(handler(p->command));
}

}  // namespace fedge::ops
