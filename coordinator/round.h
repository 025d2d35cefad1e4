#ifndef FEDGE_COORDINATOR_ROUND_H_
#define FEDGE_COORDINATOR_ROUND_H_

// One training round's aggregation, as the Coordinator drives it: the
// coordinator selects the cohort, binds each message to the round, its model
// version and its cohort, and tracks who is pending; the Round decides what
// the task adds, accepts or refuses what members send, closes on its rules,
// and yields the combined update. Sans I/O: messages in, encoded frames out,
// time passed in.
//
// Implementations: PlainRound (updates folded by the strategy's aggregation
// rule, plain_round.h) and SecureRound (SecAgg/SecAgg+, secure_round.h).
// StartRound picks one; no code outside them asks which kind is running.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "coordinator/round_report.h"
#include "protocol/messages.h"

namespace fedge::coordinator {

// Why a member's message is refused: the ErrorReply to send.
struct Refusal {
  protocol::ErrorCode code;
  std::string why;
  // The member is not waited for any longer (it sent a bad update).
  bool drop = false;
};

// The cohort as the coordinator tracks it.
struct CohortProgress {
  size_t pending = 0;   // selected, neither reported nor dropped
  size_t reported = 0;  // plain updates accepted
};

class Round {
 public:
  enum class Outcome { kRunning, kCompleted, kFailed };
  // (peer, encoded frame) to send.
  using Frames = std::vector<std::pair<std::string, std::string>>;

  virtual ~Round() = default;

  // Adds this round's parts to the task every member gets.
  virtual void PrepareTask(protocol::Task* task) const = 0;

  // A plain Update from a pending cohort member (already bound to the round).
  // nullopt: accepted, the member has reported.
  virtual std::optional<Refusal> OnUpdate(const std::string& peer, protocol::Update& update) = 0;
  // A SecAgg message from a cohort member (already bound to the round).
  virtual std::optional<Refusal> OnSecAgg(const std::string& peer,
                                          secure::SecAggClientMessage&& body) = 0;
  // The member is gone (silent, left, refused its task).
  virtual void Drop(const std::string& peer) = 0;

  // Closes what is due at `now` given the cohort's progress; frames to send.
  // Afterwards outcome() says whether the round is over.
  virtual Frames Advance(absl::Time now, const CohortProgress& cohort) = 0;
  virtual Outcome outcome() const = 0;
  // kFailed: why.
  virtual std::string failure() const = 0;
  // When Advance must next run even if nothing arrives.
  virtual absl::Time deadline() const = 0;

  // kCompleted only: writes the combined update (mean client delta, or the
  // robust rule's) into `delta` and the aggregation figures into `report`
  // (aggregated, total_weight, train_loss, buffered_bytes). Returns the
  // members the coordinator still has pending whose input is in the
  // aggregate (SecAgg survivors); pending members not named were dropped.
  virtual absl::StatusOr<std::vector<std::string>> Finish(absl::Span<float> delta,
                                                          RoundReport* report) = 0;

  // kCompleted, SCAFFOLD rounds only: the mean of the contributors'
  // control-variate changes. FailedPrecondition for rounds without them.
  virtual absl::Status ControlDelta(absl::Span<float> mean) const {
    (void)mean;
    return absl::FailedPreconditionError("this round carries no control variates");
  }

  // Inputs accepted so far (updates, or masked inputs): fault points count them.
  virtual size_t inputs_accepted() const = 0;
};

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_ROUND_H_
