// The simulator's attacks (client/attack.h) around a fake Trainer that
// records the data it was given and returns a fixed delta; the per-client
// decorator seam of the training worker; no torch.

#include "client/attack.h"

#include <cmath>
#include <condition_variable>
#include <mutex>
#include <numeric>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/training_worker.h"
#include "tests/testing/status_matchers.h"

namespace fedge::client {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class RecordingTrainer : public Trainer {
 public:
  explicit RecordingTrainer(std::vector<float> delta) : delta_(std::move(delta)) {}
  absl::Status Train(const protocol::Task&, const Dataset& data, const StopPredicate&,
                     TrainOutcome* out) override {
    seen.push_back(data);
    out->delta = delta_;
    out->num_examples = static_cast<uint64_t>(data.size());
    return absl::OkStatus();
  }
  std::vector<std::string> CachedArchitectures() const override { return {"arch"}; }

  std::vector<Dataset> seen;

 private:
  std::vector<float> delta_;
};

// n 28x28 images of pixel value 7 (the trigger's 255 stands out), labels i % 10.
Dataset Images(int n) {
  Dataset d;
  d.example_shape = {1, 28, 28};
  d.storage = data::Storage::kUint8;
  d.bytes.assign(static_cast<size_t>(n) * 784, 7);
  for (int i = 0; i < n; ++i) d.targets.push_back(static_cast<float>(i % 10));
  return d;
}

protocol::Task Round(uint64_t round) {
  protocol::Task t;
  t.round = round;
  return t;
}

AttackOptions Attack(AttackKind kind, double scale = 0) {
  AttackOptions o;
  o.kind = kind;
  o.scale = scale;
  o.seed = 5;
  return o;
}

bool HasTrigger(const Dataset& d, int64_t i) {
  const uint8_t* img = d.bytes.data() + i * 784;
  for (int r = 24; r < 28; ++r) {
    for (int c = 24; c < 28; ++c) {
      if (img[r * 28 + c] != 255) return false;
    }
  }
  return true;
}

std::vector<float> Train(const AttackOptions& options, const std::vector<float>& delta,
                         uint64_t client = 1, uint64_t round = 1) {
  RecordingTrainer honest(delta);
  std::unique_ptr<Trainer> attacker = MakeAttackingTrainer(&honest, options, client);
  TrainOutcome out;
  EXPECT_THAT(attacker->Train(Round(round), Images(10), nullptr, &out), IsOk());
  return out.delta;
}

TEST(AttackTest, SignFlipUploadsTheNegatedScaledDelta) {
  EXPECT_THAT(Train(Attack(AttackKind::kSignFlip, 2), {1, -2, 3}), ElementsAre(-2, 4, -6));
  // 0: the kind's default, 4.
  EXPECT_THAT(Train(Attack(AttackKind::kSignFlip), {1, -2, 3}), ElementsAre(-4, 8, -12));
}

TEST(AttackTest, ScaleBoostsTheDelta) {
  EXPECT_THAT(Train(Attack(AttackKind::kScale), {1, -2, 3}), ElementsAre(10, -20, 30));
  EXPECT_THAT(Train(Attack(AttackKind::kScale, 3), {1, -2, 3}), ElementsAre(3, -6, 9));
}

TEST(AttackTest, GaussianUploadsSeededNoiseScaledToTheDeltasRms) {
  // RMS 0.02 (alternating signs), scale 10: N(0, 0.2^2) per coordinate.
  std::vector<float> delta(200000);
  for (size_t i = 0; i < delta.size(); ++i) delta[i] = i % 2 ? 0.02f : -0.02f;
  const std::vector<float> noise = Train(Attack(AttackKind::kGaussian), delta);
  ASSERT_EQ(noise.size(), delta.size());
  double sum = 0, sum_sq = 0;
  for (float x : noise) {
    sum += x;
    sum_sq += static_cast<double>(x) * x;
  }
  const double mean = sum / noise.size();
  const double sd = std::sqrt(sum_sq / noise.size() - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.002);  // 5 standard errors
  EXPECT_NEAR(sd, 0.2, 0.004);
  // Seeded by (seed, client, round): reproducible, different per client and round.
  EXPECT_EQ(Train(Attack(AttackKind::kGaussian), delta), noise);
  EXPECT_NE(Train(Attack(AttackKind::kGaussian), delta, /*client=*/2), noise);
  EXPECT_NE(Train(Attack(AttackKind::kGaussian), delta, 1, /*round=*/2), noise);
}

TEST(AttackTest, LabelFlipTrainsOnFlippedLabelsAndUploadsHonestly) {
  RecordingTrainer honest({0.5f});
  std::unique_ptr<Trainer> attacker =
      MakeAttackingTrainer(&honest, Attack(AttackKind::kLabelFlip), 1);
  const Dataset data = Images(20);
  TrainOutcome out;
  ASSERT_THAT(attacker->Train(Round(1), data, nullptr, &out), IsOk());
  ASSERT_EQ(honest.seen.size(), 1u);
  for (int64_t i = 0; i < data.size(); ++i) {
    EXPECT_EQ(honest.seen[0].targets[i], 9 - data.targets[i]);
  }
  EXPECT_EQ(honest.seen[0].bytes, data.bytes);
  EXPECT_THAT(out.delta, ElementsAre(0.5f));
}

TEST(AttackTest, BackdoorStampsTheTriggerOnItsShareAndRelabelsThem) {
  AttackOptions o = Attack(AttackKind::kBackdoor);
  o.backdoor_fraction = 0.25;
  o.backdoor_target = 3;
  RecordingTrainer honest({1.0f});
  std::unique_ptr<Trainer> attacker = MakeAttackingTrainer(&honest, o, 1);
  const Dataset data = Images(200);
  TrainOutcome out;
  ASSERT_THAT(attacker->Train(Round(1), data, nullptr, &out), IsOk());
  ASSERT_THAT(attacker->Train(Round(2), data, nullptr, &out), IsOk());
  ASSERT_EQ(honest.seen.size(), 2u);
  const Dataset& seen = honest.seen[0];
  int stamped = 0;
  for (int64_t i = 0; i < data.size(); ++i) {
    const auto first = seen.bytes.begin() + i * 784;
    if (HasTrigger(seen, i)) {
      ++stamped;
      EXPECT_EQ(seen.targets[i], 3);
      // Only the trigger's 16 pixels changed.
      int changed = 0;
      for (int p = 0; p < 784; ++p) changed += first[p] != data.bytes[i * 784 + p];
      EXPECT_EQ(changed, 16);
    } else {
      EXPECT_EQ(seen.targets[i], data.targets[i]);
      EXPECT_TRUE(std::equal(first, first + 784, data.bytes.begin() + i * 784));
    }
  }
  EXPECT_EQ(stamped, 50);
  // The same examples every round; uploads as trained (scale 1).
  EXPECT_EQ(honest.seen[1].targets, seen.targets);
  EXPECT_EQ(honest.seen[1].bytes, seen.bytes);
  EXPECT_THAT(out.delta, ElementsAre(1.0f));
  // Another client poisons other examples.
  RecordingTrainer other({1.0f});
  ASSERT_THAT(MakeAttackingTrainer(&other, o, 2)->Train(Round(1), data, nullptr, &out), IsOk());
  EXPECT_NE(other.seen[0].targets, seen.targets);
}

TEST(AttackTest, BackdoorTestSetHoldsTheOtherClassesTriggeredAndRelabelled) {
  const Dataset test = Images(50);
  const Dataset set = *BackdoorTestSet(test, 3);
  ASSERT_EQ(set.size(), 45);  // the five images of class 3 are left out
  for (int64_t i = 0; i < set.size(); ++i) {
    EXPECT_EQ(set.targets[i], 3);
    EXPECT_TRUE(HasTrigger(set, i));
  }
  EXPECT_EQ(set.bytes[0], 7);
}

TEST(AttackTest, KindsAndSettingsAreCheckedNamingTheFlag) {
  EXPECT_THAT(ParseAttackKind("labelflip", "--attack"), IsOk());
  absl::StatusOr<AttackKind> bad = ParseAttackKind("flipsign", "--attack");
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(bad.status().message(), HasSubstr("--attack=flipsign"));
  EXPECT_THAT(bad.status().message(),
              HasSubstr("known attacks: signflip, scale, gaussian, labelflip, backdoor"));
  AttackOptions o = Attack(AttackKind::kBackdoor);
  o.backdoor_target = 10;
  EXPECT_THAT(ValidateAttackOptions(o).message(), HasSubstr("--backdoor_target=10"));
  o.backdoor_target = 9;
  EXPECT_THAT(ValidateAttackOptions(o), IsOk());
  o.backdoor_fraction = 0;
  EXPECT_THAT(ValidateAttackOptions(o).message(), HasSubstr("--backdoor_fraction"));
  o = Attack(AttackKind::kScale, -1);
  EXPECT_THAT(ValidateAttackOptions(o).message(), HasSubstr("--attack_scale"));
  EXPECT_EQ(DescribeAttack(Attack(AttackKind::kSignFlip)), "signflip x4");
}

// The training worker gives only the decorated client the attacking trainer.
TEST(AttackTest, OnlyTheDecoratedClientOfAWorkerAttacks) {
  auto* honest = new RecordingTrainer({1, 2});
  std::vector<TrainingWorker::ClientData> clients(2);
  for (TrainingWorker::ClientData& c : clients) {
    c.source = [] { return Images(10); };
    c.num_examples = 10;
  }
  clients[0].decorate = AttackDecorator(Attack(AttackKind::kSignFlip, 1), 0);
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  TrainingWorker worker(
      [honest]() -> absl::StatusOr<std::unique_ptr<Trainer>> {
        return std::unique_ptr<Trainer>(honest);
      },
      std::move(clients),
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        ++done;
        cv.notify_all();
      });
  worker.Start();
  worker.Submit(0, Round(1));
  worker.Submit(1, Round(1));
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return done == 2; }));
  }
  std::deque<TrainingResult> results = worker.TakeResults();
  ASSERT_EQ(results.size(), 2u);
  for (const TrainingResult& r : results) {
    ASSERT_THAT(r.status, IsOk());
    const std::vector<float> want =
        r.client == 0 ? std::vector<float>{-1, -2} : std::vector<float>{1, 2};
    EXPECT_EQ(r.outcome.delta, want) << "client " << r.client;
  }
  EXPECT_THAT(worker.CachedArchitectures(), ElementsAre("arch"));
}

}  // namespace
}  // namespace fedge::client
