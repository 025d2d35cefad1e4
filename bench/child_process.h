#ifndef FEDGE_BENCH_CHILD_PROCESS_H_
#define FEDGE_BENCH_CHILD_PROCESS_H_

// A child process for the benchmarks: argv run with stdout (and optionally
// stdin) on pipes, read line by line with timeouts, its peak RSS from wait4.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/status_macros.h"

namespace fedge::bench {

// "key value" lines a child printed.
using Fields = std::map<std::string, std::string>;

class Child {
 public:
  // Runs argv with stdout (and stdin, if `with_stdin`) on pipes; stderr goes
  // to `stderr_path` (appended). `env` entries are set in the child.
  static absl::StatusOr<std::unique_ptr<Child>> Spawn(
      const std::vector<std::string>& argv, const std::string& stderr_path,
      bool with_stdin = false, const std::vector<std::pair<std::string, std::string>>& env = {}) {
    int out[2], in[2] = {-1, -1};
    if (::pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe");
    if (with_stdin && ::pipe2(in, O_CLOEXEC) != 0) return absl::InternalError("pipe");
    const pid_t pid = ::fork();
    if (pid < 0) return absl::InternalError("fork");
    if (pid == 0) {
      ::dup2(out[1], 1);
      if (with_stdin) ::dup2(in[0], 0);
      const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (err >= 0) ::dup2(err, 2);
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
      ::_exit(127);
    }
    ::close(out[1]);
    if (with_stdin) ::close(in[0]);
    auto c = std::unique_ptr<Child>(new Child());
    c->pid_ = pid;
    c->out_ = out[0];
    c->in_ = in[1];
    c->name_ = argv[0];
    return c;
  }

  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
    if (in_ >= 0) ::close(in_);
  }

  pid_t pid() const { return pid_; }

  absl::Status Send(const std::string& line) {
    const std::string l = line + "\n";
    if (::write(in_, l.data(), l.size()) != static_cast<ssize_t>(l.size())) {
      return absl::InternalError(absl::StrCat("cannot write to ", name_));
    }
    return absl::OkStatus();
  }

  // The next stdout line; DeadlineExceeded after `timeout`, Unavailable at EOF.
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      if (size_t nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
      if (ms <= 0) {
        return absl::DeadlineExceededError(absl::StrCat(name_, ": no output in time"));
      }
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(ms)) <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) return absl::UnavailableError(absl::StrCat(name_, " closed its output"));
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

  // Reads `key value` lines to EOF, then waits: the fields plus the child's
  // peak RSS from wait4 as "child_maxrss_kb". Fails unless it exits 0.
  absl::StatusOr<Fields> Collect(absl::Duration timeout) {
    Fields f;
    for (;;) {
      absl::StatusOr<std::string> line = ReadLine(timeout);
      if (absl::IsUnavailable(line.status())) break;
      if (!line.ok()) return line.status();
      std::vector<std::string> kv = absl::StrSplit(*line, absl::MaxSplits(' ', 1));
      if (kv.size() == 2) f[kv[0]] = kv[1];
    }
    FEDGE_ASSIGN_OR_RETURN(int64_t maxrss, Wait(absl::Seconds(30)));
    f["child_maxrss_kb"] = absl::StrCat(maxrss);
    return f;
  }

  // Waits for exit (SIGTERM after `timeout`, then SIGKILL); returns ru_maxrss
  // in kB. FailedPrecondition unless it exited 0 (or by our SIGTERM).
  absl::StatusOr<int64_t> Wait(absl::Duration timeout, bool terminate_ok = false) {
    const absl::Time deadline = absl::Now() + timeout;
    int status = 0;
    rusage ru{};
    bool signalled = false;
    for (;;) {
      const pid_t r = ::wait4(pid_, &status, WNOHANG, &ru);
      if (r == pid_) break;
      if (absl::Now() > deadline) {
        ::kill(pid_, signalled ? SIGKILL : SIGTERM);
        signalled = true;
        terminate_ok = true;
        continue;
      }
      ::usleep(20000);
    }
    pid_ = -1;
    const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!clean && !terminate_ok) {
      return absl::FailedPreconditionError(absl::StrCat(name_, " failed (status ", status, ")"));
    }
    return static_cast<int64_t>(ru.ru_maxrss);
  }

  void Terminate() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      (void)Wait(absl::Seconds(10), /*terminate_ok=*/true);
    }
  }

 private:
  Child() = default;
  pid_t pid_ = -1;
  int out_ = -1, in_ = -1;
  std::string name_;
  std::string buf_;
};

}  // namespace fedge::bench

#endif  // FEDGE_BENCH_CHILD_PROCESS_H_
