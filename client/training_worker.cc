#include "client/training_worker.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client/local_state.h"
#include "compression/compression.h"
#include "compression/pruning.h"

namespace fedge::client {

namespace {

// The trainer a training thread runs its jobs with, set as it starts.
thread_local Trainer* lane_trainer = nullptr;

// Forwards to the calling training thread's trainer, so the slots' wrappers
// (built once) run on whichever lane takes their client's task.
class LaneTrainer final : public Trainer {
 public:
  absl::Status Train(const protocol::Task& task, const Dataset& data,
                     const StopPredicate& should_stop, TrainOutcome* out) override {
    return lane_trainer->Train(task, data, should_stop, out);
  }
  absl::Status Evaluate(const protocol::Task& task, const Dataset& data,
                        EvalResult* out) override {
    return lane_trainer->Evaluate(task, data, out);
  }
  std::vector<std::string> CachedArchitectures() const override {
    return lane_trainer->CachedArchitectures();
  }
};

std::vector<std::string> Intersection(const std::vector<std::vector<std::string>>& lists) {
  if (lists.empty()) return {};
  std::vector<std::string> common = lists[0];
  for (size_t i = 1; i < lists.size(); ++i) {
    std::vector<std::string> kept;
    for (const std::string& a : common) {
      if (std::find(lists[i].begin(), lists[i].end(), a) != lists[i].end()) kept.push_back(a);
    }
    common.swap(kept);
  }
  return common;
}

}  // namespace

TrainingWorker::TrainingWorker(TrainerFactory factory, std::vector<ClientData> clients,
                               std::function<void()> notify, Clock* clock, int threads)
    : factory_(std::move(factory)), notify_(std::move(notify)), clock_(clock),
      wanted_round_(std::make_unique<std::atomic<uint64_t>[]>(clients.size())),
      lanes_(static_cast<size_t>(std::max(1, threads))),
      lane_trainer_(std::make_unique<LaneTrainer>()) {
  for (ClientData& c : clients) {
    slots_.push_back(Slot{std::move(c), std::nullopt, std::nullopt, nullptr, nullptr, {}});
  }
  absl::MutexLock lock(&mu_);
  busy_.assign(slots_.size(), false);
  lane_cached_.resize(lanes_.size());
}

TrainingWorker::~TrainingWorker() { Stop(); }

void TrainingWorker::Start() {
  for (size_t i = 0; i < lanes_.size(); ++i) {
    lanes_[i].thread = std::thread([this, i] { Loop(i); });
  }
}

void TrainingWorker::Stop() {
  stopping_.store(true);
  {
    absl::MutexLock lock(&mu_);
    exit_ = true;
  }
  for (Lane& lane : lanes_) {
    if (lane.thread.joinable()) lane.thread.join();
  }
}

void TrainingWorker::Submit(size_t client, protocol::Task task,
                            std::shared_ptr<const protocol::ModelPayload> model) {
  Want(client, task.round);
  absl::MutexLock lock(&mu_);
  jobs_.push_back(Job{client, std::move(task), std::move(model)});
}

void TrainingWorker::AttachModel(Lane& lane, Job* job) {
  if (job->model == nullptr) return;
  if (job->model != lane.attached_from) {
    lane.attached = *job->model;  // once per model a lane trains
    lane.attached_from = job->model;
  }
  job->task.model = std::move(lane.attached);
}

void TrainingWorker::DetachModel(Lane& lane, Job* job) {
  if (job->model == nullptr) return;
  lane.attached = std::move(job->task.model);
}

std::deque<TrainingResult> TrainingWorker::TakeResults() {
  std::deque<TrainingResult> done;
  absl::MutexLock lock(&mu_);
  done.swap(results_);
  return done;
}

absl::Status TrainingWorker::fatal() const {
  absl::MutexLock lock(&mu_);
  return fatal_;
}

std::vector<std::string> TrainingWorker::CachedArchitectures() const {
  absl::MutexLock lock(&mu_);
  return Intersection(lane_cached_);
}

std::deque<TrainingWorker::Job>::iterator TrainingWorker::NextRunnable() {
  // Skipping a busy client's jobs keeps each client's own in order.
  return std::find_if(jobs_.begin(), jobs_.end(),
                      [this](const Job& job) { return !busy_[job.client]; });
}

bool TrainingWorker::BuildLane(size_t i) {
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = factory_();
  if (!trainer.ok()) {
    {
      absl::MutexLock lock(&mu_);
      fatal_ = absl::Status(trainer.status().code(),
                            absl::StrCat("cannot build the trainer: ", trainer.status().message()));
      exit_ = true;  // the other lanes stop too
    }
    notify_();
    return false;
  }
  lanes_[i].trainer = *std::move(trainer);
  lane_trainer = lanes_[i].trainer.get();
  absl::MutexLock lock(&mu_);
  if (!wrapped_) {
    // Decorators are called once, on a training thread, as documented.
    for (Slot& slot : slots_) {
      slot.local = MakeLocalStateTrainer(lane_trainer_.get(), slot.spec.local_state);
      if (slot.spec.decorate) slot.trainer = slot.spec.decorate(slot.local.get());
    }
    wrapped_ = true;
  }
  return true;
}

void TrainingWorker::Loop(size_t i) {
  if (!BuildLane(i)) return;
  Lane& lane = lanes_[i];
  while (true) {
    Job job;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &TrainingWorker::CanRunOrExit));
      if (exit_) return;
      auto next = NextRunnable();
      job = std::move(*next);
      jobs_.erase(next);
      busy_[job.client] = true;
    }
    TrainingResult r;
    r.client = job.client;
    r.round = job.task.round;
    r.model_version = job.task.model_version;
    r.evaluation = job.task.config.evaluate_only;
    const absl::Time started = clock_->Now();
    AttachModel(lane, &job);
    r.status = RunJob(lane, slots_[job.client], job, &r.outcome);
    DetachModel(lane, &job);
    r.busy = clock_->Now() - started;
    {
      absl::MutexLock lock(&mu_);
      busy_[job.client] = false;
      lane_cached_[i] = lane.trainer->CachedArchitectures();
      results_.push_back(std::move(r));
    }
    notify_();
  }
}

