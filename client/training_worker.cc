#include "client/training_worker.h"

#include "absl/strings/str_cat.h"
#include "client/local_state.h"

namespace fedge::client {

TrainingWorker::TrainingWorker(TrainerFactory factory, std::vector<ClientData> clients,
                               std::function<void()> notify)
    : factory_(std::move(factory)), notify_(std::move(notify)),
      wanted_round_(std::make_unique<std::atomic<uint64_t>[]>(clients.size())) {
  for (ClientData& c : clients) slots_.push_back(Slot{std::move(c), std::nullopt, nullptr, nullptr});
}

TrainingWorker::~TrainingWorker() { Stop(); }

void TrainingWorker::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void TrainingWorker::Stop() {
  stopping_.store(true);
  {
    std::lock_guard<std::mutex> lock(mu_);
    exit_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TrainingWorker::Submit(size_t client, protocol::Task task) {
  Want(client, task.round);
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(Job{client, std::move(task)});
  }
  cv_.notify_all();
}

std::deque<TrainingResult> TrainingWorker::TakeResults() {
  std::deque<TrainingResult> done;
  std::lock_guard<std::mutex> lock(mu_);
  done.swap(results_);
  return done;
}

absl::Status TrainingWorker::fatal() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fatal_;
}

std::vector<std::string> TrainingWorker::CachedArchitectures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cached_;
}

void TrainingWorker::Loop() {
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = factory_();
  if (!trainer.ok()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      fatal_ = absl::Status(trainer.status().code(),
                            absl::StrCat("cannot build the trainer: ", trainer.status().message()));
    }
    notify_();
    return;
  }
  trainer_ = *std::move(trainer);
  for (Slot& slot : slots_) {
    slot.local = MakeLocalStateTrainer(trainer_.get());
    if (slot.spec.decorate) slot.trainer = slot.spec.decorate(slot.local.get());
  }
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return exit_ || !jobs_.empty(); });
      if (exit_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    TrainingResult r;
    r.client = job.client;
    r.round = job.task.round;
    r.model_version = job.task.model_version;
    Slot& slot = slots_[job.client];
    r.status = EnsureData(slot);
    if (r.status.ok()) {
      std::atomic<uint64_t>& wanted = wanted_round_[job.client];
      const uint64_t round = job.task.round;
      Trainer& chosen = slot.trainer != nullptr ? *slot.trainer : *slot.local;
      r.status = chosen.Train(
          job.task, *slot.data,
          [this, &wanted, round] { return stopping_.load() || wanted.load() != round; },
          &r.outcome);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      cached_ = trainer_->CachedArchitectures();
      results_.push_back(std::move(r));
    }
    notify_();
  }
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
