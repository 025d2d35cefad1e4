// Strategies in the coordinator, sans I/O: each one's rounds against a plain
// reference written here, strategy state through a real checkpoint file
// (encode, decode, restore) giving the same model as an uninterrupted run,
// and the pairings that are refused.

#include "coordinator/strategy.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "coordinator/checkpoint.h"
#include "coordinator/coordinator.h"
#include "tests/coordinator/fakes.h"
#include "tests/testing/status_matchers.h"

namespace fedge::coordinator {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::HasSubstr;
using protocol::TensorRole;

constexpr int kClients = 5;
constexpr size_t kDim = 7;  // w[3], b[2] parameters; bn.running_mean[2] buffer

protocol::ModelPayload Model() {
  protocol::ModelPayload m;
  m.manifest.tensors = {{"w", {3}, protocol::DType::kFloat32, TensorRole::kParameter},
                        {"b", {2}, protocol::DType::kFloat32, TensorRole::kParameter},
                        {"bn.running_mean", {2}, protocol::DType::kFloat32, TensorRole::kBuffer}};
  m.architecture_id = "builtin:mlp";
  m.architecture = "mlp";
  m.weights = {0.5f, -0.25f, 1, 0, 2, 0.1f, 0.2f};
  return m;
}

// Client c's delta in round r, and its example count: distinct, with one
// client (4) far from the others so robust rules visibly differ from the mean.
std::vector<float> Delta(int c, uint64_t r) {
  std::vector<float> d(kDim);
  for (size_t i = 0; i < kDim; ++i) {
    d[i] = 0.01f * static_cast<float>((c + 1) * (i + 2)) * (r % 2 ? 1.0f : -0.5f) +
           0.003f * static_cast<float>(i);
    if (c == 4) d[i] = 3.0f + static_cast<float>(i);
  }
  return d;
}
uint64_t Examples(int c) { return 100 + 50 * static_cast<uint64_t>(c); }

CoordinatorConfig Config(StrategyOptions strategy, uint64_t rounds) {
  CoordinatorConfig cfg;
  cfg.rounds = rounds;
  cfg.min_clients = kClients;
  cfg.quorum = kClients;
  cfg.round_timeout = absl::Seconds(30);
  cfg.missed_heartbeats = 100;
  cfg.training.batch_size = 8;
  cfg.strategy = std::move(strategy);
  return cfg;
}

StrategyOptions Named(const std::string& name) {
  StrategyOptions o;
  o.name = name;
  return o;
}


// Drives one coordinator through rounds with the deltas above.
class Driver {
 public:
  explicit Driver(CoordinatorConfig cfg) {
    cfg.checkpoint_sink = &sink;
    auto c = Coordinator::Create(cfg, Model(), &outbox_, nullptr, &reports_, now_);
    EXPECT_THAT(c, IsOk());
    if (c.ok()) coord = *std::move(c);
  }
  void Register() {
    for (int c = 0; c < kClients; ++c) {
      protocol::Hello h;
      h.client_id = static_cast<uint64_t>(c + 1);
      h.num_examples = Examples(c);
      coord->OnFrame(Peer(c), protocol::Encode(h), now_);
    }
  }
  // With `control`, each update carries a control-variate change (SCAFFOLD):
  // client c's is its delta times -(c + 1).
  void RunRound(bool control = false) {
    const uint64_t r = coord->round();
    for (int c = 0; c < kClients; ++c) {
      protocol::Update u;
      u.round = r;
      u.model_version = coord->model_version();
      u.client_id = static_cast<uint64_t>(c + 1);
      u.num_examples = Examples(c);
      u.delta = Delta(c, r);
      if (control) {
        for (float d : u.delta) u.control_delta.push_back(-static_cast<float>(c + 1) * d);
      }
      coord->OnFrame(Peer(c), protocol::Encode(u), now_);
    }
  }
  static std::string Peer(int c) { return "p" + std::to_string(c); }

