#include "aggregation/server_optimizer.h"

#include <cmath>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedge::aggregation {
namespace {

using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;

// Reddi et al. 2021, Algorithm 2, and FedAvgM, written out per coordinate in
// double as the papers state them: the reference the optimiser must match.
struct Reference {
  ServerOptimizerConfig c;
  std::vector<double> m, v;
  Reference(const ServerOptimizerConfig& config, size_t dim) : c(config) {
    m.assign(dim, 0.0);
    const bool adaptive = c.kind == ServerOptimizerKind::kAdagrad ||
                          c.kind == ServerOptimizerKind::kAdam ||
                          c.kind == ServerOptimizerKind::kYogi;
    v.assign(dim, adaptive ? c.tau * c.tau : 0.0);
  }
  void Step(const std::vector<float>& d, std::vector<double>& x, const std::vector<bool>& param) {
    for (size_t i = 0; i < x.size(); ++i) {
      const double g = d[i];
      if (!param[i]) {
        x[i] += g;
        continue;
      }
      switch (c.kind) {
        case ServerOptimizerKind::kSgd:
          x[i] += c.learning_rate * g;
          break;
        case ServerOptimizerKind::kMomentum:
          v[i] = c.momentum * v[i] + g;
          x[i] += c.learning_rate * v[i];
          break;
        default: {
          m[i] = c.beta1 * m[i] + (1 - c.beta1) * g;
          if (c.kind == ServerOptimizerKind::kAdagrad) {
            v[i] = v[i] + g * g;
          } else if (c.kind == ServerOptimizerKind::kAdam) {
            v[i] = c.beta2 * v[i] + (1 - c.beta2) * g * g;
          } else {
            const double s = v[i] - g * g;
            v[i] = v[i] - (1 - c.beta2) * g * g * ((s > 0) - (s < 0));
          }
          x[i] += c.learning_rate * m[i] / (std::sqrt(v[i]) + c.tau);
        }
      }
    }
  }
};

std::vector<float> Random(size_t n, std::mt19937& rng, float scale) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> out(n);
  for (float& x : out) x = dist(rng);
  return out;
}

class ServerOptimizerKindTest : public testing::TestWithParam<ServerOptimizerKind> {};

TEST_P(ServerOptimizerKindTest, ThreeRoundsMatchThePaperStepByStep) {
  constexpr size_t kDim = 257;
  // Parameters in two ranges; coordinates 100-119 and 250-256 are buffers.
  const Ranges ranges = {{0, 100}, {120, 250}};
  std::vector<bool> param(kDim, false);
  for (const auto& [b, e] : ranges) {
    for (size_t i = b; i < e; ++i) param[i] = true;
  }
  ServerOptimizerConfig config;
  config.kind = GetParam();
  config.learning_rate = 0.3;
  config.momentum = 0.8;
  config.beta1 = 0.85;
  config.beta2 = 0.95;
  config.tau = 0.01;
  auto opt = MakeServerOptimizer(config, kDim, ranges);
  ASSERT_TRUE(opt.ok()) << opt.status();
  Reference ref(config, kDim);
  std::mt19937 rng(7);
  std::vector<float> x = Random(kDim, rng, 1.0f);
  std::vector<double> xr(x.begin(), x.end());
  for (int round = 0; round < 3; ++round) {
    std::vector<float> d = Random(kDim, rng, 0.05f);
    ASSERT_TRUE((*opt)->Step(d, absl::MakeSpan(x)).ok());
    ref.Step(d, xr, param);
    for (size_t i = 0; i < kDim; ++i) {
      ASSERT_NEAR(x[i], xr[i], 1e-5 * (1 + std::fabs(xr[i]))) << "round " << round << " i " << i;
    }
  }
  EXPECT_EQ((*opt)->steps(), 3u);
}

TEST_P(ServerOptimizerKindTest, RestoredStateContinuesTheSameTrajectory) {
  constexpr size_t kDim = 64;
  ServerOptimizerConfig config;
  config.kind = GetParam();
  auto a = MakeServerOptimizer(config, kDim, {{0, kDim}});
  ASSERT_TRUE(a.ok());
  std::mt19937 rng(3);
  std::vector<float> x = Random(kDim, rng, 1.0f);
  const std::vector<float> d1 = Random(kDim, rng, 0.1f), d2 = Random(kDim, rng, 0.1f);
  ASSERT_TRUE((*a)->Step(d1, absl::MakeSpan(x)).ok());
  const std::string state = (*a)->SaveState();
  std::vector<float> y = x;

  auto b = MakeServerOptimizer(config, kDim, {{0, kDim}});
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*b)->RestoreState(state).ok());
  EXPECT_EQ((*b)->steps(), 1u);
  ASSERT_TRUE((*a)->Step(d2, absl::MakeSpan(x)).ok());
  ASSERT_TRUE((*b)->Step(d2, absl::MakeSpan(y)).ok());
  EXPECT_EQ(x, y);  // bit for bit
}

