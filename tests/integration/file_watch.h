#ifndef FEDGE_TESTS_INTEGRATION_FILE_WATCH_H_
#define FEDGE_TESTS_INTEGRATION_FILE_WATCH_H_

// Waiting on what other processes write (logs, metrics.jsonl) without sleeps:
// the condition is re-checked whenever a file in the directory changes
// (inotify), and at least every 250 ms in case an event was coalesced.

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/file_util.h"

namespace fedge::testing {

// True once `done()` holds; false if `timeout` passed first.
inline bool WaitUntil(const std::string& dir, const std::function<bool()>& done,
                      absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd >= 0) {
    ::inotify_add_watch(fd, dir.c_str(),
                        IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE);
  }
  bool ok = done();
  while (!ok && absl::Now() < deadline) {
    const absl::Duration wait = std::min(absl::Milliseconds(250), deadline - absl::Now());
    if (fd >= 0) {
      pollfd p{fd, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(wait)) + 1);
      char events[4096];
      while (::read(fd, events, sizeof(events)) > 0) {
      }
    } else {
      ::poll(nullptr, 0, static_cast<int>(absl::ToInt64Milliseconds(wait)) + 1);
    }
    ok = done();
  }
  if (fd >= 0) ::close(fd);
  return ok;
}

// Occurrences of `needle` in the file at `path` (0 if it cannot be read).
inline int CountInFile(const std::string& path, const std::string& needle) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok() || needle.empty()) return 0;
  int n = 0;
  for (size_t at = text->find(needle); at != std::string::npos;
       at = text->find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

}  // namespace fedge::testing

#endif  // FEDGE_TESTS_INTEGRATION_FILE_WATCH_H_
