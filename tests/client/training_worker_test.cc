// The training worker's shared models: tasks queued with one model between
// them (a round on a shared connection) each train that model, also when
// tasks of another model run in between; a task with a model of its own
// trains its own. No torch.

#include "client/training_worker.h"

#include <condition_variable>
#include <map>
#include <mutex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace fedge::client {
namespace {

using ::fedge::testing::IsOk;

// Uploads the weights it was given as its delta.
class EchoTrainer : public Trainer {
 public:
  absl::Status Train(const protocol::Task& task, const Dataset& data, const StopPredicate&,
                     TrainOutcome* out) override {
    out->delta = task.model.weights;
    out->num_examples = static_cast<uint64_t>(data.size());
    return absl::OkStatus();
  }
  std::vector<std::string> CachedArchitectures() const override { return {}; }
};

Dataset OneExample() {
  Dataset d;
  d.example_shape = {1};
  d.storage = data::Storage::kUint8;
  d.bytes = {1};
  d.targets = {0};
  return d;
}

std::shared_ptr<const protocol::ModelPayload> Shared(std::vector<float> weights) {
  auto m = std::make_shared<protocol::ModelPayload>();
  m->weights = std::move(weights);
  return m;
}

TEST(TrainingWorkerTest, QueuedTasksTrainTheModelTheyShare) {
  std::vector<TrainingWorker::ClientData> clients(5);
  for (TrainingWorker::ClientData& c : clients) {
    c.source = [] { return OneExample(); };
    c.num_examples = 1;
  }
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  TrainingWorker worker(
      []() -> absl::StatusOr<std::unique_ptr<Trainer>> { return std::make_unique<EchoTrainer>(); },
      std::move(clients), [&] {
        std::lock_guard<std::mutex> lock(mu);
        ++done;
        cv.notify_all();
      });
  const auto a = Shared({1, 2});
  const auto b = Shared({3, 4, 5});
  protocol::Task own;
  own.round = 1;
  own.model.weights = {9};
  protocol::Task task;
  task.round = 1;
  // Queued before the worker starts: A, A, B, own, A.
  worker.Submit(0, task, a);
  worker.Submit(1, task, a);
  worker.Submit(2, task, b);
  worker.Submit(3, own);
  worker.Submit(4, task, a);
  worker.Start();
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return done == 5; }));
  }
  std::map<size_t, std::vector<float>> trained;
  for (const TrainingResult& r : worker.TakeResults()) {
    ASSERT_THAT(r.status, IsOk());
    trained[r.client] = r.outcome.delta;
  }
  EXPECT_EQ(trained[0], a->weights);
  EXPECT_EQ(trained[1], a->weights);
  EXPECT_EQ(trained[2], b->weights);
  EXPECT_EQ(trained[3], own.model.weights);
  EXPECT_EQ(trained[4], a->weights);
  // The shared models themselves are never moved from or changed.
  EXPECT_EQ(a->weights, (std::vector<float>{1, 2}));
  EXPECT_EQ(b->weights, (std::vector<float>{3, 4, 5}));
}

}  // namespace
}  // namespace fedge::client
