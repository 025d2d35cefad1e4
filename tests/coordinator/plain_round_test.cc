// PlainRound with compressed updates: a payload is decoded (bounded by the
// model's size) before the strategy's rule folds it, and one that does not
// decode to exactly the model is refused as malformed and its sender dropped.

#include "coordinator/plain_round.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aggregation/aggregator.h"
#include "compression/compression.h"

namespace fedge::coordinator {
namespace {

using ::testing::HasSubstr;

constexpr size_t kSize = 300;

PlainRound::Settings Settings() {
  PlainRound::Settings s;
  s.round = 4;
  s.target = 2;
  s.quorum = 1;
  s.deadline = absl::InfiniteFuture();
  s.model_size = kSize;
  return s;
}

protocol::Update Compressed(uint64_t client, const std::vector<float>& delta, const char* how,
                            std::vector<float>* decoded) {
  protocol::Update u;
  u.round = 4;
  u.client_id = client;
  u.num_examples = 30;
  const compression::Config c = *compression::ParseConfig(how);
  std::vector<float> residual;
  EXPECT_TRUE(compression::Compress(delta, c, client, &residual, &u.packed).ok());
  u.encoding = c.method;
  EXPECT_TRUE(compression::Decompress(c.method, u.packed, delta.size(), decoded).ok());
  return u;
}

TEST(PlainRoundTest, CompressedUpdatesAreDecodedBeforeTheyAreFolded) {
  std::unique_ptr<aggregation::Aggregator> fedavg = aggregation::MakeFedAvgAggregator();
  PlainRound round(Settings(), fedavg.get());
  std::vector<float> a(kSize), b(kSize);
  for (size_t i = 0; i < kSize; ++i) {
    a[i] = 0.01f * static_cast<float>(i % 17) - 0.05f;
    b[i] = 0.003f * static_cast<float>(i % 5);
  }
  protocol::Update plain;
  plain.round = 4;
  plain.client_id = 1;
  plain.num_examples = 10;
  plain.delta = a;
  std::vector<float> b_decoded;
  protocol::Update packed = Compressed(2, b, "int4", &b_decoded);
  ASSERT_NE(b_decoded, b);  // the test means something only if int4 is lossy here
  EXPECT_EQ(round.OnUpdate("p1", plain), std::nullopt);
  std::optional<Refusal> refused = round.OnUpdate("p2", packed);
  EXPECT_EQ(refused, std::nullopt) << (refused ? refused->why : "");
  round.Advance(absl::Now(), CohortProgress{0, 2});
  ASSERT_EQ(round.outcome(), Round::Outcome::kCompleted);
  std::vector<float> mean(kSize);
  RoundReport report;
  ASSERT_TRUE(round.Finish(absl::MakeSpan(mean), &report).ok());
  EXPECT_EQ(report.aggregated, 2u);
  for (size_t i = 0; i < kSize; ++i) {
    EXPECT_NEAR(mean[i], (10 * a[i] + 30 * b_decoded[i]) / 40, 1e-7) << i;
  }
}

TEST(PlainRoundTest, PayloadsThatDoNotDecodeToTheModelAreRefusedAndDropped) {
  std::unique_ptr<aggregation::Aggregator> fedavg = aggregation::MakeFedAvgAggregator();
  PlainRound round(Settings(), fedavg.get());
  std::vector<float> decoded;
  // Compressed for a model one coordinate larger.
  protocol::Update wrong = Compressed(1, std::vector<float>(kSize + 1, 0.5f), "int8", &decoded);
  std::optional<Refusal> r = round.OnUpdate("p1", wrong);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, protocol::ErrorCode::kMalformed);
  EXPECT_TRUE(r->drop);
  EXPECT_THAT(r->why, HasSubstr("int8 payload"));
  EXPECT_THAT(r->why, HasSubstr("client 1"));
  protocol::Update cut = Compressed(2, std::vector<float>(kSize, 0.5f), "topk:0.5", &decoded);
  cut.packed.pop_back();
  r = round.OnUpdate("p2", cut);
  ASSERT_TRUE(r.has_value());
  EXPECT_THAT(r->why, HasSubstr("topk payload"));
  EXPECT_EQ(fedavg->count(), 0u);  // nothing was folded
}

}  // namespace
}  // namespace fedge::coordinator
