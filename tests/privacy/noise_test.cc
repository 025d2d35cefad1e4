#include "privacy/noise.h"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <limits>
#include <memory>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace fedge::privacy {
namespace {

// Feeds chosen 64-bit words (little-endian), then zeros.
class FakeBits final : public RandomBits {
 public:
  explicit FakeBits(std::deque<uint64_t> words) : words_(std::move(words)) {}

 protected:
  void Fill(uint8_t* out, size_t n) override {
    for (size_t i = 0; i + 8 <= n; i += 8) {
      uint64_t w = 0;
      if (!words_.empty()) {
        w = words_.front();
        words_.pop_front();
      }
      for (int b = 0; b < 8; ++b) out[i + b] = static_cast<uint8_t>(w >> (8 * b));
    }
  }

 private:
  std::deque<uint64_t> words_;
};

struct Moments {
  double mean = 0;
  double variance = 0;
  double fourth = 0;  // fourth central moment, for the variance's standard error
};

template <typename T>
Moments MomentsOf(const std::vector<T>& xs) {
  Moments m;
  for (T x : xs) m.mean += static_cast<double>(x);
  m.mean /= static_cast<double>(xs.size());
  for (T x : xs) {
    const double d = static_cast<double>(x) - m.mean;
    m.variance += d * d;
    m.fourth += d * d * d * d;
  }
  m.variance /= static_cast<double>(xs.size() - 1);
  m.fourth /= static_cast<double>(xs.size());
  return m;
}

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

TEST(RandomBitsTest, SeededStreamIsTheDocumentedAesCtrKeystream) {
  // openssl enc -aes-256-ctr -K $(SHA-256 of le64(42) || "fedge.privacy.RandomBits.v1")
  // -iv 0 over zeros, read as little-endian words.
  std::unique_ptr<RandomBits> bits = RandomBits::Seeded(42);
  EXPECT_EQ(bits->Next64(), 0x19c001d9c52b62b2u);
  EXPECT_EQ(bits->Next64(), 0xef692a8594e2fbfdu);
  EXPECT_EQ(bits->Next64(), 0x6ce01b7d5971e4c5u);
  EXPECT_EQ(RandomBits::Seeded(0)->Next64(), 0x23b6d76931e00d4au);
}

TEST(RandomBitsTest, SeededStreamsRepeatAcrossRefillsAndSeedsDiffer) {
  std::unique_ptr<RandomBits> a = RandomBits::Seeded(7);
  std::unique_ptr<RandomBits> b = RandomBits::Seeded(7);
  std::unique_ptr<RandomBits> c = RandomBits::Seeded(8);
  int same_as_other_seed = 0;
  for (int i = 0; i < 2000; ++i) {  // four 512-word refills
    const uint64_t x = a->Next64();
    ASSERT_EQ(x, b->Next64()) << i;
    same_as_other_seed += x == c->Next64();
  }
  EXPECT_EQ(same_as_other_seed, 0);
  // Derived draws repeat too.
  std::vector<float> u(1001, 0.0f), v(1001, 0.0f);
  AddGaussianNoise(absl::MakeSpan(u), 2.0, *RandomBits::Seeded(99));
  AddGaussianNoise(absl::MakeSpan(v), 2.0, *RandomBits::Seeded(99));
  EXPECT_EQ(u, v);
}

TEST(RandomBitsTest, CryptoStreamsDifferBetweenInstances) {
  std::unique_ptr<RandomBits> a = RandomBits::Crypto();
  std::unique_ptr<RandomBits> b = RandomBits::Crypto();
  int equal = 0, zero = 0;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t x = a->Next64();
    equal += x == b->Next64();
    zero += x == 0;
  }
  EXPECT_EQ(equal, 0);
  EXPECT_EQ(zero, 0);
}

TEST(RandomBitsTest, Uniform01RedrawsZeroAndStaysBelowOne) {
  FakeBits bits({0, 0x7ffull, ~uint64_t{0}, uint64_t{1} << 11});
  // 0 and 0x7ff have no bits above the low 11: both redrawn.
  EXPECT_EQ(bits.Uniform01(), 1 - 0x1.0p-53);
  EXPECT_EQ(bits.Uniform01(), 0x1.0p-53);
}

