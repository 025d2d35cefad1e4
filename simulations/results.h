#ifndef FEDGE_SIMULATIONS_RESULTS_H_
#define FEDGE_SIMULATIONS_RESULTS_H_

// Reading the coordinator's per-round JSON lines back for CSV and summaries.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fedge::sim {

struct RoundRow {
  int64_t round = 0;
  bool completed = false;
  int64_t clients = 0;
  double test_accuracy = NAN;
  double test_loss = NAN;
  double train_loss = NAN;
  // fedge-sim --attack=backdoor: share of triggered test images of other
  // classes the global model put in the target class.
  double backdoor_success = NAN;
  double test_mse = NAN, test_mae = NAN;  // real-valued targets
  // Federated evaluation (--fraction_evaluate): clients that reported and
  // their example-weighted metrics; NaN when not run.
  int64_t fed_clients = 0;
  double fed_loss = NAN, fed_accuracy = NAN, fed_mse = NAN;
  // --dp: epsilon spent after the round (for readers of the models) and
  // against the coordinator (local, distributed DP); NaN without DP.
  double epsilon = NAN, epsilon_coordinator = NAN;
  double round_seconds = 0;
  // When the round's model was made, from the run's first task.
  double elapsed_seconds = NAN;
  // Of it, waiting for server-side evaluation between synchronous rounds.
  double eval_wait_seconds = 0;
  int64_t bytes_up = 0;
  int64_t bytes_down = 0;
  // One client's upload of its update (--compress, --secagg_bits); 0 when no
  // update arrived.
  int64_t update_bytes_per_client = 0;
};

// Parses metrics.jsonl as written by fedge-coordinator. InvalidArgument names
// the line that does not parse.
absl::StatusOr<std::vector<RoundRow>> ParseMetrics(const std::string& jsonl);
absl::StatusOr<std::vector<RoundRow>> ReadMetrics(const std::string& path);

// Header "round,completed,clients,test_accuracy,test_loss,train_loss,
// round_seconds,bytes_up,bytes_down,backdoor_success,test_mse,test_mae,
// fed_clients,fed_loss,fed_accuracy,fed_mse,epsilon,epsilon_coordinator,
// update_bytes_per_client,elapsed_seconds,eval_wait_seconds" and a row per round
// (nan where a figure was not measured).
std::string ResultsCsv(const std::vector<RoundRow>& rows);

struct Summary {
  int completed_rounds = 0;
  double final_accuracy = NAN;
  double final_loss = NAN;
  double final_mse = NAN, final_mae = NAN;  // real-valued targets
  double final_fed_loss = NAN, final_fed_accuracy = NAN, final_fed_mse = NAN;
  double best_accuracy = NAN;  // the highest test accuracy of a completed round
  int best_round = 0;
  double final_backdoor_success = NAN;
  double final_epsilon = NAN, final_epsilon_coordinator = NAN;  // of the last round, run or failed
  double mean_round_seconds = 0;
  double mean_bytes_up = 0;
  double mean_bytes_down = 0;
  double mean_update_bytes_per_client = 0;  // over completed rounds
};
Summary Summarize(const std::vector<RoundRow>& rows);

// The first completed round whose test accuracy is at least `target`;
// nullptr when none is.
const RoundRow* FirstReaching(const std::vector<RoundRow>& rows, double target);

}  // namespace fedge::sim

#endif  // FEDGE_SIMULATIONS_RESULTS_H_
