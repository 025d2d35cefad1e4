#ifndef FEDGE_COORDINATOR_COORDINATOR_SNAPSHOT_H_
#define FEDGE_COORDINATOR_COORDINATOR_SNAPSHOT_H_

// What a Coordinator needs to carry on after a restart, taken between rounds:
// the global model and its version, the round counters, the server
// optimiser's state and the clients it knew. Plain data, no I/O: the
// checkpoint file format (coordinator/checkpoint.h) stores it, and
// Coordinator::Restore takes it back.
//
// Not in it, on purpose: connections and the open round's state (a restarted
// coordinator starts the next round afresh; clients reconnect and register
// again), and the allow-list (its own file).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "coordinator/round_report.h"
#include "protocol/model_payload.h"

namespace fedge::coordinator {

// The server optimiser's state (aggregation/server_optimizer.h), tagged by
// its kind (aggregation::ServerOptimizerKind) so a checkpoint is never
// resumed by another optimiser.
struct ServerOptimizerState {
  static constexpr uint32_t kServerSgd = 0;  // ServerOptimizerKind::kSgd
  uint32_t kind = kServerSgd;
  std::string state;  // opaque to all but the optimiser of `kind`
};

struct KnownClient {
  uint64_t client_id = 0;
  uint64_t num_examples = 0;  // as announced in its Hello
  bool operator==(const KnownClient& o) const {
    return client_id == o.client_id && num_examples == o.num_examples;
  }
};

struct CoordinatorSnapshot {
  uint64_t round = 0;             // id of the last round that ended (0: none)
  uint64_t completed_rounds = 0;
  uint64_t model_version = 0;     // of `model`; continues after a restart
  uint32_t consecutive_failures = 0;
  protocol::ModelPayload model;   // including the architecture bytes
  ServerOptimizerState optimizer;
  // SCAFFOLD's server control variate (one value per weight); empty for
  // other strategies.
  std::vector<float> control_variate;
  // The cohort-selection generator (std::mt19937_64 in its textual form), so
  // a resumed run selects the cohorts an uninterrupted one would have.
  std::string cohort_rng;
  // Differential privacy (coordinator/dp_mechanism.h): the accountant's
  // composed RDP curve and the adaptive clip, so a resumed run reports and
  // enforces the budget already spent. Empty with DP off.
  std::string privacy_state;
  // Registered when the snapshot was taken, by client id.
  std::vector<KnownClient> clients;
};

// Receives a snapshot at the end of every round (completed or failed), after
// the model and counters are updated and before the round's report goes to
// the RoundObserver and before the next round's tasks are sent. So a model
// version reaches clients only once a checkpoint holding it is durable, and a
// crash never leaves clients ahead of the coordinator's state (they would
// refuse the older version as a rollback).
class CheckpointSink {
 public:
  virtual ~CheckpointSink() = default;
  // `report` is the round's, as the observer will get it (an async
  // version's may gain its evaluation first); `unpublished`, oldest first,
  // are the reports of earlier async versions the observer has not had yet
  // (waiting for their evaluations), which a resumed run must publish. An
  // error halts the coordinator (done(), without telling clients to shut
  // down): carrying on would publish a model version a crash could lose.
  virtual absl::Status Save(const CoordinatorSnapshot& snapshot, const RoundReport& report,
                            absl::Span<const RoundReport> unpublished) = 0;
};

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_COORDINATOR_SNAPSHOT_H_