TEST(RandomBitsTest, UniformBelowRedrawsTheBiasedLowValues) {
  // 2^64 mod 3 = 1: the value 0 would make residue 0 likelier, so it is redrawn.
  FakeBits bits({0, 5, 7});
  EXPECT_EQ(bits.UniformBelow(3), 2u);  // 5 % 3
  EXPECT_EQ(bits.UniformBelow(1), 0u);
  std::unique_ptr<RandomBits> seeded = RandomBits::Seeded(3);
  std::vector<int> counts(6, 0);
  for (int i = 0; i < 60000; ++i) ++counts[seeded->UniformBelow(6)];
  for (int c : counts) EXPECT_NEAR(c, 10000, 5 * std::sqrt(10000 * 5.0 / 6));
}

TEST(GaussianNoiseTest, StandardNormalHasUnitVarianceAndNormalTails) {
  std::unique_ptr<RandomBits> bits = RandomBits::Seeded(1);
  const int n = 1000000;
  std::vector<double> xs(n);
  int beyond_two = 0;
  for (double& x : xs) {
    x = StandardNormal(*bits);
    beyond_two += std::fabs(x) > 2;
  }
  const Moments m = MomentsOf(xs);
  EXPECT_NEAR(m.mean, 0, 5 / std::sqrt(n));
  EXPECT_NEAR(std::sqrt(m.variance), 1, 0.02);
  const double p = std::erfc(2 / std::sqrt(2.0));  // 0.0455
  EXPECT_NEAR(beyond_two, p * n, 5 * std::sqrt(p * (1 - p) * n));
}

TEST(GaussianNoiseTest, AddsTheRequestedStddevAroundTheValues) {
  std::unique_ptr<RandomBits> bits = RandomBits::Crypto();
  const size_t n = 1000001;  // odd: the last value takes a lone draw
  std::vector<float> values(n, 3.0f);
  const auto start = std::chrono::steady_clock::now();
  AddGaussianNoise(absl::MakeSpan(values), 0.5, *bits);
  std::printf("AddGaussianNoise: %zu floats in %.1f ms\n", n, MillisecondsSince(start));
  const Moments m = MomentsOf(values);
  EXPECT_NEAR(m.mean, 3.0, 5 * 0.5 / std::sqrt(n));
  EXPECT_NEAR(std::sqrt(m.variance), 0.5, 0.02 * 0.5);
  EXPECT_NE(values.back(), 3.0f);
}

TEST(GaussianNoiseTest, ZeroStddevAddsNothing) {
  std::vector<float> values = {1, -2, 3};
  AddGaussianNoise(absl::MakeSpan(values), 0, *RandomBits::Seeded(1));
  EXPECT_EQ(values, (std::vector<float>{1, -2, 3}));
}

TEST(GaussianNoiseDeathTest, ABadStddevAbortsInsteadOfAddingLessNoise) {
  std::vector<float> values(4);
  std::unique_ptr<RandomBits> bits = RandomBits::Seeded(1);
  EXPECT_DEATH(AddGaussianNoise(absl::MakeSpan(values), -1, *bits), "stddev");
  EXPECT_DEATH(AddGaussianNoise(absl::MakeSpan(values), std::nan(""), *bits), "stddev");
  EXPECT_DEATH(DiscreteGaussian(0, *bits), "sigma");
  EXPECT_DEATH(DiscreteGaussian(2e12, *bits), "sigma");
  std::vector<uint32_t> words(4);
  EXPECT_DEATH(AddDiscreteGaussianNoise(absl::MakeSpan(words), std::nan(""), *bits), "sigma");
}

// Var of N_Z(0, sigma^2): sum k^2 exp(-k^2/(2 sigma^2)) / sum exp(...).
double DiscreteGaussianVariance(double sigma) {
  double num = 0, den = 1;
  const int64_t reach = static_cast<int64_t>(40 * sigma) + 10;
  for (int64_t k = 1; k <= reach; ++k) {
    const double w = std::exp(-static_cast<double>(k * k) / (2 * sigma * sigma));
    num += 2 * static_cast<double>(k * k) * w;
    den += 2 * w;
  }
  return num / den;
}

