#ifndef FEDGE_SIMULATIONS_SUBPROCESS_H_
#define FEDGE_SIMULATIONS_SUBPROCESS_H_

// Starting and reaping child processes for simulations and integration tests.

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace fedge::sim {

struct ExitInfo {
  int exit_code = -1;     // when exited normally
  int signal = 0;         // when killed by a signal
  long max_rss_kb = 0;    // peak resident set size
  bool ok() const { return signal == 0 && exit_code == 0; }
  std::string ToString() const;
};

class Subprocess {
 public:
  // Starts `argv[0]` (a path) with `argv`. `pass_fd` (if >= 0) stays open in
  // the child; every other descriptor the parent opened is close-on-exec.
  // Environment: the parent's plus `extra_env` ("K=V"). If `stdout_fd` >= 0
  // the child's standard output goes there, and likewise `stderr_fd`.
  static absl::StatusOr<Subprocess> Start(const std::vector<std::string>& argv,
                                          const std::vector<std::string>& extra_env = {},
                                          int pass_fd = -1, int stdout_fd = -1,
                                          int stderr_fd = -1);

  pid_t pid() const { return pid_; }

  // Waits for exit up to `timeout` (infinite if nullopt). nullopt on timeout.
  std::optional<ExitInfo> Wait(std::optional<absl::Duration> timeout = std::nullopt);
  void Kill(int signal);

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  bool reaped_ = false;
  ExitInfo info_;
};

// Copies a child's standard error to this process's, line by line, as it
// comes, and remembers its last error line (a fedge log line of level E or
// F, else the last line), so a supervisor can say why a child exited.
class StderrTee {
 public:
  StderrTee();
  ~StderrTee();  // stops the copying thread (what is still unread is lost)
  StderrTee(const StderrTee&) = delete;
  StderrTee& operator=(const StderrTee&) = delete;

  // The descriptor to give the child as its stderr; -1 when the pipe could
  // not be made (the child then inherits this process's stderr).
  int write_fd() const { return write_fd_; }
  // Call once the child started: the child holds its own copy.
  void CloseWriteEnd();
  // Thread-safe; "" when nothing was written.
  std::string last_error() const;

 private:
  void Loop();
  int read_fd_ = -1, write_fd_ = -1;
  std::atomic<bool> stop_{false};
  mutable absl::Mutex mu_;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  std::string last_line_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// Reads one line from `fd` within `timeout`. DeadlineExceeded or Unavailable (EOF).
absl::StatusOr<std::string> ReadLineWithTimeout(int fd, absl::Duration timeout);

// Starts `argv` plus --ready_fd=N (fedge-coordinator's) and returns it once it
// wrote a line to that descriptor (its bound endpoint, into `*line`). Internal
// (the child killed) when no line comes within `timeout`.
// `stderr_fd` as in Subprocess::Start. With `second_line`, also the line
// after it, if the child writes one before closing the descriptor
// (fedge-coordinator's --http_listen address).
absl::StatusOr<Subprocess> StartWithReadyFd(std::vector<std::string> argv,
                                            const std::vector<std::string>& env,
                                            std::string* line,
                                            absl::Duration timeout = absl::Seconds(60),
                                            int stderr_fd = -1,
                                            std::string* second_line = nullptr);

}  // namespace fedge::sim

#endif  // FEDGE_SIMULATIONS_SUBPROCESS_H_
