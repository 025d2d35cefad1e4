// Update compression: flag parsing, IEEE half precision against exhaustive
// and closed-form checks, unbiased stochastic quantisation (with a test that
// rejects a biased rounding), top-k with error feedback, payload sizes, and
// decoders refusing every malformed payload.

#include "compression/compression.h"

#include <cmath>
#include <cstring>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/cpu_features.h"
#include "base/little_endian.h"
#include "compression/half.h"
#include "compression/stochastic_round.h"

namespace fedge::compression {
namespace {

using ::testing::HasSubstr;

std::vector<float> Gaussian(size_t n, uint64_t seed, float stddev = 0.01f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

Config Make(Method m, uint32_t block = kDefaultBlock, float fraction = 0) {
  Config c;
  c.method = m;
  c.block = block;
  c.fraction = fraction;
  return c;
}

std::vector<float> RoundTrip(const std::vector<float>& x, const Config& c, uint64_t seed,
                             std::vector<float>* residual = nullptr) {
  std::vector<float> local;
  std::string payload;
  EXPECT_TRUE(Compress(x, c, seed, residual != nullptr ? residual : &local, &payload).ok());
  EXPECT_EQ(payload.size(), c.method == Method::kTopK ? payload.size() : PayloadBytes(c, x.size()));
  std::vector<float> out;
  absl::Status s = Decompress(c.method, payload, x.size(), &out);
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

TEST(CompressionConfigTest, ParsesAndNamesEveryMethod) {
  for (const char* text : {"none", "fp16", "int8", "int4", "int8:64", "int4:128", "topk:0.1"}) {
    absl::StatusOr<Config> c = ParseConfig(text);
    ASSERT_TRUE(c.ok()) << text << ": " << c.status();
    EXPECT_EQ(ConfigName(*c), text);
    EXPECT_TRUE(ValidateConfig(*c).ok());
  }
  EXPECT_EQ(ParseConfig("fp32")->method, Method::kFloat32);
  EXPECT_EQ(ParseConfig("int8")->block, kDefaultBlock);
  EXPECT_FLOAT_EQ(ParseConfig("topk:0.25")->fraction, 0.25f);
}

TEST(CompressionConfigTest, RefusesWhatItCannotHonour) {
  for (const char* text : {"", "gzip", "int8:0", "int8:x", "int4:2000000", "topk", "topk:0",
                           "topk:1.5", "topk:-0.1", "topk:nan", "fp16:2", "none:1"}) {
    absl::StatusOr<Config> c = ParseConfig(text);
    EXPECT_FALSE(c.ok()) << text;
    if (!c.ok()) {
      EXPECT_THAT(c.status().message(), HasSubstr("compression '"));
    }
  }
  Config bad = Make(static_cast<Method>(9));
  EXPECT_FALSE(ValidateConfig(bad).ok());
}

TEST(HalfTest, EveryFiniteHalfRoundTripsExactly) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00) continue;  // inf, NaN
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    ASSERT_EQ(FloatToHalf(f), h) << "half 0x" << std::hex << h << " = " << f;
  }
}

TEST(HalfTest, ClosedFormValuesAndRounding) {
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xc000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to even (1).
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  // 1 + 3 * 2^-11 is halfway between 1 + 2^-10 (odd) and 1 + 2^-9: up.
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(FloatToHalf(1e6f), 0x7bff);    // clamped, never infinite
  EXPECT_EQ(FloatToHalf(-1e6f), 0xfbff);
  EXPECT_EQ(FloatToHalf(INFINITY), 0x7bff);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -26)), 0x0000);  // below half the smallest subnormal
  EXPECT_EQ(FloatToHalf(std::ldexp(3.0f, -26)), 0x0001);  // above it
}

TEST(HalfTest, ErrorIsWithinHalfAnUlpOfTheHalf) {
  for (float x : Gaussian(20000, 1, 10.0f)) {
    const float h = HalfToFloat(FloatToHalf(x));
    const float ulp = std::ldexp(1.0f, std::max(-24, std::ilogb(x) - 10));
    EXPECT_LE(std::fabs(h - x), ulp / 2) << x;
  }
}

// Every bulk conversion this CPU can run (the portable loop everywhere,
// F16C on x86-64 CPUs that have it) gives the reference's bits.
struct HalfPath {
  const char* name;
  void (*encode)(absl::Span<const float>, char*);
  size_t (*decode)(const char*, absl::Span<float>);
};

