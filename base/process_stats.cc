#include "base/process_stats.h"

#include <sys/resource.h>

#include <algorithm>

#include <dirent.h>

#include <cstdio>
#include <cstring>

namespace fedge {
namespace {

int64_t ReadRssKb() {
  std::FILE* f = std::fopen("/proc/self/status", "re");
  if (f == nullptr) return -1;
  int64_t kb = -1;
  char line[256];
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    long long v = 0;
    if (std::strncmp(line, "VmRSS:", 6) == 0 && std::sscanf(line + 6, "%lld", &v) == 1) {
      kb = v;
      break;
    }
  }
  std::fclose(f);
  return kb;
}

int64_t CountOpenFds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  const int own = ::dirfd(d);
  int64_t n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;  // "." and ".."
    int fd = -1;
    if (std::sscanf(e->d_name, "%d", &fd) == 1 && fd == own) continue;
    ++n;
  }
  ::closedir(d);
  return n;
}

}  // namespace

ProcessStats ReadProcessStats() {
  ProcessStats s;
  s.rss_kb = ReadRssKb();
  s.open_fds = CountOpenFds();
  return s;
}

uint64_t OpenFileHardLimit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
  return r.rlim_max == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(r.rlim_max);
}

uint64_t RaiseOpenFileLimit(uint64_t wanted) {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
  if (r.rlim_cur == RLIM_INFINITY || r.rlim_cur >= wanted) return r.rlim_cur;
  const rlim_t target = r.rlim_max == RLIM_INFINITY ? wanted : std::min<rlim_t>(wanted, r.rlim_max);
  if (target > r.rlim_cur) {
    r.rlim_cur = target;
    if (::setrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
  }
  return r.rlim_cur;
}

}  // namespace fedge
