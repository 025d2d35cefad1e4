#ifndef FEDGE_TESTS_INTEGRATION_SIM_TEST_UTIL_H_
#define FEDGE_TESTS_INTEGRATION_SIM_TEST_UTIL_H_

// Running fedge-sim from a test and reading what it wrote.

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/file_util.h"
#include "tests/integration/process_test_util.h"

namespace fedge::testing {

inline constexpr char kFashionMnist[] = "/usr/share/datasets/fashion-mnist";

// Starts fedge-sim on Fashion-MNIST (mlp, 3000 examples, iid, output in
// `out`, its stderr and its children's into `out`/sim.log) with `flags` added.
inline sim::Subprocess StartSim(const std::string& out, const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {Bin("fedge-sim"), "--model=mlp",
                                   "--max_examples=3000", "--partition=iid", "--out=" + out,
                                   absl::StrCat("--data_dir=", kFashionMnist), "--timeout=8m"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  const std::string log = out + "/sim.log";
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  EXPECT_GE(fd, 0);
  absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(argv, {}, -1, -1, fd);
  ::close(fd);
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

// Waits for a fedge-sim started by StartSim to succeed; its metrics.jsonl.
inline std::string FinishSim(sim::Subprocess& p, const std::string& out) {
  sim::ExitInfo e = Finish(p, absl::Minutes(9));
  absl::StatusOr<std::string> text = ReadFile(out + "/sim.log");
  EXPECT_TRUE(e.ok()) << e.ToString() << "\n" << (text.ok() ? *text : "");
  absl::StatusOr<std::string> metrics = ReadFile(out + "/metrics.jsonl");
  EXPECT_TRUE(metrics.ok()) << metrics.status();
  return metrics.ok() ? *metrics : "";
}

// Runs fedge-sim to the end; its metrics.jsonl.
inline std::string RunSim(const std::string& out, const std::vector<std::string>& flags) {
  sim::Subprocess p = StartSim(out, flags);
  return FinishSim(p, out);
}

// The value of integer field `key` in each JSON line that has it.
inline std::vector<int64_t> Field(const std::string& jsonl, const std::string& key) {
  std::vector<int64_t> values;
  const std::regex re("\"" + key + "\":([0-9]+)");
  for (absl::string_view line : absl::StrSplit(jsonl, '\n', absl::SkipEmpty())) {
    const std::string s(line);
    std::smatch sm;
    if (std::regex_search(s, sm, re)) values.push_back(std::stoll(sm[1]));
  }
  return values;
}

// The first process whose pid `match` accepts; -1 if none.
inline pid_t FirstProcess(const std::function<bool(pid_t)>& match) {
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return -1;
  pid_t found = -1;
  while (dirent* e = ::readdir(proc)) {
    pid_t pid;
    if (absl::SimpleAtoi(e->d_name, &pid) && match(pid)) {
      found = pid;
      break;
    }
  }
  ::closedir(proc);
  return found;
}

// /proc/PID/FILE whole (its size reads as 0: read it as a stream).
inline std::string ProcFile(pid_t pid, const char* file) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/", file));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The pid of a child of `parent` whose command name is `name`; -1 if none.
inline pid_t ChildNamed(pid_t parent, const std::string& name) {
  return FirstProcess([&](pid_t pid) {
    const std::string line = ProcFile(pid, "stat");
    // "pid (comm) state ppid ..."
    const size_t open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) return false;
    int ppid = 0;
    char state;
    if (std::sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid) != 2) return false;
    return ppid == parent && line.substr(open + 1, close - open - 1) == name;
  });
}

// Waits (polling, bounded) until the first round's metrics line is written:
// every child is then up and working.
// Runs fedge-sim with `flags` (on top of StartSim's) expecting a usage
// error: exit code 2 and `message` in its log.
inline void ExpectUsageError(const std::string& out, const std::vector<std::string>& flags,
                             const std::string& message) {
  sim::Subprocess p = StartSim(out, flags);
  sim::ExitInfo e = Finish(p, absl::Minutes(1));
  EXPECT_EQ(e.exit_code, 2) << message;
  EXPECT_THAT(ReadFile(out + "/sim.log").value_or(""), ::testing::HasSubstr(message));
}

inline bool FirstRoundDone(const std::string& out, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (ReadFile(out + "/metrics.jsonl").value_or("").find('\n') != std::string::npos) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

}  // namespace fedge::testing

#endif  // FEDGE_TESTS_INTEGRATION_SIM_TEST_UTIL_H_
