// The training worker's shared models: tasks queued with one model between
// them (a round on a shared connection) each train that model, also when
// tasks of another model run in between; a task with a model of its own
// trains its own. Its lanes: two threads train two clients at once, each
// with its own trainer, one client's tasks never overlap and keep their
// order, and a Hello announces only architectures every lane holds. No torch.

#include "client/training_worker.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

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

// Every Train call waits until `want` calls are inside Train at once (or 30
// s pass, which fails the test): only lanes running side by side get there.
struct Rendezvous {
  std::mutex mu;
  std::condition_variable cv;
  int inside = 0, most = 0;
  int want = 2;
  std::map<size_t, int> running;            // per client: calls inside now
  std::map<size_t, std::vector<uint64_t>> rounds;  // per client, in the order they ran
  std::set<const void*> trainers;            // the trainers that ran a task
  int overlaps = 0;                          // a client's calls overlapping
  bool met = true;
};

class RendezvousTrainer : public Trainer {
 public:
  RendezvousTrainer(Rendezvous* r, std::vector<std::string> cached)
      : r_(r), cached_(std::move(cached)) {}
  absl::Status Train(const protocol::Task& task, const Dataset&, const StopPredicate&,
                     TrainOutcome* out) override {
    const size_t client = static_cast<size_t>(task.model.weights[0]);
    std::unique_lock<std::mutex> lock(r_->mu);
    if (++r_->running[client] > 1) ++r_->overlaps;
    r_->rounds[client].push_back(task.round);
    r_->trainers.insert(this);
    r_->most = std::max(r_->most, ++r_->inside);
    r_->cv.notify_all();
    if (!r_->cv.wait_for(lock, std::chrono::seconds(30), [&] { return r_->most >= r_->want; })) {
      r_->met = false;
    }
    --r_->inside;
    --r_->running[client];
    out->delta = task.model.weights;
    out->num_examples = 1;
    return absl::OkStatus();
  }
  std::vector<std::string> CachedArchitectures() const override { return cached_; }

 private:
  Rendezvous* r_;
  std::vector<std::string> cached_;
};

std::vector<TrainingWorker::ClientData> OneExampleClients(size_t n) {
  std::vector<TrainingWorker::ClientData> clients(n);
  for (TrainingWorker::ClientData& c : clients) {
    c.source = [] { return OneExample(); };
    c.num_examples = 1;
  }
  return clients;
}

TEST(TrainingWorkerTest, TwoLanesTrainTwoClientsAtOnceAndOneClientsTasksInOrder) {
  std::vector<TrainingWorker::ClientData> clients = OneExampleClients(2);
  Rendezvous r;
  std::atomic<int> built{0};
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  TrainingWorker worker(
      [&]() -> absl::StatusOr<std::unique_ptr<Trainer>> {
        // The lanes' trainers hold different architectures.
        const int n = built.fetch_add(1);
        return std::make_unique<RendezvousTrainer>(
            &r, n == 0 ? std::vector<std::string>{"a", "b"} : std::vector<std::string>{"b"});
      },
      std::move(clients),
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        ++done;
        cv.notify_all();
      },
      Clock::Real(), /*threads=*/2);
  // Client 0 has three tasks queued ahead of client 1's one: a lane that
  // took client 0's second task while the first ran would overlap them.
  for (uint64_t round : {1, 2, 3}) {
    protocol::Task t;
    t.round = round;
    t.model.weights = {0};
    worker.Submit(0, t);
  }
  protocol::Task t;
  t.round = 1;
  t.model.weights = {1};
  worker.Submit(1, t);
  worker.Start();
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done == 4; }));
  }
  // Client 0's first task met client 1's; its later ones ran alone (the
  // rendezvous had been met once, so they did not wait).
  std::lock_guard<std::mutex> lock(r.mu);
  EXPECT_TRUE(r.met);
  EXPECT_EQ(r.most, 2);
  EXPECT_EQ(built.load(), 2);
  EXPECT_EQ(r.trainers.size(), 2u);  // each lane ran a task with its own trainer
  EXPECT_EQ(r.overlaps, 0);
  EXPECT_EQ(r.rounds[0], (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(r.rounds[1], (std::vector<uint64_t>{1}));
  for (const TrainingResult& res : worker.TakeResults()) EXPECT_THAT(res.status, IsOk());
  // Only "b" is held by both lanes: a task may omit only its bytes.
  EXPECT_EQ(worker.CachedArchitectures(), (std::vector<std::string>{"b"}));
}

// With one lane the same queue never has two tasks inside Train at once:
// the rendezvous above is a test that can fail.
TEST(TrainingWorkerTest, OneLaneRunsOneTaskAtATime) {
  std::vector<TrainingWorker::ClientData> clients = OneExampleClients(2);
  Rendezvous r;
  r.want = 1;  // each call returns at once
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  TrainingWorker worker(
      [&]() -> absl::StatusOr<std::unique_ptr<Trainer>> {
        return std::make_unique<RendezvousTrainer>(&r, std::vector<std::string>{"a"});
      },
      std::move(clients),
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        ++done;
        cv.notify_all();
      });
  for (size_t c : {0, 1, 0, 1}) {
    protocol::Task t;
    t.round = 1;
    t.model.weights = {static_cast<float>(c)};
    worker.Submit(c, t);
  }
  worker.Start();
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done == 4; }));
  }
  std::lock_guard<std::mutex> lock(r.mu);
  EXPECT_EQ(r.most, 1);
  EXPECT_EQ(r.trainers.size(), 1u);
  EXPECT_EQ(worker.CachedArchitectures(), (std::vector<std::string>{"a"}));
}

}  // namespace
}  // namespace fedge::client
