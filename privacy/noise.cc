#include "privacy/noise.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base/little_endian.h"

namespace fedge::privacy {
namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "fedge privacy noise: %s\n", what);
  std::abort();
}

// OpenSSL's DRBG; RAND_bytes is thread-safe, the buffer in RandomBits is not.
class CryptoBits final : public RandomBits {
 protected:
  void Fill(uint8_t* out, size_t n) override {
    if (RAND_bytes(out, static_cast<int>(n)) != 1) {
      // Returning anything would make the noise predictable.
      Die("RAND_bytes failed: no cryptographic randomness for noise");
    }
  }
};

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};

class SeededBits final : public RandomBits {
 public:
  explicit SeededBits(uint64_t seed) : ctx_(EVP_CIPHER_CTX_new()) {
    std::string input;
    AppendLe(seed, 8, &input);
    input += "fedge.privacy.RandomBits.v1";  // keeps these keys apart from other uses of a seed
    unsigned char key[32];
    unsigned int key_size = 0;
    static constexpr unsigned char kZeroCounter[16] = {};
    if (EVP_Digest(input.data(), input.size(), key, &key_size, EVP_sha256(), nullptr) != 1 ||
        key_size != sizeof(key) || ctx_ == nullptr ||
        EVP_EncryptInit_ex(ctx_.get(), EVP_aes_256_ctr(), nullptr, key, kZeroCounter) != 1) {
      Die("cannot set up the seeded AES-256-CTR stream");
    }
  }

 protected:
  void Fill(uint8_t* out, size_t n) override {
    // CTR encryption of zeros is the keystream; EVP allows in == out.
    std::fill(out, out + n, 0);
    int written = 0;
    if (EVP_EncryptUpdate(ctx_.get(), out, &written, out, static_cast<int>(n)) != 1 ||
        static_cast<size_t>(written) != n) {
      Die("AES-256-CTR keystream failed");
    }
  }

 private:
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> ctx_;
};

// Bernoulli(num / den) exactly, for 0 <= num <= den, den >= 1.
bool BernoulliRational(uint64_t num, uint64_t den, RandomBits& bits) {
  return bits.UniformBelow(den) < num;
}

// Bernoulli(exp(-num/den)) for 0 <= num <= den (CKS Algorithm 1, gamma <= 1):
// K counts successes of Bernoulli(gamma / k) for k = 1, 2, ...; P(K >= k) =
// gamma^(k-1) / (k-1)!, and P(K odd) = exp(-gamma).
bool BernoulliExpRational(uint64_t num, uint64_t den, RandomBits& bits) {
  uint64_t k = 1;
  // den * k cannot overflow: den <= 2^40 and reaching k = 2^23 has
  // probability below 1 / (2^23)!.
  while (BernoulliRational(num, den * k, bits)) ++k;
  return k % 2 == 1;
}

bool BernoulliExpMinusOne(RandomBits& bits) { return BernoulliExpRational(1, 1, bits); }

// Bernoulli(exp(-gamma)) for a double gamma >= 0 (CKS Algorithm 1): the
// integer part as that many Bernoulli(exp(-1)), the fraction f as above with
// Bernoulli(f / k) drawn against a 53-bit uniform.
bool BernoulliExpReal(double gamma, RandomBits& bits) {
  const double whole = std::floor(gamma);
  for (double i = 0; i < whole; ++i) {
    if (!BernoulliExpMinusOne(bits)) return false;
  }
  const double f = gamma - whole;
  uint64_t k = 1;
  while (bits.Uniform01() < f / static_cast<double>(k)) ++k;
  return k % 2 == 1;
}

