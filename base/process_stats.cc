#include "base/process_stats.h"

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

}  // namespace fedge
