#ifndef FEDGE_BENCH_DEVICE_CHILDREN_H_
#define FEDGE_BENCH_DEVICE_CHILDREN_H_

// fedge-bench-device's child modes: the binary run by itself to measure one
// thing in a fresh process (bench/device_footprint.cc runs them). Each prints
// "key value" lines on stdout.

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace fedge::bench {

// /proc/<pid>/status figures in kB (-1 when absent).
struct Mem {
  int64_t rss_kb = -1;   // VmRSS
  int64_t anon_kb = -1;  // RssAnon: heap, stacks, anonymous mappings
  int64_t file_kb = -1;  // RssFile: mapped files (the binary and shared libraries)
  int64_t hwm_kb = -1;   // VmHWM: peak RSS so far
};

// pid 0: this process.
Mem ReadMem(pid_t pid);

// `train MODEL.fms DATA_DIR PLUGIN_DIR`: loads the torch plugin and trains
// three epochs, each on a new thread as the SDK does; RSS at each step.
absl::Status TrainChild(const std::string& model_path, const std::string& data_dir,
                        const std::string& plugin_dir);

// `device ENDPOINT STORE_DIR DATA_DIR EXAMPLES`: a device through the C API,
// driven by commands on stdin ("run TIMEOUT_MS", "cancel", "trim", "quit").
int DeviceChild(const std::string& endpoint, const std::string& store,
                const std::string& data_dir, int64_t examples);

}  // namespace fedge::bench

#endif  // FEDGE_BENCH_DEVICE_CHILDREN_H_
