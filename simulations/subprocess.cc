#include "simulations/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace fedge::sim {

std::string ExitInfo::ToString() const {
  if (signal != 0) return absl::StrCat("killed by signal ", signal);
  return absl::StrCat("exit code ", exit_code);
}

absl::StatusOr<Subprocess> Subprocess::Start(const std::vector<std::string>& argv,
                                             const std::vector<std::string>& extra_env,
                                             int pass_fd, int stdout_fd, int stderr_fd) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
  for (const std::string& e : extra_env) env_storage.push_back(e);
  std::vector<char*> env;
  for (std::string& e : env_storage) env.push_back(e.data());
  env.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) return absl::ResourceExhaustedError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    if (stdout_fd >= 0) ::dup2(stdout_fd, STDOUT_FILENO);
    if (stderr_fd >= 0) ::dup2(stderr_fd, STDERR_FILENO);
    if (pass_fd >= 0) {
      int flags = ::fcntl(pass_fd, F_GETFD);
      ::fcntl(pass_fd, F_SETFD, flags & ~FD_CLOEXEC);
    }
    // Die with the parent so an aborted simulation leaves nothing behind.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::execve(args[0], args.data(), env.data());
    const char msg[] = "fedge: execve failed\n";
    ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)ignored;
    ::_exit(127);
  }
  return Subprocess(pid);
}

std::optional<ExitInfo> Subprocess::Wait(std::optional<absl::Duration> timeout) {
  if (reaped_) return info_;
  const absl::Time deadline = timeout ? absl::Now() + *timeout : absl::InfiniteFuture();
  absl::Duration backoff = absl::Milliseconds(1);
  while (true) {
    int status = 0;
    struct rusage ru;
    std::memset(&ru, 0, sizeof(ru));
    pid_t r = ::wait4(pid_, &status, timeout ? WNOHANG : 0, &ru);
    if (r == pid_) {
      reaped_ = true;
      info_.max_rss_kb = ru.ru_maxrss;
      if (WIFEXITED(status)) info_.exit_code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) info_.signal = WTERMSIG(status);
      return info_;
    }
    if (r < 0 && errno != EINTR) {
      reaped_ = true;
      return info_;
    }
    if (absl::Now() >= deadline) return std::nullopt;
    // No portable way to wait for one child with a timeout: poll with a
    // short, growing interval (this is process supervision, not a test race).
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Milliseconds(50));
  }
}

void Subprocess::Kill(int signal) {
  if (!reaped_) ::kill(pid_, signal);
}

absl::StatusOr<std::string> ReadLineWithTimeout(int fd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string line;
  while (true) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("timed out waiting for a line");
    }
    struct pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n == 0) return absl::UnavailableError("closed before a full line");
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(std::strerror(errno));
    }
    if (c == '\n') return line;
    line += c;
  }
}

StderrTee::StderrTee() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  thread_ = std::thread([this] { Loop(); });
}

StderrTee::~StderrTee() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  CloseWriteEnd();
  if (read_fd_ >= 0) ::close(read_fd_);
}

void StderrTee::CloseWriteEnd() {
  if (write_fd_ >= 0) ::close(write_fd_);
  write_fd_ = -1;
}

std::string StderrTee::last_error() const {
  absl::MutexLock lock(&mu_);
  return last_error_.empty() ? last_line_ : last_error_;
}

void StderrTee::Loop() {
  std::string pending;
  char buf[4096];
  while (!stop_.load()) {
    // Polled with a timeout so the destructor can stop a thread whose child
    // (or a grandchild holding the pipe) never closes it.
    pollfd p{read_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::read(read_fd_, buf, sizeof(buf));
    if (n == 0) break;  // every writer closed it
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      break;
    }
    ssize_t ignored = ::write(STDERR_FILENO, buf, static_cast<size_t>(n));
    (void)ignored;
    pending.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line.empty()) continue;
      // fedge log lines: "HH:MM:SS.mmm L [tag] message".
      const bool error = line.size() > 14 && (line[13] == 'E' || line[13] == 'F') && line[14] == ' ';
      absl::MutexLock lock(&mu_);
      if (error) last_error_ = line;
      last_line_ = line;
    }
  }
}

absl::StatusOr<Subprocess> StartWithReadyFd(std::vector<std::string> argv,
                                            const std::vector<std::string>& env,
                                            std::string* line, absl::Duration timeout,
                                            int stderr_fd, std::string* second_line) {
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  argv.push_back(absl::StrCat("--ready_fd=", ready[1]));
  absl::StatusOr<Subprocess> child = Subprocess::Start(argv, env, ready[1], -1, stderr_fd);
  ::close(ready[1]);
  if (!child.ok()) {
    ::close(ready[0]);
    return child.status();
  }
  absl::StatusOr<std::string> got = ReadLineWithTimeout(ready[0], timeout);
  if (got.ok() && second_line != nullptr) {
    // Written with the first; EOF (no second line) comes as fast.
    absl::StatusOr<std::string> more = ReadLineWithTimeout(ready[0], timeout);
    *second_line = more.ok() ? *more : std::string();
  }
  ::close(ready[0]);
  if (!got.ok()) {
    child->Kill(SIGKILL);
    std::optional<ExitInfo> e = child->Wait();
    return absl::InternalError(absl::StrCat(argv[0], " did not start (",
                                            e ? e->ToString() : "?", ")"));
  }
  *line = *got;
  return child;
}

}  // namespace fedge::sim