std::vector<HalfPath> HalfPaths() {
  std::vector<HalfPath> paths = {{"portable", half_internal::FloatsToHalvesPortable,
                                  half_internal::HalvesToFloatsPortable},
                                 {"dispatch", FloatsToHalves, HalvesToFloats}};
  if (CpuHasF16c()) {
    paths.push_back(
        {"f16c", half_internal::FloatsToHalvesF16c, half_internal::HalvesToFloatsF16c});
  }
  return paths;
}

uint32_t Bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// The values where conversions go wrong: every finite half, the midpoints
// between neighbours (ties to even) and just either side of them, the
// overflow boundary, float subnormals, signed zeros and Gaussians of several
// scales. 8k + 3 of them, so the 8-wide loops leave a tail.
std::vector<float> HardFloats() {
  std::vector<float> v;
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00) continue;
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    v.push_back(f);
    const uint32_t next = (h & 0x7fff) == 0x7bff ? h : h + 1;
    const float mid = static_cast<float>(
        (static_cast<double>(f) + HalfToFloat(static_cast<uint16_t>(next))) / 2);
    v.push_back(mid);
    v.push_back(std::nextafter(mid, 0.0f));
    v.push_back(std::nextafter(mid, mid > 0 ? INFINITY : -INFINITY));
  }
  for (float f : {65504.0f, 65519.0f, 65520.0f, 65535.0f, 65536.0f, 1e6f, 3.4e38f, 1e-45f,
                  1e-40f, 1.2e-38f, 0.0f, 2.9802322e-8f, 2.9802326e-8f, 5.9604645e-8f}) {
    v.push_back(f);
    v.push_back(-f);
  }
  for (float scale : {1e-6f, 1e-3f, 1.0f, 1e3f}) {
    for (float x : Gaussian(20000, 7, scale)) v.push_back(x);
  }
  while (v.size() % 8 != 3) v.push_back(0.5f);
  return v;
}

TEST(HalfBulkTest, EveryPathEncodesToTheReferenceBits) {
  const std::vector<float> in = HardFloats();
  for (const HalfPath& path : HalfPaths()) {
    std::string out(2 * in.size(), '\0');
    path.encode(in, out.data());
    for (size_t i = 0; i < in.size(); ++i) {
      ASSERT_EQ(GetLe(out.data() + 2 * i, 2), FloatToHalf(in[i]))
          << path.name << ": value " << i << " = " << in[i];
    }
  }
}

TEST(HalfBulkTest, EveryPathDecodesEveryFiniteHalfAndFindsTheFirstNonFinite) {
  std::string all;
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) != 0x7c00) AppendLe(h, 2, &all);
  }
  AppendLe(0x3c00, 2, &all);  // 63,489 halves: a tail after the 8-wide loop
  const size_t n = all.size() / 2;
  for (const HalfPath& path : HalfPaths()) {
    std::vector<float> out(n);
    ASSERT_EQ(path.decode(all.data(), absl::MakeSpan(out)), n) << path.name;
    for (size_t i = 0; i < n; ++i) {
      const uint16_t h = static_cast<uint16_t>(GetLe(all.data() + 2 * i, 2));
      ASSERT_EQ(Bits(out[i]), Bits(HalfToFloat(h))) << path.name << ": half 0x" << std::hex << h;
    }
    // +inf, -inf and NaNs, first in a lane, in the middle, last, in the tail.
    for (uint16_t bad : {0x7c00, 0xfc00, 0x7e00, 0xffff}) {
      for (size_t at : {size_t{0}, size_t{5}, size_t{7}, size_t{8}, size_t{4099}, n - 2, n - 1}) {
        std::string p = all;
        PutLe(bad, 2, &p[2 * at]);
        PutLe(bad, 2, &p[2 * (n - 1)]);  // a later one does not hide the first
        EXPECT_EQ(path.decode(p.data(), absl::MakeSpan(out)), at)
            << path.name << ": 0x" << std::hex << bad << " at " << std::dec << at;
      }
    }
  }
}

