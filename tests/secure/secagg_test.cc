// End-to-end SecAgg and SecAgg+ rounds driven in-process: correct sums,
// dropouts in every phase, aborts beyond the threshold, tampered shares, and
// what a single masked input reveals.

#include <cmath>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "secure/secagg.h"
#include "secure/secagg_internal.h"
#include "tests/secure/secagg_harness.h"

namespace fedge::secure {
namespace {

using ::fedge::secure::testing::SecAggSession;
using ::fedge::secure::testing::TestConfig;
using Phase = SecAggServer::Phase;

constexpr uint32_t kD = 300;

void ExpectCompletedWithPlainSum(SecAggSession& s, size_t survivors) {
  ASSERT_EQ(s.server().phase(), Phase::kCompleted) << s.server().abort_reason();
  EXPECT_EQ(s.server().sum(), s.ExpectedSum());
  EXPECT_EQ(s.server().survivors(),
            std::vector<uint32_t>(s.sent_masked().begin(), s.sent_masked().end()));
  EXPECT_EQ(s.server().survivors().size(), survivors);
}

void ExpectAborted(SecAggSession& s, uint32_t n) {
  EXPECT_EQ(s.server().phase(), Phase::kAborted);
  EXPECT_FALSE(s.server().abort_reason().empty());
  EXPECT_TRUE(s.server().sum().empty());
  EXPECT_FALSE(s.told_to_abort().empty());
  for (uint32_t u : s.told_to_abort()) {
    ASSERT_LE(u, n);
    EXPECT_EQ(s.client(u).phase(), SecAggClient::Phase::kAborted) << "client " << u;
  }
}

TEST(SecAggTest, FullSumEqualsThePlainSum) {
  SecAggSession s(TestConfig(SecAggVariant::kFull, 10, 6, 0, kD));
  s.early_input = {1, 4, 7};  // inputs before and after the MaskedInputRequest
  s.Run({});
  ExpectCompletedWithPlainSum(s, 10);
  for (uint32_t u = 1; u <= 10; ++u) {
    EXPECT_EQ(s.client(u).phase(), SecAggClient::Phase::kCompleted);
    EXPECT_EQ(s.client(u).rejected_shares(), 0u);
  }
}

TEST(SecAggTest, PlusSumEqualsThePlainSum) {
  SecAggSession s(TestConfig(SecAggVariant::kPlus, 20, 4, 6, kD));
  s.Run({});
  ExpectCompletedWithPlainSum(s, 20);
}

TEST(SecAggTest, TheSumIsNotThePlainSumOfMaskedInputs) {
  // Sanity check of the test itself: masks do not cancel without unmasking.
  SecAggSession s(TestConfig(SecAggVariant::kFull, 4, 3, 0, kD));
  s.Send(s.Start());
  auto out = s.Advance();
  s.Send(s.Deliver(out));
  out = s.Advance();
  auto replies = s.Deliver(out);
  std::vector<uint32_t> naive(kD, 0);
  for (auto& [u, m] : replies) {
    for (size_t i = 0; i < kD; ++i) naive[i] += std::get<MaskedInput>(m).masked[i];
  }
  s.Send(std::move(replies));
  EXPECT_NE(naive, s.ExpectedSum());
}

// Up to n - t dropouts, in any phase and with or without Drop(): the sum is
// over exactly the clients whose masked input arrived.
TEST(SecAggTest, FullToleratesDropoutsInEveryPhase) {
  const std::vector<std::map<int, std::vector<uint32_t>>> cases = {
      {{0, {2, 5, 9, 10}}},                       // never advertised
      {{1, {1, 3, 4, 8}}},                        // gone after AdvertiseKeys
      {{2, {2, 3, 6, 7}}},                        // gone after ShareKeys (worst case)
      {{3, {1, 2, 9, 10}}},                       // gone after MaskedInput
      {{0, {1}}, {1, {2}}, {2, {3}}, {3, {4}}},   // one per phase
  };
  const std::vector<size_t> survivors = {6, 6, 6, 10, 7};
  for (size_t i = 0; i < cases.size(); ++i) {
    for (bool tell : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "case " << i << (tell ? " with Drop()" : ""));
      SecAggSession s(TestConfig(SecAggVariant::kFull, 10, 6, 0, kD), 10 + i);
      s.Run(cases[i], tell);
      ExpectCompletedWithPlainSum(s, survivors[i]);
    }
  }
}

// A ring of fewer bits: the masked inputs are words below 2^bits, and the
// unmasked sum is the plain sum mod 2^bits, with and without dropouts (the
// pairwise masks of a client gone after ShareKeys are removed mod 2^bits too).
TEST(SecAggTest, SmallRingSumEqualsThePlainSumModTheRing) {
  for (uint32_t bits : {8u, 12u, 16u, 31u}) {
    for (SecAggVariant variant : {SecAggVariant::kFull, SecAggVariant::kPlus}) {
      SCOPED_TRACE(::testing::Message() << bits << " bits, variant " << static_cast<int>(variant));
      SecAggConfig c = variant == SecAggVariant::kFull
                           ? TestConfig(variant, 10, 6, 0, kD)
                           : TestConfig(variant, 20, 4, 6, kD);
      c.word_bits = bits;
      SecAggSession s(c, bits);
      s.on_reply = [&](uint32_t u, const SecAggClientMessage& m) {
        if (const auto* x = std::get_if<MaskedInput>(&m)) {
          EXPECT_EQ(x->bits, bits);
          for (uint32_t w : x->masked) ASSERT_LT(w, uint32_t{1} << bits) << "client " << u;
        }
      };
      s.Run({{2, {3}}});
      ASSERT_EQ(s.server().phase(), Phase::kCompleted) << s.server().abort_reason();
      std::vector<uint32_t> want = s.ExpectedSum();
      for (uint32_t& w : want) w &= (uint32_t{1} << bits) - 1;
      EXPECT_EQ(s.server().sum(), want);
    }
  }
}

TEST(SecAggTest, ServerRefusesAMaskedInputOutsideTheRing) {
  SecAggConfig c = TestConfig(SecAggVariant::kFull, 4, 3, 0, 8);
  c.word_bits = 16;
  SecAggSession s(c);
  s.Send(s.Start());
  auto out = s.Advance();
  s.Send(s.Deliver(out));
  out = s.Advance();
  auto replies = s.Deliver(out);
  ASSERT_FALSE(replies.empty());
  MaskedInput wide = std::get<MaskedInput>(replies[0].second);
  wide.masked[3] |= 1u << 20;
  EXPECT_THAT(s.server().OnMessage(replies[0].first, SecAggClientMessage(wide)).message(),
              ::testing::HasSubstr("outside the ring of 16 bits"));
  MaskedInput other = std::get<MaskedInput>(replies[1].second);
  other.bits = 32;
  EXPECT_THAT(s.server().OnMessage(replies[1].first, SecAggClientMessage(other)).message(),
              ::testing::HasSubstr("ring of 32 bits, want 16"));
}

TEST(SecAggTest, FullAbortsBeyondTheThreshold) {
  for (int phase = 0; phase <= 3; ++phase) {
    SCOPED_TRACE(::testing::Message() << "5 of 10 silent before phase " << phase);
    SecAggSession s(TestConfig(SecAggVariant::kFull, 10, 6, 0, kD), 20 + phase);
    s.Run({{phase, {1, 3, 5, 7, 9}}});
    ExpectAborted(s, 10);
  }
}

TEST(SecAggTest, PlusToleratesDropoutsInEveryPhase) {
  for (int phase = 0; phase <= 3; ++phase) {
    SCOPED_TRACE(::testing::Message() << "2 of 20 silent before phase " << phase);
    SecAggSession s(TestConfig(SecAggVariant::kPlus, 20, 4, 6, kD), 30 + phase);
    // Any 2 of 20 leave every 7-client neighbourhood at least 5 >= t = 4.
    s.Run({{phase, {4, 11}}});
    ExpectCompletedWithPlainSum(s, phase == 3 ? 20 : 18);
  }
}

// A client whose neighbourhood loses too many members after AdvertiseKeys is
// excluded on its own; the rest of the session completes without it.
TEST(SecAggTest, PlusExcludesAStarvedClientAndCompletes) {
  const SecAggConfig config = TestConfig(SecAggVariant::kPlus, 20, 4, 6, kD);
  const std::vector<uint32_t> ring = internal::SecAggRing(20, config.graph_seed);
  const uint32_t c = ring[10];
  SecAggSession s(config, 40);
  s.Run({{1, {ring[8], ring[9], ring[11], ring[12]}}});
  ExpectCompletedWithPlainSum(s, 15);
  EXPECT_EQ(s.told_to_abort(), std::set<uint32_t>{c});
  EXPECT_EQ(s.client(c).phase(), SecAggClient::Phase::kAborted);
}

// A dropped client whose surviving neighbours are fewer than t cannot be
// unmasked: clean abort.
TEST(SecAggTest, PlusAbortsWhenADroppedClientCannotBeUnmasked) {
  const SecAggConfig config = TestConfig(SecAggVariant::kPlus, 20, 4, 6, kD);
  const std::vector<uint32_t> ring = internal::SecAggRing(20, config.graph_seed);
  SecAggSession s(config, 41);
  s.Run({{2, {ring[10], ring[9], ring[11], ring[12]}}});
  ExpectAborted(s, 20);
  EXPECT_THAT(s.server().abort_reason(), ::testing::HasSubstr("cannot be removed"));
}

// Flipping a byte of a forwarded share: the recipient counts and skips it,
// and the round still produces the right sum, also when the share's owner
// drops and must be unmasked from the other holders.
TEST(SecAggTest, TamperedSharesAreSkippedAndTheRoundCompletes) {
  SecAggSession s(TestConfig(SecAggVariant::kFull, 8, 5, 0, kD), 50);
  s.tamper = [](uint32_t u, SecAggServerMessage& m) {
    auto* req = std::get_if<MaskedInputRequest>(&m);
    if (req == nullptr || (u != 1 && u != 2)) return;
    for (EncryptedShare& e : req->shares) {
      if (e.peer == 3) e.ciphertext[20] ^= 0x40;
    }
  };
  s.Run({{2, {3}}});
  ExpectCompletedWithPlainSum(s, 7);
  EXPECT_EQ(s.client(1).rejected_shares(), 1u);
  EXPECT_EQ(s.client(2).rejected_shares(), 1u);
  EXPECT_EQ(s.client(4).rejected_shares(), 0u);
}

// Across all responses of a round with dropouts, no client's self-mask seed
// and masking key were both revealed.
TEST(SecAggTest, TheServerNeverGetsBothSharesOfOneClient) {
  SecAggSession s(TestConfig(SecAggVariant::kFull, 10, 6, 0, kD), 60);
  s.Run({{2, {2, 7}}});
  ExpectCompletedWithPlainSum(s, 8);
  std::set<uint32_t> seeds, keys;
  for (const auto& [u, m] : s.unmasking_responses()) {
    for (const RevealedShare& r : std::get<UnmaskingResponse>(m).self_mask_shares) seeds.insert(r.owner);
    for (const RevealedShare& r : std::get<UnmaskingResponse>(m).masking_key_shares) keys.insert(r.owner);
  }
  EXPECT_EQ(keys, (std::set<uint32_t>{2, 7}));
  for (uint32_t k : keys) EXPECT_EQ(seeds.count(k), 0u) << "client " << k;
}

// --- What a single masked input looks like ---

// Chi-square statistic of the byte histogram of `words`.
double ByteChiSquare(const std::vector<uint32_t>& words) {
  std::vector<double> count(256, 0);
  for (uint32_t w : words) {
    for (int b = 0; b < 4; ++b) count[(w >> (8 * b)) & 0xff] += 1;
  }
  const double expected = words.size() * 4 / 256.0;
  double chi = 0;
  for (double c : count) chi += (c - expected) * (c - expected) / expected;
  return chi;
}

// Largest |z| over the 32 bit positions of the fraction of ones.
double WorstBitZ(const std::vector<uint32_t>& words) {
  double worst = 0;
  for (int bit = 0; bit < 32; ++bit) {
    double ones = 0;
    for (uint32_t w : words) ones += (w >> bit) & 1;
    const double n = static_cast<double>(words.size());
    worst = std::max(worst, std::fabs(ones - n / 2) / std::sqrt(n / 4));
  }
  return worst;
}

// With 255 degrees of freedom the chi-square statistic of uniform bytes has
// mean 255 and standard deviation ~22.6; 360 is beyond 4.6 sigma. The seeds
// are fixed, so the test is deterministic; the same thresholds reject the
// unmasked inputs (all zeros; small fixed-point values).
TEST(SecAggTest, AMaskedInputLooksUniformAndTheUnmaskedOneDoesNot) {
  constexpr uint32_t kWords = 1 << 16;
  constexpr double kMaxChi = 360;
  constexpr double kMaxZ = 5;
  for (bool zeros : {true, false}) {
    SCOPED_TRACE(zeros ? "all-zero input" : "small fixed-point input");
    SecAggSession s(TestConfig(SecAggVariant::kFull, 3, 2, 0, kWords), 70);
    for (uint32_t u = 1; u <= 3; ++u) {
      for (uint32_t i = 0; i < kWords; ++i) {
        s.input(u)[i] = zeros ? 0 : static_cast<uint32_t>(static_cast<int32_t>(i % 3001) - 1000);
      }
    }
    s.Send(s.Start());
    auto out = s.Advance();
    s.Send(s.Deliver(out));
    out = s.Advance();
    auto replies = s.Deliver(out);
    ASSERT_EQ(replies.size(), 3u);
    const std::vector<uint32_t>& masked = std::get<MaskedInput>(replies[0].second).masked;
    EXPECT_LT(ByteChiSquare(masked), kMaxChi);
    EXPECT_LT(WorstBitZ(masked), kMaxZ);
    EXPECT_GT(ByteChiSquare(s.input(1)), kMaxChi);
    EXPECT_GT(WorstBitZ(s.input(1)), kMaxZ);
    s.Send(std::move(replies));
    out = s.Advance();
    s.Send(s.Deliver(out));
    s.Advance();
    ExpectCompletedWithPlainSum(s, 3);
  }
}

}  // namespace
}  // namespace fedge::secure
