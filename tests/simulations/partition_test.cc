#include "simulations/partition.h"

#include <algorithm>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "simulations/results.h"
#include "tests/testing/status_matchers.h"

namespace fedge::sim {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

std::vector<int64_t> Labels(size_t n) {
  std::vector<int64_t> l(n);
  for (size_t i = 0; i < n; ++i) l[i] = static_cast<int64_t>((i * 7) % 10);
  return l;
}

void ExpectEveryIndexOnce(const Partition& p, size_t n) {
  std::vector<int> seen(n, 0);
  for (const auto& c : p) {
    for (int64_t i : c) {
      ASSERT_GE(i, 0);
      ASSERT_LT(static_cast<size_t>(i), n);
      ++seen[i];
    }
  }
  EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
}

std::set<int> ClassesOf(const std::vector<int64_t>& idx, const std::vector<int64_t>& labels) {
  std::set<int> c;
  for (int64_t i : idx) c.insert(labels[i]);
  return c;
}

TEST(PartitionTest, IidSplitsEvenly) {
  auto labels = Labels(1000);
  absl::StatusOr<Partition> p = MakePartition("iid", labels, 7, 1);
  ASSERT_THAT(p, IsOk());
  ASSERT_EQ(p->size(), 7u);
  for (const auto& c : *p) EXPECT_NEAR(static_cast<double>(c.size()), 1000.0 / 7, 1);
  ExpectEveryIndexOnce(*p, 1000);
}

TEST(PartitionTest, DirichletIsDeterministicSkewedAndComplete) {
  auto labels = Labels(6000);
  auto a = MakePartition("dirichlet:0.1", labels, 10, 3);
  auto b = MakePartition("dirichlet:0.1", labels, 10, 3);
  auto c = MakePartition("dirichlet:0.1", labels, 10, 4);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  ExpectEveryIndexOnce(*a, 6000);
  // With alpha 0.1 the sizes are far from even (IID would give 600 each).
  size_t largest = 0, smallest = SIZE_MAX;
  for (const auto& cl : *a) {
    largest = std::max(largest, cl.size());
    smallest = std::min(smallest, cl.size());
    EXPECT_GE(cl.size(), 10u);
  }
  EXPECT_GT(largest, 2 * smallest);
}

TEST(PartitionTest, ShardsGiveAtMostKClassesPerClient) {
  auto labels = Labels(2000);
  auto p = MakePartition("shards:2", labels, 10, 5);
  ASSERT_THAT(p, IsOk());
  ExpectEveryIndexOnce(*p, 2000);
  // 2000 examples / 20 shards = 100 per shard = half a class; so each shard
  // holds one class and a client at most 2.
  for (const auto& c : *p) EXPECT_LE(ClassesOf(c, labels).size(), 2u);
}

TEST(PartitionTest, BadSpecsAreRefused) {
  auto labels = Labels(100);
  EXPECT_THAT(MakePartition("random", labels, 2, 0), StatusIs(absl::StatusCode::kInvalidArgument, "iid"));
  EXPECT_THAT(MakePartition("dirichlet:-1", labels, 2, 0), StatusIs(absl::StatusCode::kInvalidArgument, "alpha"));
  EXPECT_THAT(MakePartition("dirichlet:x", labels, 2, 0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MakePartition("shards:0", labels, 2, 0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MakePartition("iid", labels, 101, 0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MakePartition("dirichlet:0.001", Labels(30), 3, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, "fewer than"));
}

TEST(PartitionTest, FileFormatRoundTripsAndIsChecked) {
  Partition p = {{0, 5, 2}, {1, 3}};
  absl::StatusOr<Partition> back = ParsePartition(FormatPartition(p), 2, 6);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, p);
  EXPECT_THAT(ParsePartition("0 1\n2\n", 3, 6), StatusIs(absl::StatusCode::kInvalidArgument, "2 lines"));
  EXPECT_THAT(ParsePartition("0 1\n2 9\n", 2, 6),
              StatusIs(absl::StatusCode::kInvalidArgument, "line 2: '9'"));
  EXPECT_THAT(ParsePartition("0 x\n2\n", 2, 6), StatusIs(absl::StatusCode::kInvalidArgument, "line 1"));
  EXPECT_THAT(ParsePartition("0\n\n", 2, 6), StatusIs(absl::StatusCode::kInvalidArgument, "empty"));
}

TEST(ResultsTest, ParsesCoordinatorMetricsIntoCsvAndSummary) {
  const std::string jsonl =
      "{\"round\":1,\"completed\":true,\"model_version\":1,\"selected\":3,\"clients\":3,"
      "\"dropped\":0,\"rejected\":0,\"train_loss\":0.9,\"round_seconds\":1.5,\"bytes_up\":100,"
      "\"bytes_down\":200,\"test_accuracy\":0.5,\"test_loss\":1.2}\n"
      "{\"round\":2,\"completed\":false,\"model_version\":1,\"selected\":3,\"clients\":0,"
      "\"dropped\":3,\"rejected\":0,\"train_loss\":0,\"round_seconds\":9,\"bytes_up\":5,"
      "\"bytes_down\":5,\"failure\":\"deadline\"}\n"
      "{\"round\":3,\"completed\":true,\"model_version\":2,\"selected\":3,\"clients\":3,"
      "\"dropped\":0,\"rejected\":1,\"train_loss\":0.5,\"round_seconds\":2.5,\"bytes_up\":300,"
      "\"bytes_down\":400,\"test_accuracy\":0.75,\"test_loss\":0.6}\n";
  absl::StatusOr<std::vector<RoundRow>> rows = ParseMetrics(jsonl);
  ASSERT_THAT(rows, IsOk());
  ASSERT_EQ(rows->size(), 3u);
  Summary s = Summarize(*rows);
  EXPECT_EQ(s.completed_rounds, 2);
  EXPECT_DOUBLE_EQ(s.final_accuracy, 0.75);
  EXPECT_DOUBLE_EQ(s.mean_round_seconds, 2.0);
  EXPECT_DOUBLE_EQ(s.mean_bytes_up, 200);
  std::string csv = ResultsCsv(*rows);
  EXPECT_THAT(csv, ::testing::StartsWith("round,completed,clients,test_accuracy,"));
  EXPECT_THAT(csv, ::testing::HasSubstr("\n3,1,3,0.750000,"));
  EXPECT_THAT(ParseMetrics("{\"round\":1}\n"), StatusIs(absl::StatusCode::kInvalidArgument, "line 1"));
}

TEST(ResultsTest, BestAccuracyAndBackdoorSuccessAreSummarised) {
  const std::string jsonl =
      "{\"round\":1,\"completed\":true,\"clients\":3,\"round_seconds\":1,\"bytes_up\":1,"
      "\"bytes_down\":1,\"test_accuracy\":0.6,\"test_loss\":1,\"backdoor_success\":0.25}\n"
      "{\"round\":2,\"completed\":true,\"clients\":3,\"round_seconds\":1,\"bytes_up\":1,"
      "\"bytes_down\":1,\"test_accuracy\":0.7,\"test_loss\":1,\"backdoor_success\":0.5}\n"
      "{\"round\":3,\"completed\":true,\"clients\":3,\"round_seconds\":1,\"bytes_up\":1,"
      "\"bytes_down\":1,\"test_accuracy\":0.4,\"test_loss\":2,\"backdoor_success\":0.875}\n";
  absl::StatusOr<std::vector<RoundRow>> rows = ParseMetrics(jsonl);
  ASSERT_THAT(rows, IsOk());
  Summary s = Summarize(*rows);
  EXPECT_DOUBLE_EQ(s.final_accuracy, 0.4);
  EXPECT_DOUBLE_EQ(s.best_accuracy, 0.7);
  EXPECT_EQ(s.best_round, 2);
  EXPECT_DOUBLE_EQ(s.final_backdoor_success, 0.875);
  const std::string csv = ResultsCsv(*rows);
  EXPECT_THAT(csv, ::testing::HasSubstr(",bytes_down,backdoor_success,test_mse,test_mae,"
                                         "fed_clients,fed_loss,fed_accuracy,fed_mse,epsilon,"
                                         "epsilon_coordinator,update_bytes_per_client,elapsed_seconds,eval_wait_seconds\n"));
  EXPECT_THAT(csv, ::testing::HasSubstr(",0.875000,nan,nan,0,nan,nan,nan,nan,nan,0,nan,0.0000\n"));
  // Without the attack the column is there, unmeasured.
  rows->back().backdoor_success = NAN;
  EXPECT_THAT(ResultsCsv(*rows), ::testing::EndsWith(",nan,nan,nan,0,nan,nan,nan,nan,nan,0,nan,0.0000\n"));
  // Time to accuracy: the first completed round at or above the target.
  ASSERT_NE(FirstReaching(*rows, 0.65), nullptr);
  EXPECT_EQ(FirstReaching(*rows, 0.65)->round, 2);
  EXPECT_EQ(FirstReaching(*rows, 0.6)->round, 1);
  EXPECT_EQ(FirstReaching(*rows, 0.71), nullptr);
}

TEST(BalanceClientsTest, SpreadsExamplesEvenlyWithinTheCap) {
  // Sizes 9, 1, 1, 1, 8, 2 (ids 0..5), 2 processes of at most 3.
  Partition p = {std::vector<int64_t>(9), std::vector<int64_t>(1), std::vector<int64_t>(1),
                 std::vector<int64_t>(1), std::vector<int64_t>(8), std::vector<int64_t>(2)};
  std::vector<std::vector<uint64_t>> g = BalanceClients(p, 3);
  ASSERT_EQ(g.size(), 2u);
  // 9+1+1 and 8+2+1: both 11, every client once.
  std::vector<uint64_t> all;
  for (const auto& group : g) {
    EXPECT_LE(group.size(), 3u);
    size_t load = 0;
    for (uint64_t c : group) load += p[c].size();
    EXPECT_EQ(load, 11u);
    all.insert(all.end(), group.begin(), group.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<uint64_t>{0, 1, 2, 3, 4, 5}));

  // A skewed split: contiguous ranges would give 30 against 3.
  Partition skew = {std::vector<int64_t>(10), std::vector<int64_t>(10), std::vector<int64_t>(10),
                    std::vector<int64_t>(1), std::vector<int64_t>(1), std::vector<int64_t>(1)};
  g = BalanceClients(skew, 3);
  size_t a = 0, b = 0;
  for (uint64_t c : g[0]) a += skew[c].size();
  for (uint64_t c : g[1]) b += skew[c].size();
  EXPECT_EQ(std::max(a, b), 21u);  // the best any split within the cap can do
  // Equal sizes: dealt round the processes in id order (deterministic).
  g = BalanceClients(Partition(5, std::vector<int64_t>(4)), 2);
  EXPECT_EQ(g, (std::vector<std::vector<uint64_t>>{{0, 3}, {1, 4}, {2}}));
}

TEST(PartitionGroupsTest, GroupsFollowTheTargetKind) {
  data::Dataset d;
  d.example_shape = {1};
  d.targets = {3, 0, 7, 3};
  protocol::TaskSpec task;  // classes:10
  EXPECT_EQ(PartitionGroups(d, task), (std::vector<int64_t>{3, 0, 7, 3}));

  // Real targets: equal-count quantile buckets, equal values together.
  d.targets.clear();
  for (int i = 0; i < 100; ++i) d.targets.push_back(static_cast<float>(99 - i) * 0.5f);
  d.targets[1] = d.targets[0];
  task.target = protocol::TargetKind::kReal;
  task.num_classes = 0;
  task.loss = protocol::LossKind::kMse;
  std::vector<int64_t> g = PartitionGroups(d, task);
  EXPECT_EQ(g[99], 0);  // the smallest value
  EXPECT_EQ(g[2], kQuantileBuckets - 1);
  EXPECT_EQ(g[0], g[1]);
  std::vector<int> per_bucket(kQuantileBuckets, 0);
  for (int64_t b : g) ++per_bucket[b];
  for (int count : per_bucket) EXPECT_NEAR(count, 100 / kQuantileBuckets, 1);

  // Multi-label: the first positive label, K when none.
  d.target_shape = {3};
  d.targets = {0, 1, 1, /**/ 0, 0, 0, /**/ 1, 0, 0};
  task.target = protocol::TargetKind::kMultiLabel;
  task.num_classes = 3;
  EXPECT_EQ(PartitionGroups(d, task), (std::vector<int64_t>{1, 3, 0}));
}

}  // namespace
}  // namespace fedge::sim