// The vector rounding (AVX2, where this CPU has it) gives the portable
// loop's bytes: many lengths (tails after the 32-wide loop), offsets,
// scales (including 0 and one that puts values exactly on L), both levels.
TEST(StochasticRoundTest, EveryPathGivesThePortableBytes) {
  if (!CpuHasAvx2()) GTEST_SKIP() << "no AVX2 here: one path only";
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 300; ++trial) {
    const size_t n = trial % 97 + (trial % 3 == 0 ? 1000 : 0);
    const std::vector<float> x = Gaussian(n, trial, 0.01f);
    float m = 0;
    for (float v : x) m = std::max(m, std::fabs(v));
    for (int32_t levels : {127, 7}) {
      const float s = trial % 11 == 0 ? 0.0f : (trial % 5 == 0 ? m / levels : 0.001f);
      const uint64_t key = CoinKey(rng());
      const uint32_t first = static_cast<uint32_t>(rng() % (1u << 30));
      std::vector<int8_t> a(n, 99), b(n, 99);
      round_internal::RoundPortable(x, s, levels, key, first, a.data());
      round_internal::RoundAvx2(x, s, levels, key, first, b.data());
      ASSERT_EQ(a, b) << "trial " << trial << ", levels " << levels;
    }
  }
}

TEST(StochasticRoundTest, CoinsAreUniformAndDifferByKeyAndIndex) {
  // The top 24 bits of 2^16 coins in 16 bins: a chi-square with 15 degrees
  // of freedom stays under 37.7 (p = 0.001) for a uniform source.
  const uint64_t key = CoinKey(9);
  std::vector<int> bins(16, 0);
  const int n = 1 << 16;
  for (uint32_t i = 0; i < static_cast<uint32_t>(n); ++i) ++bins[Coin(key, i) >> 28];
  double chi2 = 0;
  for (int b : bins) chi2 += (b - n / 16.0) * (b - n / 16.0) / (n / 16.0);
  EXPECT_LT(chi2, 37.7);
  EXPECT_NE(Coin(key, 0), Coin(key, 1));
  EXPECT_NE(Coin(key, 0), Coin(CoinKey(10), 0));
}

// The mean of many independent quantisations of the same vector against the
// vector: z = (mean - x) / (sd / sqrt(trials)) per coordinate, where sd is the
// closed-form standard deviation of a stochastic rounding, s * sqrt(p(1-p)).
// Returns the largest |z| over coordinates whose rounding is random.
double WorstZ(const std::vector<float>& x, const std::vector<double>& mean, float scale,
              int trials) {
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i] / scale;
    const double p = v - std::floor(v);
    const double sd = scale * std::sqrt(p * (1 - p));
    if (sd < 1e-3 * scale) continue;
    worst = std::max(worst, std::fabs(mean[i] - x[i]) / (sd / std::sqrt(trials)));
  }
  return worst;
}

class QuantizerTest : public ::testing::TestWithParam<Method> {};

TEST_P(QuantizerTest, IsUnbiasedAndATestThatRejectsBiasedRounding) {
  const Method m = GetParam();
  const float levels = m == Method::kInt8 ? 127.0f : 7.0f;
  // One block whose largest value fixes the scale at 0.01; the others sit at
  // fractional positions where round-to-nearest is biased by up to 0.4 units.
  const float scale = 0.01f;
  std::vector<float> x = {levels * scale};
  for (float frac : {0.1f, 0.3f, 0.45f, 0.6f, 0.9f}) {
    for (float base : {0.0f, 2.0f, -3.0f}) x.push_back((base + frac) * scale);
  }
  const int trials = 4000;
  std::vector<double> mean(x.size(), 0), nearest(x.size(), 0);
  for (int t = 0; t < trials; ++t) {
    std::vector<float> d = RoundTrip(x, Make(m), /*seed=*/1000 + t);
    for (size_t i = 0; i < x.size(); ++i) mean[i] += d[i] / trials;
  }
  // The same statistic for deterministic round-to-nearest, which is biased.
  for (size_t i = 0; i < x.size(); ++i) nearest[i] = std::round(x[i] / scale) * scale;
  // 5 sigma over 16 coordinates: a false alarm has probability ~1e-5.
  EXPECT_LT(WorstZ(x, mean, scale, trials), 5.0);
  EXPECT_GT(WorstZ(x, nearest, scale, trials), 50.0);
}