// The discrete Laplace: P(y) proportional to exp(-|y| / t) (CKS Algorithm 2
// with s = 1). Exact.
int64_t DiscreteLaplace(uint64_t t, RandomBits& bits) {
  while (true) {
    const uint64_t u = bits.UniformBelow(t);
    if (!BernoulliExpRational(u, t, bits)) continue;
    uint64_t v = 0;
    while (BernoulliExpMinusOne(bits)) ++v;
    const uint64_t magnitude = u + t * v;
    const bool negative = (bits.Next64() & 1) != 0;
    if (negative && magnitude == 0) continue;  // else 0 would count twice
    return negative ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
  }
}

void CheckStddev(double stddev) {
  if (!(stddev >= 0) || !std::isfinite(stddev)) {
    Die("Gaussian noise stddev is negative or not finite (validate it where it is configured)");
  }
}

void CheckSigma(double sigma) {
  if (!(sigma > 0) || !(sigma <= kMaxDiscreteGaussianSigma)) {
    Die("discrete Gaussian sigma is not in (0, 1e12] (validate it where it is configured)");
  }
}

// The checked sampler (CKS Algorithm 3).
int64_t SampleDiscreteGaussian(double sigma, RandomBits& bits) {
  const double t = std::floor(sigma) + 1;
  const double var = sigma * sigma;
  const double center = var / t;
  while (true) {
    const int64_t y = DiscreteLaplace(static_cast<uint64_t>(t), bits);
    const double d = std::fabs(static_cast<double>(y)) - center;
    if (BernoulliExpReal(d * d / (2 * var), bits)) return y;
  }
}

}  // namespace

std::unique_ptr<RandomBits> RandomBits::Crypto() { return std::make_unique<CryptoBits>(); }

std::unique_ptr<RandomBits> RandomBits::Seeded(uint64_t seed) {
  return std::make_unique<SeededBits>(seed);
}

void RandomBits::Refill() {
  uint8_t bytes[kWords * 8];
  Fill(bytes, sizeof(bytes));
  for (size_t i = 0; i < kWords; ++i) {
    words_[i] = GetLe(reinterpret_cast<const char*>(bytes) + 8 * i, 8);
  }
  next_ = 0;
}

double RandomBits::Uniform01() {
  while (true) {
    const uint64_t k = Next64() >> 11;
    if (k != 0) return static_cast<double>(k) * 0x1.0p-53;
  }
}

uint64_t RandomBits::UniformBelow(uint64_t n) {
  // Values below 2^64 mod n would make the low residues likelier; redraw them.
  const uint64_t threshold = (0 - n) % n;
  while (true) {
    const uint64_t x = Next64();
    if (x >= threshold) return x % n;
  }
}

double StandardNormal(RandomBits& bits) {
  const double r = std::sqrt(-2 * std::log(bits.Uniform01()));
  return r * std::cos(2 * M_PI * bits.Uniform01());
}

void AddGaussianNoise(absl::Span<float> values, double stddev, RandomBits& bits) {
  CheckStddev(stddev);
  if (stddev == 0) return;
  // Box-Muller gives two independent normals per pair of uniforms.
  size_t i = 0;
  for (; i + 1 < values.size(); i += 2) {
    const double r = stddev * std::sqrt(-2 * std::log(bits.Uniform01()));
    const double theta = 2 * M_PI * bits.Uniform01();
    values[i] = static_cast<float>(values[i] + r * std::cos(theta));
    values[i + 1] = static_cast<float>(values[i + 1] + r * std::sin(theta));
  }
  if (i < values.size()) values[i] = static_cast<float>(values[i] + stddev * StandardNormal(bits));
}

int64_t DiscreteGaussian(double sigma, RandomBits& bits) {
  CheckSigma(sigma);
  return SampleDiscreteGaussian(sigma, bits);
}

void AddDiscreteGaussianNoise(absl::Span<uint32_t> words, double sigma, RandomBits& bits) {
  CheckSigma(sigma);
  for (uint32_t& w : words) {
    // Unsigned arithmetic wraps mod 2^32, which is two's complement addition.
    w += static_cast<uint32_t>(SampleDiscreteGaussian(sigma, bits));
  }
}

}  // namespace fedge::privacy