  absl::Time now_ = absl::FromUnixSeconds(1000);
  RecordingOutbox outbox_;
  Reports reports_;
  KeepingSink sink;
  std::unique_ptr<Coordinator> coord;
};

// ---- The reference: combine, then step, as the papers write it -------------

std::vector<double> Column(uint64_t r, size_t i) {
  std::vector<double> v;
  for (int c = 0; c < kClients; ++c) v.push_back(Delta(c, r)[i]);
  return v;
}

std::vector<double> Combine(const std::string& rule, uint64_t r) {
  std::vector<double> out(kDim);
  if (rule == "krum" || rule == "multikrum") {
    // Blanchard et al. with f = 1: score = sum of the n - f - 2 = 2 smallest
    // squared distances; krum takes the best, multikrum (m = n - f = 4) the
    // mean of the 4 best.
    std::vector<std::pair<double, int>> scores;
    for (int a = 0; a < kClients; ++a) {
      std::vector<double> d;
      for (int b = 0; b < kClients; ++b) {
        if (a == b) continue;
        double s = 0;
        for (size_t i = 0; i < kDim; ++i) {
          const double x = Delta(a, r)[i] - Delta(b, r)[i];
          s += x * x;
        }
        d.push_back(s);
      }
      std::sort(d.begin(), d.end());
      scores.emplace_back(d[0] + d[1], a);
    }
    std::stable_sort(scores.begin(), scores.end(),
                     [](const auto& x, const auto& y) { return x.first < y.first; });
    const int m = rule == "krum" ? 1 : 4;
    for (int k = 0; k < m; ++k) {
      for (size_t i = 0; i < kDim; ++i) out[i] += Delta(scores[k].second, r)[i] / m;
    }
    return out;
  }
  for (size_t i = 0; i < kDim; ++i) {
    std::vector<double> col = Column(r, i);
    if (rule == "median") {
      std::sort(col.begin(), col.end());
      out[i] = col[2];
    } else if (rule == "trimmed_mean") {  // beta 0.2: one cut at each end
      std::sort(col.begin(), col.end());
      out[i] = (col[1] + col[2] + col[3]) / 3;
    } else {  // example-weighted mean
      double sum = 0, w = 0;
      for (int c = 0; c < kClients; ++c) {
        sum += col[c] * Examples(c);
        w += Examples(c);
      }
      out[i] = sum / w;
    }
  }
  return out;
}

struct Case {
  std::string name;
  double server_lr;
};

class StrategyRoundsTest : public ::testing::TestWithParam<Case> {};

TEST_P(StrategyRoundsTest, ThreeRoundsMatchTheReference) {
  const Case& k = GetParam();
  StrategyOptions o = Named(k.name);
  o.optimizer.learning_rate = k.server_lr;
  o.optimizer.momentum = 0.5;
  o.optimizer.beta1 = 0.8;
  o.optimizer.beta2 = 0.9;
  o.optimizer.tau = 0.05;
  o.trim_beta = 0.2;
  o.byzantine = 1;
  Driver d(Config(o, 3));
  ASSERT_NE(d.coord, nullptr);
  d.Register();

  const std::vector<float> initial = Model().weights;
  std::vector<double> x(initial.begin(), initial.end());
  std::vector<double> m(kDim, 0), v(kDim, 0);
  if (k.name == "fedadam" || k.name == "fedyogi" || k.name == "fedadagrad") {
    std::fill(v.begin(), v.end(), o.optimizer.tau * o.optimizer.tau);
  }
  for (uint64_t r = 1; r <= 3; ++r) {
    d.RunRound();
    ASSERT_EQ(d.coord->completed_rounds(), r);
    const std::vector<double> delta = Combine(k.name, r);
    for (size_t i = 0; i < kDim; ++i) {
      const double g = delta[i];
      if (i >= 5) {  // the buffer: the combined value, whatever the optimiser
        x[i] += g;
        continue;
      }
      if (k.name == "fedavgm") {
        v[i] = o.optimizer.momentum * v[i] + g;
        x[i] += k.server_lr * v[i];
      } else if (k.name == "fedadam" || k.name == "fedyogi" || k.name == "fedadagrad") {
        m[i] = o.optimizer.beta1 * m[i] + (1 - o.optimizer.beta1) * g;
        if (k.name == "fedadam") v[i] = o.optimizer.beta2 * v[i] + (1 - o.optimizer.beta2) * g * g;
        if (k.name == "fedadagrad") v[i] += g * g;
        if (k.name == "fedyogi") {
          const double s = v[i] - g * g;
          v[i] -= (1 - o.optimizer.beta2) * g * g * ((s > 0) - (s < 0));
        }
        x[i] += k.server_lr * m[i] / (std::sqrt(v[i]) + o.optimizer.tau);
      } else {
        x[i] += k.server_lr * g;
      }
    }
    for (size_t i = 0; i < kDim; ++i) {
      EXPECT_NEAR(d.coord->weights()[i], x[i], 2e-5 * (1 + std::fabs(x[i])))
          << k.name << " round " << r << " coordinate " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    All, StrategyRoundsTest,
    ::testing::Values(Case{"fedavg", 0.7}, Case{"fedavgm", 0.9}, Case{"fedadagrad", 0.05},
                      Case{"fedadam", 0.05}, Case{"fedyogi", 0.05}, Case{"fedprox", 1.0}, Case{"fedbn", 1.0},
                      Case{"median", 1.0}, Case{"trimmed_mean", 1.0}, Case{"krum", 1.0},
                      Case{"multikrum", 1.0}),
    [](const auto& p) { return p.param.name; });

TEST(StrategyTest, RobustRulesResistTheOutlierThatMovesTheMean) {
  for (const char* name : {"median", "trimmed_mean", "krum", "multikrum"}) {
    StrategyOptions o = Named(name);
    o.trim_beta = 0.2;
    o.byzantine = 1;
    Driver d(Config(o, 1));
    d.Register();
    d.RunRound();
    // Client 4 pushes every coordinate by >= 3; the honest ones by < 0.35.
    for (size_t i = 0; i < kDim; ++i) {
      EXPECT_LT(std::fabs(d.coord->weights()[i] - Model().weights[i]), 0.35) << name << " " << i;
    }
    EXPECT_GT(d.reports_.reports.at(0).buffered_bytes, kClients * kDim * sizeof(float) - 1);
  }
  Driver mean(Config(Named("fedavg"), 1));
  mean.Register();
  mean.RunRound();
  EXPECT_GT(std::fabs(mean.coord->weights()[0] - Model().weights[0]), 0.5);
  EXPECT_EQ(mean.reports_.reports.at(0).buffered_bytes, 0u);
}

// kill -9 between rounds: the checkpoint file (encoded, decoded) restores the
// optimiser's momenta, so the resumed run's model equals the uninterrupted one.
TEST(StrategyTest, ResumingFromACheckpointGivesTheSameModelAsNoKill) {
  for (const char* name : {"fedavgm", "fedadam", "fedyogi", "fedadagrad", "fedavg"}) {
    StrategyOptions o = Named(name);
    Driver straight(Config(o, 3));
    straight.Register();
    for (int r = 0; r < 3; ++r) straight.RunRound();
    ASSERT_TRUE(straight.coord->done());

    Driver first(Config(o, 3));
    first.Register();
    first.RunRound();
    first.RunRound();
    ASSERT_EQ(first.sink.files.size(), 2u);
    // The coordinator dies here, after round 2's checkpoint.
    absl::StatusOr<Checkpoint> decoded = DecodeCheckpoint(first.sink.files[1], 1 << 20);
    ASSERT_THAT(decoded, IsOk());

    Driver resumed(Config(o, 3));
    ASSERT_THAT(resumed.coord->Restore(decoded->coordinator), IsOk());
    resumed.Register();
    resumed.RunRound();
    ASSERT_TRUE(resumed.coord->done()) << name;
    EXPECT_EQ(resumed.coord->weights(), straight.coord->weights()) << name;  // bit for bit
    if (std::string(name) == "fedavg") continue;
    // Without the optimiser state, the same rounds give another model.
    CoordinatorSnapshot no_state = decoded->coordinator;
    Driver amnesic(Config(o, 3));
    no_state.optimizer.state = Driver(Config(o, 3)).coord->Snapshot().optimizer.state;
    ASSERT_THAT(amnesic.coord->Restore(no_state), IsOk());
    amnesic.Register();
    amnesic.RunRound();
    EXPECT_NE(amnesic.coord->weights(), straight.coord->weights()) << name;
  }
}

TEST(StrategyTest, ACheckpointIsNotResumedByAnotherOptimiser) {
  Driver adam(Config(Named("fedadam"), 3));
  adam.Register();
  adam.RunRound();
  ASSERT_EQ(adam.sink.files.size(), 1u);
  absl::StatusOr<Checkpoint> decoded = DecodeCheckpoint(adam.sink.files[0], 1 << 20);
  ASSERT_THAT(decoded, IsOk());
  Driver yogi(Config(Named("fedyogi"), 3));
  EXPECT_THAT(yogi.coord->Restore(decoded->coordinator),
              StatusIs(absl::StatusCode::kInvalidArgument, "--strategy=fedyogi"));
}

// Karimireddy et al.: c += |S| / N * mean(delta c_i), sent in every task and
// kept in the checkpoint; the model step is FedAvg's.
TEST(StrategyTest, ScaffoldKeepsAndSendsTheServerControlVariate) {
  Driver d(Config(Named("scaffold"), 3));
  d.Register();
  auto tasks = d.outbox_.To<protocol::Task>(Driver::Peer(0));
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].control, std::vector<float>(kDim, 0.0f));
  // An update without its control-variate change is refused.
  protocol::Update bare;
  bare.round = 1;
  bare.client_id = 1;
  bare.num_examples = 100;
  bare.delta = Delta(0, 1);
  d.coord->OnFrame(Driver::Peer(0), protocol::Encode(bare), d.now_);
  EXPECT_EQ(d.outbox_.Count(Driver::Peer(0), protocol::ErrorCode::kWrongLength), 1u);
  d.RunRound(/*control=*/true);
  ASSERT_EQ(d.coord->completed_rounds(), 1u);
  tasks = d.outbox_.To<protocol::Task>(Driver::Peer(0));
  ASSERT_EQ(tasks.size(), 2u);
  // All 5 of 5 clients took part: c = mean of the changes (equal weights).
  for (size_t i = 0; i < kDim; ++i) {
    double mean = 0;
    for (int c = 0; c < kClients; ++c) mean += -(c + 1) * Delta(c, 1)[i] / kClients;
    EXPECT_NEAR(tasks[1].control[i], mean, 1e-5) << i;
  }
  // The checkpoint holds c; a resumed coordinator sends the same.
  ASSERT_EQ(d.sink.files.size(), 1u);
  absl::StatusOr<Checkpoint> decoded = DecodeCheckpoint(d.sink.files[0], 1 << 20);
  ASSERT_THAT(decoded, IsOk());
  EXPECT_EQ(decoded->coordinator.control_variate, tasks[1].control);
  Driver resumed(Config(Named("scaffold"), 3));
  ASSERT_THAT(resumed.coord->Restore(decoded->coordinator), IsOk());
  resumed.Register();
  auto resumed_tasks = resumed.outbox_.To<protocol::Task>(Driver::Peer(0));
  ASSERT_EQ(resumed_tasks.size(), 1u);
  EXPECT_EQ(resumed_tasks[0].control, tasks[1].control);
  // Another strategy cannot resume it.
  Driver plain(Config(Named("fedavg"), 3));
  EXPECT_THAT(plain.coord->Restore(decoded->coordinator),
              StatusIs(absl::StatusCode::kInvalidArgument, "--strategy=scaffold"));
}

TEST(StrategyTest, ClientSideSettingsTravelInTheTask) {
  StrategyOptions o = Named("fedprox");
  o.proximal_mu = 0.25f;
  o.clip_norm = 1.5;
  Driver d(Config(o, 1));
  d.Register();
  auto tasks = d.outbox_.To<protocol::Task>(Driver::Peer(0));
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_FLOAT_EQ(tasks[0].config.proximal_mu, 0.25f);
  EXPECT_FLOAT_EQ(tasks[0].config.clip_norm, 1.5f);
  Driver plain(Config(Named("fedavg"), 1));
  plain.Register();
  tasks = plain.outbox_.To<protocol::Task>(Driver::Peer(0));
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].config.proximal_mu, 0.0f);
  EXPECT_EQ(tasks[0].config.clip_norm, 0.0f);
  EXPECT_FALSE(tasks[0].config.local_normalization);
  EXPECT_TRUE(tasks[0].control.empty());
  Driver fedbn(Config(Named("fedbn"), 1));
  fedbn.Register();
  tasks = fedbn.outbox_.To<protocol::Task>(Driver::Peer(0));
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_TRUE(tasks[0].config.local_normalization);
}