TEST_P(QuantizerTest, EachValueIsWithinOneStepAndZeroStaysZero) {
  const Method m = GetParam();
  const float levels = m == Method::kInt8 ? 127.0f : 7.0f;
  std::vector<float> x = Gaussian(1000, 2);
  std::fill(x.begin() + 300, x.begin() + 600, 0.0f);  // whole zero blocks (block 100)
  std::vector<float> d = RoundTrip(x, Make(m, 100), 7);
  for (size_t b = 0; b < 10; ++b) {
    float max_abs = 0;
    for (size_t i = b * 100; i < (b + 1) * 100; ++i) max_abs = std::max(max_abs, std::fabs(x[i]));
    const float step = max_abs / levels;
    for (size_t i = b * 100; i < (b + 1) * 100; ++i) {
      ASSERT_LE(std::fabs(d[i] - x[i]), step * 1.0001f) << i;
      if (max_abs == 0) {
        ASSERT_EQ(d[i], 0.0f);
      }
    }
  }
}

TEST_P(QuantizerTest, SameSeedSameBytesOtherSeedOtherBytes) {
  const std::vector<float> x = Gaussian(777, 3);
  std::string a, b, c;
  std::vector<float> r;
  ASSERT_TRUE(Compress(x, Make(GetParam()), 1, &r, &a).ok());
  ASSERT_TRUE(Compress(x, Make(GetParam()), 1, &r, &b).ok());
  ASSERT_TRUE(Compress(x, Make(GetParam()), 2, &r, &c).ok());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

// The payload against the format written out value by value: with the
// scales the payload carries, q_i = floor(v) + [u_i < v - floor(v)] for
// v = x_i / s in float, u_i = (Coin(CoinKey(seed), i) >> 8) * 2^-24, and a
// block of zeros all zeros; int4 packs two per byte, low nibble first. Odd
// sizes and a block that does not divide n leave a short last block and a
// padding nibble.
TEST_P(QuantizerTest, PayloadIsTheFormatAsWrittenValueByValue) {
  std::vector<float> x = Gaussian(1001, 11);
  std::fill(x.begin() + 100, x.begin() + 200, 0.0f);  // block 1 of 100 is all zeros
  const Config c = Make(GetParam(), /*block=*/100);
  std::string p;
  std::vector<float> r;
  ASSERT_TRUE(Compress(x, c, 42, &r, &p).ok());
  ASSERT_EQ(p.size(), PayloadBytes(c, x.size()));
  ASSERT_EQ(GetLe(p.data(), 4), 100u);
  const size_t blocks = 11;
  std::vector<float> scales(blocks);
  GetFloatsLe(p.data() + 4, absl::MakeSpan(scales));
  EXPECT_EQ(scales[1], 0.0f);
  const int levels = GetParam() == Method::kInt8 ? 127 : 7;
  const uint64_t key = CoinKey(42);
  const char* values = p.data() + 4 + 4 * blocks;
  for (size_t i = 0; i < x.size(); ++i) {
    const float s = scales[i / 100];
    int want = 0;
    if (s != 0) {
      const float v = x[i] / s;
      ASSERT_LE(std::fabs(v), levels) << i;
      const float u = static_cast<float>(Coin(key, static_cast<uint32_t>(i)) >> 8) * 0x1.0p-24f;
      want = static_cast<int>(std::floor(v)) + (u < v - std::floor(v) ? 1 : 0);
    }
    int got;
    if (GetParam() == Method::kInt8) {
      got = static_cast<int8_t>(values[i]);
    } else {
      const int nibble = (static_cast<unsigned char>(values[i / 2]) >> (4 * (i % 2))) & 0xf;
      got = nibble >= 8 ? nibble - 16 : nibble;
    }
    ASSERT_EQ(got, want) << "coordinate " << i;
  }
  if (GetParam() == Method::kInt4) {
    EXPECT_EQ(static_cast<unsigned char>(values[500]) >> 4, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(IntN, QuantizerTest, ::testing::Values(Method::kInt8, Method::kInt4),
                         [](const ::testing::TestParamInfo<Method>& p) {
                           return std::string(MethodName(p.param));
                         });

TEST(CompressionSizeTest, UploadRatiosForTheMlp) {
  const uint64_t n = 199210;  // the built-in mlp
  const double fp32 = 4.0 * n;
  EXPECT_EQ(PayloadBytes(Make(Method::kFloat16), n), 2 * n);
  EXPECT_LE(PayloadBytes(Make(Method::kInt8), n) / fp32, 0.255);
  EXPECT_LE(PayloadBytes(Make(Method::kInt4), n) / fp32, 0.13);
  // An odd count: the last nibble is padding.
  EXPECT_EQ(PayloadBytes(Make(Method::kInt4, 4), 5), 4u + 2 * 4 + 3);
}

TEST(TopKTest, KeepsTheLargestAndCarriesTheRestInTheResidual) {
  const std::vector<float> x = {0.1f, -5.0f, 0.2f, 3.0f, -0.05f, 0.0f, 4.0f, -0.3f, 0.01f, 2.0f};
  const Config c = Make(Method::kTopK, 0, 0.3f);  // k = 3
  std::vector<float> residual;
  std::vector<float> d = RoundTrip(x, c, 0, &residual);
  const std::vector<float> want_sent = {0, -5.0f, 0, 3.0f, 0, 0, 4.0f, 0, 0, 0};
  EXPECT_EQ(d, want_sent);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_FLOAT_EQ(residual[i], x[i] - want_sent[i]) << i;
  // Next round: the residual's 2.0 plus a new 1.5 beats the new small values.
  std::vector<float> y(10, 0.0f);
  y[9] = 1.5f;
  d = RoundTrip(y, c, 0, &residual);
  EXPECT_FLOAT_EQ(d[9], 3.5f);
}

TEST(TopKTest, ErrorFeedbackLosesNothingOverRounds) {
  // sum of what was sent + what is still held == sum of every delta.
  std::vector<float> residual, sent(5000, 0.0f), total(5000, 0.0f);
  for (int round = 0; round < 6; ++round) {
    const std::vector<float> x = Gaussian(5000, 10 + round);
    for (size_t i = 0; i < x.size(); ++i) total[i] += x[i];
    std::vector<float> d = RoundTrip(x, Make(Method::kTopK, 0, 0.05f), 0, &residual);
    size_t nonzero = 0;
    for (size_t i = 0; i < d.size(); ++i) {
      sent[i] += d[i];
      nonzero += d[i] != 0;
    }
    EXPECT_EQ(nonzero, 250u);
  }
  for (size_t i = 0; i < total.size(); ++i) {
    ASSERT_NEAR(sent[i] + residual[i], total[i], 1e-5) << i;
  }
}

TEST(TopKTest, PayloadIsSmallForTenPercent) {
  const std::vector<float> x = Gaussian(199210, 4);
  std::vector<float> residual;
  std::string payload;
  ASSERT_TRUE(Compress(x, Make(Method::kTopK, 0, 0.1f), 0, &residual, &payload).ok());
  // k values of 4 bytes plus gaps that mostly fit one byte.
  EXPECT_LE(payload.size(), 0.14 * 4 * x.size());
  EXPECT_GE(payload.size(), 0.125 * 4 * x.size());
}

TEST(CompressTest, RefusesNonFiniteInputsAndFloat32) {
  std::vector<float> residual;
  std::string out;
  EXPECT_FALSE(Compress({1.0f, NAN}, Make(Method::kInt8), 0, &residual, &out).ok());
  EXPECT_FALSE(Compress({1.0f}, Make(Method::kFloat32), 0, &residual, &out).ok());
  residual = {INFINITY};
  EXPECT_FALSE(Compress({1.0f}, Make(Method::kTopK, 0, 1.0f), 0, &residual, &out).ok());
}

// ---- Decoders refuse malformed payloads ----

std::string Encoded(Method m, const std::vector<float>& x, uint32_t block = 4) {
  std::vector<float> residual;
  std::string payload;
  EXPECT_TRUE(Compress(x, Make(m, block, 0.5f), 0, &residual, &payload).ok());
  return payload;
}

void ExpectRefused(Method m, const std::string& payload, uint64_t n, const std::string& what) {
  std::vector<float> out;
  absl::Status s = Decompress(m, payload, n, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << what;
  EXPECT_THAT(s.message(), HasSubstr(what));
}

TEST(DecompressTest, RefusesWrongLengths) {
  const std::vector<float> x = {0.5f, -0.25f, 1.0f, 0.0f, 0.75f};
  for (Method m : {Method::kFloat16, Method::kInt8, Method::kInt4, Method::kTopK}) {
    const std::string p = Encoded(m, x);
    std::vector<float> out;
    ASSERT_TRUE(Decompress(m, p, x.size(), &out).ok()) << MethodName(m);
    EXPECT_FALSE(Decompress(m, p.substr(0, p.size() - 1), x.size(), &out).ok()) << MethodName(m);
    EXPECT_FALSE(Decompress(m, p + "x", x.size(), &out).ok()) << MethodName(m);
    EXPECT_FALSE(Decompress(m, "", x.size(), &out).ok()) << MethodName(m);
  }
  std::vector<float> out;
  EXPECT_FALSE(Decompress(Method::kFloat32, "", 0, &out).ok());
  EXPECT_FALSE(Decompress(Method::kInt8, Encoded(Method::kInt8, x), 6, &out).ok());
}

TEST(DecompressTest, RefusesBadBlocksScalesAndValues) {
  const std::vector<float> x = {0.5f, -0.25f, 1.0f, 0.0f, 0.75f};
  std::string p = Encoded(Method::kInt8, x);  // block 4: 2 scales
  std::string q = p;
  PutLe(0, 4, q.data());
  ExpectRefused(Method::kInt8, q, 5, "block 0");
  q = p;
  const float minus = -1.0f, nan = NAN;
  std::memcpy(q.data() + 4, &minus, 4);
  ExpectRefused(Method::kInt8, q, 5, "scale 0");
  q = p;
  std::memcpy(q.data() + 8, &nan, 4);
  ExpectRefused(Method::kInt8, q, 5, "scale 1");
  // Finite, but 127 times it is not: found by the fuzzer.
  const float huge = 3e38f;
  q = p;
  std::memcpy(q.data() + 4, &huge, 4);
  ExpectRefused(Method::kInt8, q, 5, "scale 0");
  q = p;
  q[12] = static_cast<char>(0x80);  // int8 -128
  ExpectRefused(Method::kInt8, q, 5, "value 0 is -128");

  p = Encoded(Method::kInt4, x);  // 4 + 8 + 3 bytes
  q = p;
  q[12] = static_cast<char>(0x08);  // low nibble -8
  ExpectRefused(Method::kInt4, q, 5, "value 0 is -8");
  q = p;
  q[14] = static_cast<char>(q[14] | 0x10);  // padding nibble of the 5th value's byte
  ExpectRefused(Method::kInt4, q, 5, "padding");

  p = Encoded(Method::kFloat16, x);
  q = p;
  PutLe(0x7c00, 2, q.data() + 2);
  ExpectRefused(Method::kFloat16, q, 5, "value 1 is not finite");
}

TEST(DecompressTest, RefusesBadTopKIndicesAndValues) {
  auto payload = [](uint32_t k, const std::string& gaps, const std::vector<float>& values) {
    std::string p;
    AppendLe(k, 4, &p);
    p += gaps;
    AppendFloatsLe(values, &p);
    return p;
  };
  std::vector<float> out;
  // Two values at indices 1 and 3 of 5.
  ASSERT_TRUE(Decompress(Method::kTopK, payload(2, std::string("\x01\x01", 2), {1, 2}), 5, &out).ok());
  EXPECT_EQ(out, (std::vector<float>{0, 1, 0, 2, 0}));
  ExpectRefused(Method::kTopK, payload(6, std::string(6, '\0'), {1, 1, 1, 1, 1, 1}), 5,
                "k 6 exceeds");
  ExpectRefused(Method::kTopK, payload(2, std::string("\x01\x03", 2), {1, 2}), 5,
                "index 1 is 5, past 5");
  ExpectRefused(Method::kTopK, payload(1, std::string("\x80\x80\x80\x80\x80\x01", 6), {1}), 5,
                "too long");
  ExpectRefused(Method::kTopK, payload(1, std::string("\x00", 1), {NAN}), 5,
                "value 0 is not finite");
  // A huge declared k with few bytes fails before allocating for it.
  ExpectRefused(Method::kTopK, payload(1000000, "", {}), 2000000, "does not fit");
}

TEST(DecompressTest, EveryEncoderOutputDecodesToTheRightSize) {
  for (size_t n : {0, 1, 2, 3, 255, 256, 257, 1000}) {
    const std::vector<float> x = Gaussian(n, n);
    for (Method m : {Method::kFloat16, Method::kInt8, Method::kInt4, Method::kTopK}) {
      std::vector<float> d = RoundTrip(x, Make(m, kDefaultBlock, 0.1f), 5);
      EXPECT_EQ(d.size(), n) << MethodName(m);
    }
  }
}

}  // namespace
}  // namespace fedge::compression
