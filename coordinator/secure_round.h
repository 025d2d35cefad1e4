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
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "aggregation/fixed_point.h"
#include "coordinator/round.h"
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
  // The ring the masked inputs are summed in (--secagg_bits): 32, or fewer
  // to shrink every client's upload (aggregation/fixed_point.h).
  uint32_t ring_bits = 32;
  absl::Duration phase_timeout = absl::Seconds(30);
};

// --secure=MODE (none, secagg or plus) with --secagg_dropout and
// --secagg_clip into `settings` (fedge-coordinator and fedge-gateway);
// InvalidArgument naming --secure for another mode.
absl::Status ApplySecureMode(absl::string_view mode, double dropout, double clip,
                             SecureAggregationSettings* settings);

class SecureRound final : public Round {
 public:
  struct Member {
    std::string peer;
    uint64_t client_id = 0;
    uint64_t num_examples = 0;  // as announced; caps the fixed-point weight range
  };

  // Members get SecAgg indices 1..n in ascending client id. `model_size` is
  // the number of floats in the model. With `control_variates` (SCAFFOLD)
  // each input also carries the client's control-variate change, unweighted
  // (aggregation/fixed_point.h): [weighted delta | weight | control change],
  // so the coordinator learns only the cohort's sum of those too.
  // InvalidArgument on a bad setting or a cohort too small for secure
  // aggregation.
  //
  // With `dp` (distributed differential privacy, privacy/distributed_dp.h)
  // inputs are [clipped delta | 0], unweighted, each word carrying the
  // client's share of discrete Gaussian noise calibrated to the Shamir
  // threshold; Finish yields the survivors' mean. Not with control variates.
  struct DistributedDp {
    double clip = 0;              // L2 bound on a client's delta
    double noise_multiplier = 0;  // z: the sum's noise is at least z * clip
  };
  static absl::StatusOr<std::unique_ptr<SecureRound>> Start(
      const SecureAggregationSettings& settings, uint64_t round, std::vector<Member> members,
      size_t model_size, bool control_variates, uint64_t graph_seed, absl::Time now,
      absl::Time training_deadline, std::optional<DistributedDp> dp = std::nullopt);

  // Every member's Task carries the SecAgg configuration and cohort
  // (identical for all, so encoded once), and with distributed DP the
  // clip and the noise share each device adds.
  void PrepareTask(protocol::Task* task) const override {
    task->secure = task_;
    if (privacy_.mode == protocol::PrivacyMode::kDistributed) task->config.privacy = privacy_;
  }

  // Always refused: a plain update would reveal the client's delta.
  std::optional<Refusal> OnUpdate(const std::string& peer, protocol::Update& update) override;
  // One member's message for the current phase. A refusal leaves the session
  // state unchanged.
  std::optional<Refusal> OnSecAgg(const std::string& peer,
                                  secure::SecAggClientMessage&& body) override;

  // The member is gone; from now on it counts as a dropout.
  void Drop(const std::string& peer) override;

  // Closes every phase that is complete or past its deadline; the frames to
  // send, as (peer, encoded SecAggToClient). The cohort's progress is the
  // SecAgg session's own.
  Frames Advance(absl::Time now, const CohortProgress&) override { return Advance(now); }
  Frames Advance(absl::Time now);

  Outcome outcome() const override;
  std::string failure() const override;
  absl::Time deadline() const override { return phase_deadline_; }
  const char* phase_name() const;

  // The weighted mean delta of the survivors, the total weight in examples
  // (capped per client at the largest announced count); no client's metrics.
  absl::StatusOr<std::vector<std::string>> Finish(absl::Span<float> delta,
                                                  RoundReport* report) override;
  // SCAFFOLD rounds, after Finish: the survivors' mean control-variate change.
  absl::Status ControlDelta(absl::Span<float> mean) const override;
  // Masked inputs accepted so far (test-only fault points count them).
  size_t inputs_accepted() const override { return masked_inputs_; }

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
  size_t model_size_ = 0;
  bool control_variates_ = false;
  protocol::PrivacyConfig privacy_;  // distributed DP: what devices add
  // Distributed DP: the noise is calibrated to this many survivors, so a
  // round with fewer masked inputs aborts before unmasking (0: no minimum).
  size_t min_survivors_ = 0;
  std::string dp_abort_;  // why the round stopped for that, if it did
  std::vector<float> mean_control_;  // set by Finish in SCAFFOLD rounds
};

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_SECURE_ROUND_H_