absl::Status TrainingWorker::RunJob(Lane& lane, Slot& slot, const Job& job,
                                    TrainOutcome* outcome) {
  Trainer& chosen = slot.trainer != nullptr ? *slot.trainer : *slot.local;
  if (job.task.config.evaluate_only) {
    FEDGE_RETURN_IF_ERROR(EnsureEvalData(slot));
    EvalResult eval;
    FEDGE_RETURN_IF_ERROR(chosen.Evaluate(job.task, *slot.eval_data, &eval));
    outcome->delta.clear();
    outcome->control_delta.clear();
    outcome->encoding = protocol::DeltaEncoding::kFloat32;
    outcome->packed.clear();
    outcome->num_examples = static_cast<uint64_t>(eval.examples);
    outcome->metrics = protocol::LocalMetrics();
    outcome->metrics.loss = static_cast<float>(eval.loss);
    outcome->metrics.accuracy = static_cast<float>(eval.accuracy);
    outcome->metrics.mse = static_cast<float>(eval.mse);
    outcome->metrics.mae = static_cast<float>(eval.mae);
    return absl::OkStatus();
  }
  FEDGE_RETURN_IF_ERROR(EnsureData(slot));
  std::atomic<uint64_t>& wanted = wanted_round_[job.client];
  const uint64_t round = job.task.round;
  FEDGE_RETURN_IF_ERROR(chosen.Train(
      job.task, *slot.data,
      [this, &wanted, round] { return stopping_.load() || wanted.load() != round; }, outcome));
  // A pruned model: only the kept coordinates travel (the trainer kept the
  // others at 0), in the mask's order.
  if (!job.task.model.mask.empty()) {
    std::vector<float> kept;
    compression::Gather(job.task.model.mask, outcome->delta, &kept);
    outcome->delta.swap(kept);
  }
  // After training and any simulated attack: DP bounds what leaves the
  // device, whatever produced it.
  if (job.task.config.privacy.mode != protocol::PrivacyMode::kOff) {
    if (lane.noise_bits == nullptr) lane.noise_bits = privacy::RandomBits::Crypto();
    FEDGE_RETURN_IF_ERROR(ApplyDevicePrivacy(job.task.config.privacy,
                                             absl::MakeSpan(outcome->delta), &outcome->metrics,
                                             *lane.noise_bits, &outcome->privacy));
  }
  // Last: compression changes only how the (clipped, noised) delta travels.
  return Compress(slot, job.task, outcome);
}

absl::Status TrainingWorker::Compress(Slot& slot, const protocol::Task& task,
                                      TrainOutcome* outcome) {
  outcome->encoding = protocol::DeltaEncoding::kFloat32;
  outcome->packed.clear();
  const compression::Config& config = task.config.compression;
  if (config.method == compression::Method::kFloat32) return absl::OkStatus();
  if (task.secure.enabled) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the task asks for ", compression::ConfigName(config),
        " compression in a secure-aggregation round, which sums uncompressed fixed-point words"));
  }
  // Each client's rounding coins differ, and differ from round to round.
  const uint64_t seed = task.config.seed ^ (slot.spec.client_id * 0x9e3779b97f4a7c15ull) ^
                        (task.round << 32);
  FEDGE_RETURN_IF_ERROR(compression::Compress(outcome->delta, config, seed, &slot.residual,
                                              &outcome->packed));
  outcome->encoding = config.method;
  outcome->delta.clear();
  return absl::OkStatus();
}

absl::Status TrainingWorker::EnsureEvalData(Slot& slot) {
  if (slot.eval_data.has_value()) return absl::OkStatus();
  if (!slot.spec.eval_source) {
    return absl::FailedPreconditionError("asked to evaluate, but this client has no held-out data");
  }
  absl::StatusOr<Dataset> d = slot.spec.eval_source();
  if (!d.ok()) return d.status();
  if (static_cast<uint64_t>(d->size()) != slot.spec.eval_examples) {
    return absl::FailedPreconditionError(
        absl::StrCat("held-out source gave ", d->size(), " examples, the client announced ",
                     slot.spec.eval_examples));
  }
  slot.eval_data = *std::move(d);
  return absl::OkStatus();
}

absl::Status TrainingWorker::EnsureData(Slot& slot) {
  if (slot.data.has_value()) return absl::OkStatus();
  if (!slot.spec.source) return absl::FailedPreconditionError("no data source");
  absl::StatusOr<Dataset> d = slot.spec.source();
  if (!d.ok()) return d.status();
  if (static_cast<uint64_t>(d->size()) != slot.spec.num_examples) {
    return absl::FailedPreconditionError(
        absl::StrCat("data source gave ", d->size(), " examples, the client announced ",
                     slot.spec.num_examples));
  }
  slot.data = *std::move(d);
  return absl::OkStatus();
}

}  // namespace fedge::client