INSTANTIATE_TEST_SUITE_P(All, ServerOptimizerKindTest,
                         testing::Values(ServerOptimizerKind::kSgd, ServerOptimizerKind::kMomentum,
                                         ServerOptimizerKind::kAdagrad, ServerOptimizerKind::kAdam,
                                         ServerOptimizerKind::kYogi),
                         [](const auto& p) { return ServerOptimizerName(p.param); });

TEST(ServerOptimizerTest, MomentumRemembersEarlierRounds) {
  ServerOptimizerConfig config;
  config.kind = ServerOptimizerKind::kMomentum;
  config.momentum = 0.5;
  auto opt = MakeServerOptimizer(config, 1, {{0, 1}});
  ASSERT_TRUE(opt.ok());
  std::vector<float> x = {0};
  ASSERT_TRUE((*opt)->Step(std::vector<float>{1}, absl::MakeSpan(x)).ok());
  ASSERT_TRUE((*opt)->Step(std::vector<float>{0}, absl::MakeSpan(x)).ok());
  EXPECT_FLOAT_EQ(x[0], 1.5f);  // 1, then 0.5 * 1 + 0
}

TEST(ServerOptimizerTest, BuffersTakeTheMeanWhateverTheOptimiser) {
  ServerOptimizerConfig config;
  config.kind = ServerOptimizerKind::kAdam;
  config.learning_rate = 0.01;
  auto opt = MakeServerOptimizer(config, 3, {{0, 1}});
  ASSERT_TRUE(opt.ok());
  std::vector<float> x = {0, 1, 2};
  ASSERT_TRUE((*opt)->Step(std::vector<float>{0.5f, 0.25f, -2}, absl::MakeSpan(x)).ok());
  EXPECT_NE(x[0], 0.5f);
  EXPECT_FLOAT_EQ(x[1], 1.25f);
  EXPECT_FLOAT_EQ(x[2], 0.0f);
}

TEST(ServerOptimizerTest, BadConfigsAndStatesAreRefused) {
  ServerOptimizerConfig config;
  config.learning_rate = 0;
  EXPECT_THAT(MakeServerOptimizer(config, 4, {}).status().message(),
              testing::HasSubstr("--server_lr"));
  config = ServerOptimizerConfig();
  config.beta2 = 1.0;
  EXPECT_THAT(MakeServerOptimizer(config, 4, {}).status().message(),
              testing::HasSubstr("--server_beta2"));
  config = ServerOptimizerConfig();
  config.tau = 0;
  EXPECT_THAT(MakeServerOptimizer(config, 4, {}).status().message(),
              testing::HasSubstr("--server_tau"));
  config = ServerOptimizerConfig();
  EXPECT_FALSE(MakeServerOptimizer(config, 4, {{2, 5}}).ok());
  EXPECT_FALSE(MakeServerOptimizer(config, 4, {{2, 3}, {1, 2}}).ok());

  config.kind = ServerOptimizerKind::kAdam;
  auto adam = MakeServerOptimizer(config, 4, {{0, 4}});
  ASSERT_TRUE(adam.ok());
  std::vector<float> x(4, 0.0f);
  EXPECT_FALSE((*adam)->Step(std::vector<float>(3, 0.0f), absl::MakeSpan(x)).ok());
  const std::string state = (*adam)->SaveState();
  EXPECT_FALSE((*adam)->RestoreState(state.substr(0, state.size() - 1)).ok());
  EXPECT_FALSE((*adam)->RestoreState("").ok());
  config.kind = ServerOptimizerKind::kYogi;
  auto yogi = MakeServerOptimizer(config, 4, {{0, 4}});
  ASSERT_TRUE(yogi.ok());
  EXPECT_THAT((*yogi)->RestoreState(state).message(), testing::HasSubstr("fedyogi"));
  auto bigger = MakeServerOptimizer(ServerOptimizerConfig{ServerOptimizerKind::kAdam}, 5, {});
  ASSERT_TRUE(bigger.ok());
  EXPECT_FALSE((*bigger)->RestoreState(state).ok());
}

}  // namespace
}  // namespace fedge::aggregation
