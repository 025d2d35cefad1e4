#ifndef FEDGE_CLIENT_SECURE_SESSION_H_
#define FEDGE_CLIENT_SECURE_SESSION_H_

// One logical client's part in one secure-aggregation round. Wraps a
// SecAggClient: keys are exchanged as soon as the task arrives (while the
// model trains), the trained delta is clipped and encoded in fixed point
// (aggregation/fixed_point.h), masked, and sent; the coordinator only ever
// learns the cohort's sum. Every frame it produces is a SecAggToServer bound
// to (round, model version, client id). Not thread-safe; no torch.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "privacy/noise.h"
#include "protocol/messages.h"
#include "secure/random.h"
#include "secure/secagg.h"

namespace fedge::client {

class SecureSession {
 public:
  // For a task with secure.enabled. `first_frame` receives the AdvertiseKeys
  // frame to send. InvalidArgument when this client is not in the task's
  // cohort or the SecAgg or encoding config is unusable. `random` must
  // outlive the session.
  static absl::StatusOr<std::unique_ptr<SecureSession>> Start(const protocol::Task& task,
                                                              uint64_t client_id,
                                                              secure::SecureRandom& random,
                                                              std::string* first_frame);
  // The same for a task whose model travels apart from it (`model`; the
  // task's own is empty): only its size and pruning mask are read.
  static absl::StatusOr<std::unique_ptr<SecureSession>> Start(const protocol::Task& task,
                                                              const protocol::ModelPayload& model,
                                                              uint64_t client_id,
                                                              secure::SecureRandom& random,
                                                              std::string* first_frame);

  uint64_t round() const { return round_; }

  // A server step; the frame to answer with, if any. An error aborts the
  // session (e.g. the server asked for both shares of one client).
  absl::StatusOr<std::optional<std::string>> OnMessage(const protocol::SecAggToClient& m);

  // Under distributed DP (the task's privacy mode) the delta, already
  // clipped by the training runtime, is encoded unweighted with a zero weight
  // word, and every word gets the task's share of discrete Gaussian noise.
  // The trained delta, the number of examples it was trained on and, in a
  // SCAFFOLD round (the task carries a control variate), the client's
  // control-variate change (empty otherwise); the MaskedInput frame once the
  // server's MaskedInputRequest is there too. InvalidArgument on sizes that
  // do not fit the round.
  absl::StatusOr<std::optional<std::string>> SetUpdate(
      absl::Span<const float> delta, uint64_t num_examples,
      absl::Span<const float> control_delta = {});

  bool finished() const;
  size_t clipped_coordinates() const { return clipped_; }
  size_t rejected_shares() const { return client_->rejected_shares(); }

 private:
  SecureSession() = default;
  std::optional<std::string> Wrap(std::optional<secure::SecAggClientMessage> body) const;

  uint64_t round_ = 0;
  uint64_t model_version_ = 0;
  uint64_t client_id_ = 0;
  protocol::SecureAggregationTask task_;
  protocol::PrivacyConfig privacy_;  // distributed DP: the noise share to add
  std::unique_ptr<privacy::RandomBits> noise_bits_;  // distributed DP only
  std::unique_ptr<secure::SecAggClient> client_;
  size_t clipped_ = 0;
  size_t model_size_ = 0;
  // Seeds the stochastic rounding of rings below 32 bits; from the session's
  // secure randomness, so the coordinator cannot predict the rounding.
  uint64_t rounding_seed_ = 0;
  bool control_ = false;  // SCAFFOLD: inputs carry the control-variate change
};

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_SECURE_SESSION_H_
