#ifndef FEDGE_OPS_RUN_STATUS_H_
#define FEDGE_OPS_RUN_STATUS_H_

// What an operator sees of a running coordinator: a plain value the
// coordinator's thread fills in (coordinator/ops_bridge.h) and the HTTP
// threads render (/status as JSON, /metrics for Prometheus, the status page).
// It holds counters and per-round figures only, never an update or a key.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fedge::ops {

// One flag of the running binary, for the page's configuration table.
struct ConfigEntry {
  std::string name;
  std::string value;
  bool is_default = true;
};

// One ended round (completed or failed).
struct RoundPoint {
  uint64_t round = 0;
  bool completed = false;
  std::string failure;
  std::optional<double> accuracy;  // server-side test accuracy, when evaluated
  std::optional<double> loss;      // server-side test loss, when evaluated
  std::optional<double> train_loss;
  double seconds = 0;
  double ended_unix = 0;
  uint32_t selected = 0;
  uint32_t aggregated = 0;
  uint32_t dropped = 0;
  uint64_t bytes_up = 0;
  uint64_t bytes_down = 0;
};

// The open round's progress.
struct RoundProgress {
  uint64_t inputs = 0;    // updates (or masked inputs) accepted so far
  uint64_t expected = 0;  // the cohort's size
  double elapsed_s = 0;
  double deadline_in_s = 0;
};

// Upper bounds (seconds) of the round-duration histogram's buckets; +Inf is
// implied.
inline constexpr double kRoundSecondsBuckets[] = {0.1, 0.25, 0.5, 1,  2.5, 5,
                                                  10,  30,   60,  120, 300, 600};
inline constexpr size_t kRoundSecondsBucketCount =
    sizeof(kRoundSecondsBuckets) / sizeof(kRoundSecondsBuckets[0]);

// Every ended round's duration, as a Prometheus histogram: counts per bucket
// (not cumulative; the renderer accumulates), their sum and number.
struct DurationHistogram {
  uint64_t counts[kRoundSecondsBucketCount + 1] = {};  // the last: above every bound
  double sum = 0;
  uint64_t count = 0;
  void Add(double seconds);
};

struct RunStatus {
  std::string version;
  double now_unix = 0;
  double started_unix = 0;
  std::shared_ptr<const std::vector<ConfigEntry>> config;  // never null once published

  std::string phase;  // waiting, training, evaluating, paused, finished
  bool paused = false;
  bool stop_requested = false;
  uint64_t round = 0;
  uint64_t rounds = 0;
  uint64_t completed_rounds = 0;
  uint64_t failed_rounds = 0;
  uint64_t model_version = 0;
  std::optional<RoundProgress> progress;

  uint64_t clients_connected = 0;
  std::optional<uint64_t> clients_enrolled;  // the allow-list's size; none with --insecure
  uint64_t registrations = 0;
  uint64_t clients_dropped = 0;  // dropped for silence (missed heartbeats)
  uint64_t clients_left = 0;     // said Leave
  uint64_t refused_total = 0;
  std::map<std::string, uint64_t> refused_by_reason;  // protocol ErrorCode names
  uint64_t handshakes_accepted = 0;
  uint64_t handshakes_refused = 0;
  uint64_t handshakes_failed = 0;
  uint64_t frames_in = 0, frames_out = 0;
  uint64_t bytes_in = 0, bytes_out = 0;

  std::optional<double> test_accuracy;  // the newest server-side evaluation
  std::optional<double> test_loss;
  DurationHistogram round_seconds;
  // Every ended round, oldest first; shared between publications because it
  // only grows at a round's end.
  std::shared_ptr<const std::vector<RoundPoint>> history;  // never null once published
};

}  // namespace fedge::ops

#endif  // FEDGE_OPS_RUN_STATUS_H_