TEST(StrategyTest, TheCoordinatorClipsPlainUpdatesItself) {
  StrategyOptions o = Named("fedavg");
  o.clip_norm = 0.1;
  Driver d(Config(o, 1));
  d.Register();
  d.RunRound();
  // Each client's parameter delta is clipped to norm 0.1, so the mean's
  // parameter part is at most 0.1 long; the buffer is not clipped.
  double norm = 0;
  for (size_t i = 0; i < 5; ++i) {
    const double x = d.coord->weights()[i] - Model().weights[i];
    norm += x * x;
  }
  EXPECT_LE(std::sqrt(norm), 0.1 + 1e-6);
  EXPECT_GT(d.coord->weights()[5] - Model().weights[5], 0.5);  // client 4's buffer delta counts
}

TEST(StrategyTest, ImpossibleConfigurationsAreRefusedNamingTheFlags) {
  RecordingOutbox outbox;
  auto create = [&](CoordinatorConfig cfg) {
    return Coordinator::Create(cfg, Model(), &outbox, nullptr, nullptr, absl::Now()).status();
  };
  EXPECT_THAT(create(Config(Named("fedsomething"), 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, "known strategies: fedavg, fedavgm"));
  for (const char* robust : {"median", "trimmed_mean", "krum", "multikrum"}) {
    CoordinatorConfig cfg = Config(Named(robust), 1);
    cfg.secure.enabled = true;
    EXPECT_THAT(create(cfg), StatusIs(absl::StatusCode::kInvalidArgument, "--secure")) << robust;
  }
  CoordinatorConfig big = Config(Named("median"), 1);
  big.strategy.max_buffered_mb = 0;
  EXPECT_THAT(create(big), StatusIs(absl::StatusCode::kInvalidArgument, "--max_buffered_mb=0"));
  StrategyOptions o = Named("fedprox");
  o.proximal_mu = 0;
  EXPECT_THAT(create(Config(o, 1)), StatusIs(absl::StatusCode::kInvalidArgument, "--proximal_mu"));
  o = Named("trimmed_mean");
  o.trim_beta = 0.5;
  EXPECT_THAT(create(Config(o, 1)), StatusIs(absl::StatusCode::kInvalidArgument, "--trim_beta"));
  o = Named("fedadam");
  o.optimizer.beta1 = 1;
  EXPECT_THAT(create(Config(o, 1)), StatusIs(absl::StatusCode::kInvalidArgument, "--server_beta1"));
  o = Named("fedavg");
  o.clip_norm = -1;
  EXPECT_THAT(create(Config(o, 1)), StatusIs(absl::StatusCode::kInvalidArgument, "--clip_norm"));
  o = Named("fedavg");
  o.bucket_size = 2;
  EXPECT_THAT(create(Config(o, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, "--bucketing=2 applies to the robust"));
  o = Named("median");
  o.bucket_size = 1001;
  EXPECT_THAT(create(Config(o, 1)), StatusIs(absl::StatusCode::kInvalidArgument, "--bucketing"));
  o.bucket_size = 2;
  EXPECT_THAT(create(Config(o, 1)), IsOk());
  // Mean-based strategies, SCAFFOLD and norm bounding compose with SecAgg.
  CoordinatorConfig scaffold = Config(Named("scaffold"), 1);
  scaffold.secure.enabled = true;
  EXPECT_THAT(create(scaffold), IsOk());
  o = Named("fedadam");
  o.clip_norm = 1;
  CoordinatorConfig secure = Config(o, 1);
  secure.secure.enabled = true;
  EXPECT_THAT(create(secure), IsOk());
}

TEST(StrategyTest, KrumWithTooFewUpdatesFailsTheRoundWithTheReason) {
  StrategyOptions o = Named("krum");
  o.byzantine = 2;  // needs n >= 2f + 3 = 7 updates; 5 arrive
  Driver d(Config(o, 1));
  d.Register();
  d.RunRound();
  ASSERT_EQ(d.reports_.reports.size(), 1u);
  EXPECT_FALSE(d.reports_.reports[0].completed);
  EXPECT_THAT(d.reports_.reports[0].failure, HasSubstr("f = 2"));
  EXPECT_EQ(d.coord->weights(), Model().weights);
}

}  // namespace
}  // namespace fedge::coordinator
