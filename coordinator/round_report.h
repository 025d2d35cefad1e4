#ifndef FEDGE_COORDINATOR_ROUND_REPORT_H_
#define FEDGE_COORDINATOR_ROUND_REPORT_H_

// What a round produced, for logs, JSON lines and the simulation's CSV.
// Never contains an individual client's update.

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "protocol/messages.h"

namespace fedge::coordinator {

struct EvalMetrics {
  double loss = 0;
  bool has_accuracy = true;  // false for real-valued targets
  double accuracy = 0;
  double mse = NAN, mae = NAN;  // real-valued targets
  int64_t examples = 0;
  // With fedge-coordinator --backdoor_target (simulated backdoor attacks):
  // the share of triggered test images of other classes classified as the
  // target.
  std::optional<double> backdoor_success;
};

// Federated evaluation of the round's new model (coordinator/federated_evaluation.h):
// example-weighted means of what the clients reported on their held-out splits.
struct FederatedMetrics {
  uint32_t asked = 0;    // clients asked to evaluate
  uint32_t clients = 0;  // clients that reported
  int64_t examples = 0;
  bool has_accuracy = true;
  double loss = 0, accuracy = 0, mse = 0, mae = 0;
};

// Differential privacy's figures after a round (coordinator/dp_mechanism.h).
struct PrivacyFigures {
  double epsilon = 0;  // spent so far, for readers of the released models
  // Local and distributed DP: spent against the coordinator, which knows the
  // cohorts (no amplification by sampling). Infinite under central DP, where
  // the coordinator sees every update.
  double epsilon_coordinator = 0;
  double delta = 0;
  double clip = 0;            // the L2 clip the round used
  double noise_stddev = 0;    // of the noise on the sum, in update units (a lower bound for distributed)
  double sampling_rate = 0;   // q
  uint32_t clipped = 0;       // central and local: updates the coordinator clipped
};

// --mode=async (coordinator/async_round.h): the buffer that made the version.
struct AsyncFigures {
  double staleness_mean = 0;   // of the folded updates, in model versions
  uint64_t staleness_max = 0;
  uint64_t stale_refused = 0;  // updates refused as older than --max_staleness
  uint32_t in_flight = 0;      // tasks out when the version was published
};

struct RoundReport {
  uint64_t round = 0;
  bool completed = false;
  std::string failure;  // why, when !completed
  uint64_t model_version = 0;
  uint32_t selected = 0;
  uint32_t aggregated = 0;
  uint32_t dropped = 0;
  uint32_t rejected = 0;
  double total_weight = 0;
  double train_loss = 0;  // example-weighted mean of client-reported losses
  bool evaluated = false;
  EvalMetrics eval;
  // Set when the round ran a federated evaluation (--fraction_evaluate).
  std::optional<FederatedMetrics> federated;
  double seconds = 0;
  // When the round's model was made (aggregated and stepped), counted from
  // the first task of the run (of this process, after a restart): for time
  // to accuracy. Evaluation after a synchronous round delays the next one,
  // so it is inside the later rounds' figures.
  double elapsed_seconds = 0;
  // Of elapsed_seconds, the time the run waited for server-side evaluations
  // between synchronous rounds (0 in async mode, where they run beside
  // training): subtract it for the training time to accuracy.
  double eval_wait_seconds = 0;
  // Set in --mode=async.
  std::optional<AsyncFigures> async;
  uint64_t bytes_up = 0;
  uint64_t bytes_down = 0;
  // The frames that carried a model update up (a plain Update, a secure
  // round's MaskedInput), counted as received, accepted or not: their bytes
  // over their number is one client's upload of an update (--compress,
  // --secagg_bits).
  uint64_t update_bytes = 0;
  uint32_t update_frames = 0;
  // --prune: the share of the prunable weights that are 0 in the model this
  // round produced (and the next round sends).
  std::optional<double> sparsity;
  // Bytes the strategy's aggregation rule held for this round's updates (0
  // for streaming rules such as FedAvg; robust rules buffer the cohort).
  uint64_t buffered_bytes = 0;
  // Set when the run has --dp.
  std::optional<PrivacyFigures> privacy;
  // The coordinator process when the round ended (base/process_stats.h), for
  // soak runs; -1 when not measured (the Coordinator core leaves them so,
  // fedge-coordinator fills them in before writing the metrics line).
  int64_t rss_kb = -1;
  int64_t open_fds = -1;
};

struct CoordinatorStats {
  uint64_t frames_received = 0;
  uint64_t bytes_received = 0;
  uint64_t frames_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t rejected_total = 0;
  std::map<protocol::ErrorCode, uint64_t> rejected_by_code;
  uint64_t rounds_failed = 0;
  // Tasks clients refused as BAD_SIGNATURE or ROLLBACK (they trained nothing).
  uint64_t models_refused_by_clients = 0;
  // Check-in devices: RetryLater and GlobalModel messages sent; Leaves.
  uint64_t retry_hints_sent = 0;
  uint64_t models_sent = 0;
  uint64_t clients_left = 0;
  // Hellos accepted; clients dropped after missing their heartbeats.
  uint64_t registrations = 0;
  // Hellos that repeated their peer's registration (a slow Welcome): answered
  // again, the client kept its round.
  uint64_t hellos_repeated = 0;
  uint64_t clients_dropped = 0;
};

// One JSON object on one line.
std::string RoundReportJson(const RoundReport& r);

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_ROUND_REPORT_H_
