#ifndef FEDGE_OPS_CONTROL_CHANNEL_H_
#define FEDGE_OPS_CONTROL_CHANNEL_H_

// Commands from the HTTP threads (fedge-ctl, the API) to the coordinator's
// thread, which alone may touch the Coordinator. A caller posts a command and
// waits, with a timeout, for the loop's reply; the loop is woken through an
// eventfd it polls next to its socket, and answers every pending command in
// one go. The queue is bounded: a flood of requests is refused as
// Unavailable instead of piling work onto the round loop.

#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/wake_fd.h"

namespace fedge::ops {

enum class Command { kPause, kResume, kStop, kListClients, kExportModel };

// "pause", "resume", "stop", "clients", "model".
const char* CommandName(Command c);

struct CommandReply {
  int http_status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Extra response headers (e.g. the exported model's version).
  std::vector<std::pair<std::string, std::string>> headers;
};

class ControlChannel {
 public:
  // Internal when the eventfd cannot be made.
  static absl::StatusOr<std::unique_ptr<ControlChannel>> Create(size_t max_pending = 16);
  ~ControlChannel();

  // Any thread: posts `command` and waits up to `timeout` for the reply.
  // Unavailable when the queue is full, DeadlineExceeded when the loop did
  // not answer in time (it still will; the reply is then dropped).
  absl::StatusOr<CommandReply> Call(Command command, absl::Duration timeout);

  // The loop's side: readable while commands are pending.
  int wake_fd() const { return wake_.fd(); }
  // Answers every pending command with `handler`, on the calling thread.
  void Serve(const std::function<CommandReply(Command)>& handler);
  // The loop is gone: pending and later calls fail at once as Unavailable.
  void Close();

 private:
  struct Pending {
    Command command;
    std::promise<CommandReply> reply;
  };
  ControlChannel(WakeFd wake, size_t max_pending)
      : wake_(std::move(wake)), max_pending_(max_pending) {}

  const WakeFd wake_;
  const size_t max_pending_;
  absl::Mutex mu_;
  std::deque<std::shared_ptr<Pending>> pending_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace fedge::ops

#endif  // FEDGE_OPS_CONTROL_CHANNEL_H_
