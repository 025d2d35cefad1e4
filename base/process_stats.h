#ifndef FEDGE_BASE_PROCESS_STATS_H_
#define FEDGE_BASE_PROCESS_STATS_H_

// What Linux says about the calling process (/proc/self): resident memory and
// open descriptors. Soak runs compare them between early and late rounds
// (scripts/soak.sh); the coordinator puts them in its metrics lines.

#include <cstdint>

namespace fedge {

struct ProcessStats {
  int64_t rss_kb = -1;    // VmRSS; -1 when it cannot be read
  int64_t open_fds = -1;  // entries of /proc/self/fd; -1 when it cannot be read
};

// Thread-safe; opens (and closes) two descriptors of its own, which are not
// counted.
ProcessStats ReadProcessStats();

// The process's hard limit on open descriptors (what RaiseOpenFileLimit can
// reach without privileges); 0 when unknown, UINT64_MAX when unlimited.
uint64_t OpenFileHardLimit();

// Raises this process's soft limit on open descriptors to `wanted` (at most
// the hard limit). Returns the soft limit now in force. A process hosting
// thousands of connections (the coordinator, a client process with many
// logical clients) needs more than the usual default of 1,024.
uint64_t RaiseOpenFileLimit(uint64_t wanted);

}  // namespace fedge

#endif  // FEDGE_BASE_PROCESS_STATS_H_
