#ifndef FEDGE_TESTS_INTEGRATION_PROCESS_TEST_UTIL_H_
#define FEDGE_TESTS_INTEGRATION_PROCESS_TEST_UTIL_H_

// Helpers for tests that run the real binaries.

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "simulations/results.h"
#include "simulations/subprocess.h"

namespace fedge::testing {

inline std::string Bin(const std::string& name) { return std::string(FEDGE_BIN_DIR) + "/" + name; }

// A pipe whose ends close themselves.
struct Pipe {
  int read = -1, write = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) == 0) {
      read = fds[0];
      write = fds[1];
    }
  }
  ~Pipe() {
    CloseRead();
    CloseWrite();
  }
  void CloseRead() { if (read >= 0) ::close(read), read = -1; }
  void CloseWrite() { if (write >= 0) ::close(write), write = -1; }
};

// Starts fedge-coordinator with `flags` plus --listen and --ready_fd, and
// returns the bound endpoint through `endpoint`. `flags` must choose the
// transport: --insecure, or --key_file and --allowlist.
inline sim::Subprocess StartCoordinator(const std::string& listen,
                                        const std::vector<std::string>& flags,
                                        std::string* endpoint, int stdout_fd = -1,
                                        int stderr_fd = -1) {
  Pipe ready;
  std::vector<std::string> argv = {Bin("fedge-coordinator"), "--listen=" + listen,
                                   absl::StrCat("--ready_fd=", ready.write)};
  argv.insert(argv.end(), flags.begin(), flags.end());
  absl::StatusOr<sim::Subprocess> p =
      sim::Subprocess::Start(argv, {"OMP_NUM_THREADS=1"}, ready.write, stdout_fd, stderr_fd);
  EXPECT_TRUE(p.ok()) << p.status();
  ready.CloseWrite();
  absl::StatusOr<std::string> line = sim::ReadLineWithTimeout(ready.read, absl::Seconds(60));
  EXPECT_TRUE(line.ok()) << line.status();
  *endpoint = line.ok() ? *line : "";
  return *std::move(p);
}

// Starts fedge-gateway with `flags` plus --listen and --ready_fd; its bound
// device endpoint into `endpoint`.
inline sim::Subprocess StartGateway(const std::string& listen,
                                    const std::vector<std::string>& flags,
                                    std::string* endpoint, int stderr_fd = -1) {
  Pipe ready;
  std::vector<std::string> argv = {Bin("fedge-gateway"), "--listen=" + listen,
                                   absl::StrCat("--ready_fd=", ready.write)};
  argv.insert(argv.end(), flags.begin(), flags.end());
  absl::StatusOr<sim::Subprocess> p =
      sim::Subprocess::Start(argv, {"OMP_NUM_THREADS=1"}, ready.write, -1, stderr_fd);
  EXPECT_TRUE(p.ok()) << p.status();
  ready.CloseWrite();
  absl::StatusOr<std::string> line = sim::ReadLineWithTimeout(ready.read, absl::Seconds(60));
  EXPECT_TRUE(line.ok()) << line.status();
  *endpoint = line.ok() ? *line : "";
  return *std::move(p);
}

inline sim::Subprocess StartClient(const std::vector<std::string>& flags, int stderr_fd = -1) {
  std::vector<std::string> argv = {Bin("fedge-client")};
  argv.insert(argv.end(), flags.begin(), flags.end());
  absl::StatusOr<sim::Subprocess> p =
      sim::Subprocess::Start(argv, {"OMP_NUM_THREADS=1"}, -1, -1, stderr_fd);
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

// A file a child's stdout or stderr goes to, read back at any time.
class CapturedOutput {
 public:
  explicit CapturedOutput(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    EXPECT_GE(fd_, 0) << path_;
  }
  ~CapturedOutput() {
    if (fd_ >= 0) ::close(fd_);
  }
  CapturedOutput(const CapturedOutput&) = delete;
  CapturedOutput& operator=(const CapturedOutput&) = delete;
  // The descriptor to give the child.
  int fd() const { return fd_; }
  std::string Read() const {
    absl::StatusOr<std::string> s = ReadFile(path_);
    return s.ok() ? *s : std::string();
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// Waits for exit, killing the process if it overstays `timeout`.
inline sim::ExitInfo Finish(sim::Subprocess& p, absl::Duration timeout) {
  std::optional<sim::ExitInfo> e = p.Wait(timeout);
  if (!e) {
    ADD_FAILURE() << "process " << p.pid() << " did not exit within "
                  << absl::FormatDuration(timeout);
    p.Kill(SIGKILL);
    e = p.Wait();
  }
  return *e;
}

// Runs `argv` (fedge-sim and its flags, `--out` among them) to a successful
// exit within `timeout` and returns the rounds of `out`/metrics.jsonl (empty,
// with the failure recorded, when anything went wrong).
inline std::vector<sim::RoundRow> RunSimulation(const std::vector<std::string>& argv,
                                                const std::string& out,
                                                absl::Duration timeout = absl::Minutes(5)) {
  absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(argv);
  EXPECT_TRUE(p.ok()) << p.status();
  if (!p.ok()) return {};
  sim::ExitInfo e = Finish(*p, timeout);
  EXPECT_TRUE(e.ok()) << e.ToString();
  absl::StatusOr<std::vector<sim::RoundRow>> rows = sim::ReadMetrics(out + "/metrics.jsonl");
  EXPECT_TRUE(rows.ok()) << rows.status();
  return rows.ok() ? *rows : std::vector<sim::RoundRow>{};
}

}  // namespace fedge::testing

#endif  // FEDGE_TESTS_INTEGRATION_PROCESS_TEST_UTIL_H_