TEST(DiscreteGaussianTest, VarianceMatchesTheClosedForm) {
  std::unique_ptr<RandomBits> bits = RandomBits::Seeded(11);
  const int n = 1000000;
  for (double sigma : {0.5, 3.0, 50.0, 1e4}) {
    const double var = DiscreteGaussianVariance(sigma);
    if (sigma >= 3) {
      EXPECT_NEAR(var, sigma * sigma, 1e-6 * sigma * sigma);
    }
    std::vector<int64_t> xs(n);
    for (int64_t& x : xs) x = DiscreteGaussian(sigma, *bits);
    const Moments m = MomentsOf(xs);
    EXPECT_NEAR(m.mean, 0, 5 * std::sqrt(var / n)) << sigma;
    // The sample variance's standard error is sqrt((m4 - var^2) / n).
    EXPECT_NEAR(m.variance, var, 5 * std::sqrt((m.fourth - var * var) / n)) << sigma;
  }
  // sigma 0.5 is far from sigma^2 = 0.25: the test above would see a
  // sampler that rounded a continuous Gaussian.
  EXPECT_NEAR(DiscreteGaussianVariance(0.5), 0.215, 0.001);
}

TEST(DiscreteGaussianTest, PmfAtSigmaThreePassesChiSquare) {
  std::unique_ptr<RandomBits> bits = RandomBits::Seeded(5);
  const double sigma = 3;
  const int n = 200000;
  const int reach = 11;  // bins -11..11, plus one for each tail
  std::vector<double> weight(2 * reach + 3, 0.0);
  double total = 0;
  for (int k = -200; k <= 200; ++k) {
    const double w = std::exp(-k * k / (2 * sigma * sigma));
    total += w;
    const int bin = k < -reach ? 0 : (k > reach ? 2 * reach + 2 : k + reach + 1);
    weight[bin] += w;
  }
  std::vector<int> counts(weight.size(), 0);
  for (int i = 0; i < n; ++i) {
    const int64_t k = DiscreteGaussian(sigma, *bits);
    ++counts[k < -reach ? 0 : (k > reach ? 2 * reach + 2 : k + reach + 1)];
  }
  double chi2 = 0;
  for (size_t b = 0; b < counts.size(); ++b) {
    const double expected = n * weight[b] / total;
    chi2 += (counts[b] - expected) * (counts[b] - expected) / expected;
  }
  // 25 bins, 24 degrees of freedom: P(chi2 > 58.61) = 1e-4.
  EXPECT_LT(chi2, 58.61);
}

TEST(DiscreteGaussianTest, AddedNoiseWrapsAsTwosComplement) {
  std::unique_ptr<RandomBits> bits = RandomBits::Seeded(2);
  std::vector<uint32_t> words(100000, 0);
  AddDiscreteGaussianNoise(absl::MakeSpan(words), 50, *bits);
  std::vector<int32_t> signed_words(words.size());
  int negative = 0;
  for (size_t i = 0; i < words.size(); ++i) {
    signed_words[i] = static_cast<int32_t>(words[i]);
    negative += signed_words[i] < 0;
    ASSERT_LT(std::abs(signed_words[i]), 1000) << words[i];
  }
  EXPECT_NEAR(negative, 50000, 1000);
  const Moments m = MomentsOf(signed_words);
  EXPECT_NEAR(std::sqrt(m.variance), 50, 1);
  // Adding to the top of the range wraps the other way.
  std::vector<uint32_t> top(1000, 0xffffffffu);
  AddDiscreteGaussianNoise(absl::MakeSpan(top), 50, *bits);
  int wrapped = 0;
  for (uint32_t w : top) wrapped += w < 1000;
  EXPECT_GT(wrapped, 400);
}

TEST(DiscreteGaussianTest, LargeSigmaIsFastEnough) {
  std::unique_ptr<RandomBits> bits = RandomBits::Crypto();
  for (double sigma : {1e3, 1e5}) {
    std::vector<uint32_t> words(100000, 0);
    const auto start = std::chrono::steady_clock::now();
    AddDiscreteGaussianNoise(absl::MakeSpan(words), sigma, *bits);
    std::printf("AddDiscreteGaussianNoise: %zu words at sigma %g in %.1f ms\n", words.size(),
                sigma, MillisecondsSince(start));
    std::vector<int32_t> xs(words.begin(), words.end());
    EXPECT_NEAR(std::sqrt(MomentsOf(xs).variance), sigma, 0.02 * sigma);
  }
}

}  // namespace
}  // namespace fedge::privacy
