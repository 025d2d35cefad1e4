#include "gateway/relay_bridge.h"

#include <cerrno>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/log.h"

namespace fedge::gateway {
namespace {

// The upstream client's "trainer": a round over the gateway's devices.
class RelayTrainer final : public client::Trainer {
 public:
  explicit RelayTrainer(RelayBridge* bridge) : bridge_(bridge) {}

  absl::Status Train(const protocol::Task& task, const data::Dataset&,
                     const client::StopPredicate& should_stop,
                     client::TrainOutcome* out) override {
    absl::StatusOr<coordinator::RelayResult> r = bridge_->Relay(task, should_stop);
    if (!r.ok()) return r.status();
    out->delta = std::move(r->delta);
    out->num_examples = r->num_examples;
    out->metrics = protocol::LocalMetrics();
    out->metrics.loss = std::isfinite(r->train_loss) ? static_cast<float>(r->train_loss) : NAN;
    out->control_delta.clear();
    return absl::OkStatus();
  }

  // None: the root sends the architecture bytes, which the gateway forwards.
  std::vector<std::string> CachedArchitectures() const override { return {}; }

 private:
  RelayBridge* const bridge_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RelayBridge>> RelayBridge::Create() {
  absl::StatusOr<WakeFd> wake = WakeFd::Create("gateway");
  if (!wake.ok()) return wake.status();
  return std::unique_ptr<RelayBridge>(new RelayBridge(*std::move(wake)));
}

RelayBridge::~RelayBridge() = default;

std::unique_ptr<client::Trainer> RelayBridge::MakeTrainer() {
  return std::make_unique<RelayTrainer>(this);
}

void RelayBridge::Wake() {
  if (!wake_.Signal()) {
    FEDGE_LOG(kError, "gateway: cannot wake the serving loop: %s", std::strerror(errno));
  }
}

void RelayBridge::EndRun(const std::string& reason) {
  {
    absl::MutexLock lock(&mu_);
    end_reason_ = reason;
  }
  Wake();
}

absl::StatusOr<coordinator::RelayResult> RelayBridge::Relay(
    const protocol::Task& task, const client::StopPredicate& should_stop) {
  absl::MutexLock lock(&mu_);
  if (ended_) return absl::CancelledError("the gateway is shutting down");
  done_.reset();
  posted_ = task;
  Wake();
  const uint64_t round = task.round;
  // Woken by the outcome; polled for should_stop (it reads the host's
  // state, not this mutex's) a few times a second.
  while (!(done_.has_value() && done_->first == round)) {
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](RelayBridge* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
                               return self->done_.has_value() || self->ended_;
                             },
                             this),
                         absl::Milliseconds(100));
    if (done_.has_value() && done_->first != round) done_.reset();  // an older round's
    if (ended_) return absl::CancelledError("the gateway is shutting down");
    if (should_stop()) return absl::CancelledError("the root moved on");
  }
  absl::StatusOr<coordinator::RelayResult> r = std::move(done_->second);
  done_.reset();
  return r;
}

void RelayBridge::OnRelayDone(uint64_t round, absl::StatusOr<coordinator::RelayResult> result) {
  absl::MutexLock lock(&mu_);
  done_.emplace(round, std::move(result));
}

void RelayBridge::OnLoop(coordinator::Coordinator& coordinator, absl::Time now) {
  wake_.Drain();
  std::optional<protocol::Task> task;
  std::optional<std::string> end;
  {
    absl::MutexLock lock(&mu_);
    task = std::move(posted_);
    posted_.reset();
    end = end_reason_;
    if (end.has_value()) ended_ = true;
  }
  if (end.has_value()) {
    coordinator.EndRelay(*end, now);
    return;
  }
  if (!task.has_value()) return;
  const uint64_t round = task->round;
  FEDGE_LOG(kInfo, "root round %d (model version %d): relaying to %d devices", round,
            task->model_version, coordinator.registered_clients());
  // Outside the lock: the coordinator calls OnRelayDone, which takes it.
  if (absl::Status s = coordinator.StartRelayRound(*std::move(task), now); !s.ok()) {
    FEDGE_LOG(kError, "%s", s.ToString());
    OnRelayDone(round, s);
  }
}

}  // namespace fedge::gateway
