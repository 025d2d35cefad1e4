#ifndef FEDGE_BASE_WAKE_FD_H_
#define FEDGE_BASE_WAKE_FD_H_

// A wake-up a worker thread gives an event loop: an eventfd the loop polls
// (zmq_poll takes it next to its sockets) and any thread may signal. Signals
// given before the loop drains coalesce into one readiness, so a worker may
// signal once per result without counting.
//
// One write and one read per wake-up: cheap enough for every training task
// of a process hosting thousands of clients, unlike an inproc ZeroMQ socket
// made per wake-up (a socket, its own eventfd and the reaper thread each
// time).

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fedge {

class WakeFd {
 public:
  // Internal naming `what` if the kernel refuses an eventfd (out of
  // descriptors).
  static absl::StatusOr<WakeFd> Create(absl::string_view what);

  WakeFd(WakeFd&& other) noexcept;
  WakeFd& operator=(WakeFd&& other) noexcept;
  WakeFd(const WakeFd&) = delete;
  WakeFd& operator=(const WakeFd&) = delete;
  ~WakeFd();

  // Any thread. False if the write failed (only when the counter would
  // overflow, i.e. never in practice); the loop then learns of the work at
  // its next regular wake-up.
  bool Signal() const;
  // The loop, when fd() polled readable: clears the readiness. Nonblocking.
  void Drain() const;
  // Readable (POLLIN) while a signal waits to be drained.
  int fd() const { return fd_; }

 private:
  explicit WakeFd(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace fedge

#endif  // FEDGE_BASE_WAKE_FD_H_
