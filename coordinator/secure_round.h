#ifndef FEDGE_COORDINATOR_SECURE_ROUND_H_
#define FEDGE_COORDINATOR_SECURE_ROUND_H_

// One round of secure aggregation seen from the coordinator: which cohort
// member has which SecAgg index, the SecAggServer, a deadline per phase, and
// turning the unmasked sum into the FedAvg mean delta. Sans I/O like the
// Coordinator that owns it: messages in, encoded frames out, time passed in.
//
// Phase deadlines: the key-exchange phases (AdvertiseKeys, ShareKeys) and
// Unmasking get `phase_timeout` each; MaskedInput, which waits for training,
// ends at the round's deadline. A phase closes early once every live member
// has answered. Clients exchange keys while they train, so a secure round
// costs about one extra round trip after training (Unmasking).
//
// The coordinator sees only the sum of the survivors' fixed-point inputs; no
// individual update reaches it, its logs or its metrics.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "aggregation/fixed_point.h"
#include "protocol/messages.h"
#include "secure/secagg.h"

namespace fedge::coordinator {

struct SecureAggregationSettings {
  bool enabled = false;
  secure::SecAggVariant variant = secure::SecAggVariant::kFull;
  // The fraction of the cohort a round must survive losing (sets the Shamir
  // threshold; SecAgg+ also derives its neighbourhood size from it).
  double expected_dropout = 0.2;
  // Per-coordinate bound on a client's delta before fixed-point encoding.
  float clip = 1.0f;
  absl::Duration phase_timeout = absl::Seconds(30);
};

class SecureRound {
 public:
  struct Member {
    std::string peer;
    uint64_t client_id = 0;
    uint64_t num_examples = 0;  // as announced; caps the fixed-point weight range
  };
  enum class Outcome { kRunning, kCompleted, kAborted };

  // Members get SecAgg indices 1..n in ascending client id. `model_size` is
  // the number of floats in the model. InvalidArgument on a bad setting or a
  // cohort too small for secure aggregation.
  static absl::StatusOr<std::unique_ptr<SecureRound>> Start(
      const SecureAggregationSettings& settings, uint64_t round, std::vector<Member> members,
      size_t model_size, uint64_t graph_seed, absl::Time now, absl::Time training_deadline);

  // What every member's Task carries (identical for all, so encoded once).
  const protocol::SecureAggregationTask& task() const { return task_; }

  bool IsMember(const std::string& peer) const { return index_of_.count(peer) > 0; }

  // One member's message for the current phase. Errors mean "refuse it": the
  // session state is unchanged.
  absl::Status OnMessage(const std::string& peer, secure::SecAggClientMessage&& body);

  // The member is gone; from now on it counts as a dropout.
  void Drop(const std::string& peer);

  // Closes every phase that is complete or past its deadline; the frames to
  // send, as (peer, encoded SecAggToClient).
  std::vector<std::pair<std::string, std::string>> Advance(absl::Time now);

  Outcome outcome() const;
  std::string abort_reason() const;
  absl::Time deadline() const { return phase_deadline_; }
  const char* phase_name() const;

  // kCompleted only: writes the weighted mean delta, returns the total weight
  // in examples (capped per client at the largest announced count).
  absl::StatusOr<double> DecodeMean(absl::Span<float> mean_delta) const;
  size_t survivors() const;
  // Masked inputs accepted so far (test-only fault points count them).
  size_t masked_inputs() const { return masked_inputs_; }

 private:
  SecureRound(const SecureAggregationSettings& settings, uint64_t round)
      : settings_(settings), round_(round) {}

  const SecureAggregationSettings settings_;
  const uint64_t round_;
  protocol::SecureAggregationTask task_;
  std::unique_ptr<secure::SecAggServer> server_;
  std::map<std::string, uint32_t> index_of_;
  std::vector<std::string> peer_of_;  // [index], index 0 unused
  absl::Time training_deadline_;
  absl::Time phase_deadline_;
  size_t masked_inputs_ = 0;
};

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_SECURE_ROUND_H_
