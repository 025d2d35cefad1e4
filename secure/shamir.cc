#include "secure/shamir.h"

#include <algorithm>

#include <openssl/crypto.h>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace fedge::secure {
namespace {

constexpr uint64_t kP = kShamirPrime;
constexpr uint64_t kChunkLimit = uint64_t{1} << (8 * kShamirChunkBytes);  // 2^56
static_assert(kChunkLimit < kShamirPrime, "a chunk must fit a field element");

// Redraws allowed for one coefficient. A uniform 61-bit draw hits the single
// out-of-range value (2^61 - 1) with probability 2^-61; 64 misses in a row
// mean the generator is broken.
constexpr int kMaxRedraws = 64;

void Wipe(std::vector<uint64_t>& v) { OPENSSL_cleanse(v.data(), v.size() * sizeof(uint64_t)); }

// A vector of secret words, wiped on scope exit.
struct WipedWords {
  explicit WipedWords(size_t n) : v(n) {}
  ~WipedWords() { Wipe(v); }
  std::vector<uint64_t> v;
};

// --- Arithmetic modulo the Mersenne prime 2^61 - 1; inputs are in [0, p). ---

uint64_t Reduce(uint64_t r) {  // r < 2^64  ->  r mod p
  r = (r & kP) + (r >> 61);
  return r >= kP ? r - kP : r;
}
uint64_t Add(uint64_t a, uint64_t b) { return Reduce(a + b); }
uint64_t Sub(uint64_t a, uint64_t b) { return a >= b ? a - b : a + kP - b; }
uint64_t Mul(uint64_t a, uint64_t b) {
  const unsigned __int128 prod = static_cast<unsigned __int128>(a) * b;  // < 2^122
  // 2^61 == 1 (mod p): fold the high bits onto the low ones.
  return Reduce((static_cast<uint64_t>(prod) & kP) + static_cast<uint64_t>(prod >> 61));
}
uint64_t Pow(uint64_t base, uint64_t e) {
  uint64_t result = 1;
  for (; e != 0; e >>= 1) {
    if (e & 1) result = Mul(result, base);
    base = Mul(base, base);
  }
  return result;
}
uint64_t Inverse(uint64_t a) { return Pow(a, kP - 2); }  // Fermat; REQUIRES: a != 0

// Replaces every (non-zero) element of `v` by its inverse with one
// exponentiation (Montgomery's trick).
void InvertAll(std::vector<uint64_t>& v) {
  std::vector<uint64_t> prefix(v.size());
  uint64_t acc = 1;
  for (size_t i = 0; i < v.size(); ++i) {
    prefix[i] = acc;
    acc = Mul(acc, v[i]);
  }
  uint64_t inv = Inverse(acc);
  for (size_t i = v.size(); i-- > 0;) {
    const uint64_t vi = v[i];
    v[i] = Mul(inv, prefix[i]);
    inv = Mul(inv, vi);
  }
}

// Lagrange basis at the distinct points `xs` in barycentric form:
// L_i(z) = weight_i * prod_j (z - x_j) / (z - x_i), weight_i = 1 / prod_{j!=i} (x_i - x_j).
class Lagrange {
 public:
  explicit Lagrange(std::vector<uint64_t> xs) : xs_(std::move(xs)), weights_(xs_.size(), 1) {
    for (size_t i = 0; i < xs_.size(); ++i) {
      for (size_t j = 0; j < xs_.size(); ++j) {
        if (j != i) weights_[i] = Mul(weights_[i], Sub(xs_[i], xs_[j]));
      }
    }
    InvertAll(weights_);
  }

  // L_i(z) for every i. REQUIRES: z differs from every x_i.
  std::vector<uint64_t> At(uint64_t z) const {
    std::vector<uint64_t> basis(xs_.size());
    uint64_t whole = 1;  // prod_j (z - x_j)
    for (size_t i = 0; i < xs_.size(); ++i) {
      basis[i] = Sub(z, xs_[i]);
      whole = Mul(whole, basis[i]);
    }
    InvertAll(basis);
    for (size_t i = 0; i < xs_.size(); ++i) basis[i] = Mul(Mul(basis[i], whole), weights_[i]);
    return basis;
  }

 private:
  std::vector<uint64_t> xs_;
  std::vector<uint64_t> weights_;
};

// sum_i basis[i] * shares[i].y[chunk]
uint64_t Combine(absl::Span<const uint64_t> basis, absl::Span<const ShamirShare> shares,
                 size_t chunk) {
  uint64_t sum = 0;
  for (size_t i = 0; i < basis.size(); ++i) sum = Add(sum, Mul(basis[i], shares[i].y[chunk]));
  return sum;
}

uint64_t LoadLittleEndian(const uint8_t* bytes, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | bytes[i];
  return v;
}

// One uniform field element from `random`, by rejection.
absl::StatusOr<uint64_t> DrawFieldElement(SecureRandom& random) {
  for (int attempt = 0; attempt < kMaxRedraws; ++attempt) {
    uint8_t bytes[8];
    FEDGE_RETURN_IF_ERROR(random.Fill(absl::MakeSpan(bytes)));
    const uint64_t v = LoadLittleEndian(bytes, 8) & kP;
    OPENSSL_cleanse(bytes, sizeof(bytes));
    if (v < kP) return v;
  }
  return absl::InternalError("Shamir: SecureRandom keeps returning out-of-range values");
}

}  // namespace

ShamirShare& ShamirShare::operator=(const ShamirShare& other) {
  if (this != &other) {
    Wipe(y);
    x = other.x;
    y = other.y;
  }
  return *this;
}

ShamirShare& ShamirShare::operator=(ShamirShare&& other) noexcept {
  if (this != &other) {
    Wipe(y);
    x = other.x;
    y = std::move(other.y);
  }
  return *this;
}

ShamirShare::~ShamirShare() { Wipe(y); }

absl::StatusOr<std::vector<ShamirShare>> ShamirSplit(absl::Span<const uint8_t> secret,
                                                     int threshold, int num_shares,
                                                     SecureRandom& random) {
  if (secret.empty()) return absl::InvalidArgumentError("Shamir: empty secret");
  if (threshold < 1 || threshold > num_shares || num_shares > kShamirMaxShares) {
    return absl::InvalidArgumentError(
        absl::StrCat("Shamir: threshold ", threshold, " of ", num_shares,
                     " shares; want 1 <= threshold <= shares <= ", kShamirMaxShares));
  }
  const size_t chunks = ShamirChunkCount(secret.size());
  const size_t t = static_cast<size_t>(threshold);

  // coefficients.v[c * t + k] is the coefficient of x^k for chunk c; k = 0
  // holds the chunk of the secret itself.
  WipedWords coefficients(chunks * t);
  for (size_t c = 0; c < chunks; ++c) {
    const size_t begin = c * kShamirChunkBytes;
    const size_t n = std::min(kShamirChunkBytes, secret.size() - begin);
    coefficients.v[c * t] = LoadLittleEndian(secret.data() + begin, n);
    for (size_t k = 1; k < t; ++k) {
      FEDGE_ASSIGN_OR_RETURN(coefficients.v[c * t + k], DrawFieldElement(random));
    }
  }

  std::vector<ShamirShare> shares(static_cast<size_t>(num_shares));
  for (size_t s = 0; s < shares.size(); ++s) {
    const uint64_t x = s + 1;
    shares[s].x = static_cast<uint32_t>(x);
    shares[s].y.resize(chunks);
    for (size_t c = 0; c < chunks; ++c) {
      const uint64_t* poly = &coefficients.v[c * t];
      uint64_t y = poly[t - 1];  // Horner
      for (size_t k = t - 1; k-- > 0;) y = Add(Mul(y, x), poly[k]);
      shares[s].y[c] = y;
    }
  }
  return shares;
}

absl::StatusOr<SecretBytes> ShamirReconstruct(absl::Span<const ShamirShare> shares,
                                              int threshold, size_t secret_length) {
  if (threshold < 1 || threshold > kShamirMaxShares) {
    return absl::InvalidArgumentError(absl::StrCat("Shamir: threshold ", threshold,
                                                   " outside [1, ", kShamirMaxShares, "]"));
  }
  if (secret_length == 0) return absl::InvalidArgumentError("Shamir: secret length 0");
  if (shares.size() < static_cast<size_t>(threshold)) {
    return absl::FailedPreconditionError(absl::StrCat("Shamir: ", shares.size(),
                                                      " shares, need ", threshold));
  }
  if (shares.size() > static_cast<size_t>(kShamirMaxShares)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Shamir: ", shares.size(), " shares, at most ", kShamirMaxShares));
  }
  const size_t chunks = ShamirChunkCount(secret_length);
  std::vector<uint32_t> xs;
  xs.reserve(shares.size());
  for (const ShamirShare& share : shares) {
    if (share.x == 0) return absl::InvalidArgumentError("Shamir: share with x = 0");
    if (share.y.size() != chunks) {
      return absl::InvalidArgumentError(
          absl::StrCat("Shamir: share x=", share.x, " has ", share.y.size(), " values, want ",
                       chunks, " for a ", secret_length, "-byte secret"));
    }
    for (uint64_t v : share.y) {
      if (v >= kP) {
        return absl::InvalidArgumentError(
            absl::StrCat("Shamir: share x=", share.x, " has a value outside the field"));
      }
    }
    xs.push_back(share.x);
  }
  std::sort(xs.begin(), xs.end());
  if (auto dup = std::adjacent_find(xs.begin(), xs.end()); dup != xs.end()) {
    return absl::InvalidArgumentError(absl::StrCat("Shamir: two shares with x=", *dup));
  }

  // Interpolate through the first `threshold` shares; check the rest against it.
  const size_t t = static_cast<size_t>(threshold);
  const absl::Span<const ShamirShare> basis_shares = shares.subspan(0, t);
  std::vector<uint64_t> basis_xs(t);
  for (size_t i = 0; i < t; ++i) basis_xs[i] = basis_shares[i].x;
  const Lagrange lagrange(std::move(basis_xs));

  for (const ShamirShare& extra : shares.subspan(t)) {
    const std::vector<uint64_t> basis = lagrange.At(extra.x);
    for (size_t c = 0; c < chunks; ++c) {
      if (Combine(basis, basis_shares, c) != extra.y[c]) {
        return absl::DataLossError(absl::StrCat(
            "Shamir: share x=", extra.x, " is inconsistent with the first ", t, " shares"));
      }
    }
  }

  const std::vector<uint64_t> at_zero = lagrange.At(0);
  SecretBytes secret(secret_length);
  for (size_t c = 0; c < chunks; ++c) {
    uint64_t value = Combine(at_zero, basis_shares, c);
    const size_t begin = c * kShamirChunkBytes;
    const size_t n = std::min(kShamirChunkBytes, secret_length - begin);
    // A valid chunk fits n bytes; anything else means corrupt or mismatched shares.
    if (value >= (uint64_t{1} << (8 * n))) {
      OPENSSL_cleanse(&value, sizeof(value));
      return absl::DataLossError(
          absl::StrCat("Shamir: reconstructed chunk ", c, " is out of range (corrupt shares, "
                       "wrong threshold or wrong secret length)"));
    }
    for (size_t i = 0; i < n; ++i) {
      secret.data()[begin + i] = static_cast<uint8_t>(value >> (8 * i));
    }
    OPENSSL_cleanse(&value, sizeof(value));
  }
  return secret;
}

namespace {

absl::Status CheckXs(absl::Span<const uint32_t> xs) {
  std::vector<uint32_t> sorted(xs.begin(), xs.end());
  std::sort(sorted.begin(), sorted.end());
  if (!sorted.empty() && sorted.front() == 0) {
    return absl::InvalidArgumentError("Shamir: evaluation point x = 0");
  }
  if (auto dup = std::adjacent_find(sorted.begin(), sorted.end()); dup != sorted.end()) {
    return absl::InvalidArgumentError(absl::StrCat("Shamir: evaluation point x=", *dup,
                                                   " appears twice"));
  }
  return absl::OkStatus();
}

// Writes the n-byte little-endian encoding of `value` at `out`, or DataLoss
// when it does not fit (corrupt shares).
absl::Status StoreChunk(uint64_t value, size_t chunk, size_t n, uint8_t* out) {
  if (value >= (uint64_t{1} << (8 * n))) {
    return absl::DataLossError(
        absl::StrCat("Shamir: reconstructed chunk ", chunk, " is out of range (corrupt shares, "
                     "wrong threshold or wrong secret length)"));
  }
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
  return absl::OkStatus();
}

}  // namespace

// Horner's rule for up to kSplitBatch points at once. Each step is
// y = y * x + c with y only partially reduced (kept below 2^63): with x < 2^32,
// y * x < 2^95, folding it mod 2^61 - 1 gives < 2^61 + 2^34, and adding c < 2^61
// stays below 2^63. One full reduction at the end. Batching several points
// gives the CPU independent multiply chains instead of one latency-bound one.
constexpr size_t kSplitBatch = 4;

void EvaluateBatch(const uint64_t* coefficients, size_t t, size_t chunks,
                   absl::Span<const uint32_t> xs, ShamirShare* out) {
  const size_t m = xs.size();
  WipedWords acc(m * chunks);  // acc.v[j * chunks + c]: point j, chunk c
  uint64_t* y = acc.v.data();
  for (size_t j = 0; j < m; ++j) {
    for (size_t c = 0; c < chunks; ++c) y[j * chunks + c] = coefficients[(t - 1) * chunks + c];
  }
  for (size_t k = t - 1; k-- > 0;) {
    const uint64_t* poly = coefficients + k * chunks;
    for (size_t j = 0; j < m; ++j) {
      const uint64_t x = xs[j];
      for (size_t c = 0; c < chunks; ++c) {
        const unsigned __int128 prod = static_cast<unsigned __int128>(y[j * chunks + c]) * x;
        y[j * chunks + c] =
            (static_cast<uint64_t>(prod) & kP) + static_cast<uint64_t>(prod >> 61) + poly[c];
      }
    }
  }
  for (size_t j = 0; j < m; ++j) {
    out[j].x = xs[j];
    out[j].y.resize(chunks);
    for (size_t c = 0; c < chunks; ++c) out[j].y[c] = Reduce(y[j * chunks + c]);
  }
}

absl::StatusOr<std::vector<ShamirShare>> ShamirSplitAt(absl::Span<const uint8_t> secret,
                                                       int threshold,
                                                       absl::Span<const uint32_t> xs,
                                                       SecureRandom& random) {
  if (secret.empty()) return absl::InvalidArgumentError("Shamir: empty secret");
  if (threshold < 1 || static_cast<size_t>(threshold) > xs.size() ||
      xs.size() > static_cast<size_t>(kShamirMaxShares)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Shamir: threshold ", threshold, " of ", xs.size(),
                     " shares; want 1 <= threshold <= shares <= ", kShamirMaxShares));
  }
  FEDGE_RETURN_IF_ERROR(CheckXs(xs));
  const size_t chunks = ShamirChunkCount(secret.size());
  const size_t t = static_cast<size_t>(threshold);

  // coefficients.v[k * chunks + c]: coefficient of x^k for chunk c, so that
  // Horner's rule walks memory in order and runs the chunks' independent
  // multiply chains side by side.
  WipedWords coefficients(chunks * t);
  if (t > 1) {
    uint8_t* raw = reinterpret_cast<uint8_t*>(coefficients.v.data() + chunks);
    FEDGE_RETURN_IF_ERROR(random.Fill(absl::MakeSpan(raw, chunks * (t - 1) * 8)));
    for (size_t i = chunks; i < chunks * t; ++i) {
      uint64_t& v = coefficients.v[i];
      v = LoadLittleEndian(reinterpret_cast<const uint8_t*>(&v), 8) & kP;
      // Rejection keeps the coefficients uniform; 2^61 - 1 has probability 2^-61.
      if (v == kP) {
        FEDGE_ASSIGN_OR_RETURN(v, DrawFieldElement(random));
      }
    }
  }
  for (size_t c = 0; c < chunks; ++c) {
    const size_t begin = c * kShamirChunkBytes;
    const size_t n = std::min(kShamirChunkBytes, secret.size() - begin);
    coefficients.v[c] = LoadLittleEndian(secret.data() + begin, n);
  }

  std::vector<ShamirShare> shares(xs.size());
  for (size_t s = 0; s < xs.size(); s += kSplitBatch) {
    EvaluateBatch(coefficients.v.data(), t, chunks, xs.subspan(s, kSplitBatch), &shares[s]);
  }
  return shares;
}

absl::StatusOr<ShamirReconstructor> ShamirReconstructor::Create(absl::Span<const uint32_t> xs) {
  if (xs.empty() || xs.size() > static_cast<size_t>(kShamirMaxShares)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Shamir: ", xs.size(), " holders, want 1..", kShamirMaxShares));
  }
  FEDGE_RETURN_IF_ERROR(CheckXs(xs));
  std::vector<uint64_t> points(xs.begin(), xs.end());
  std::vector<uint64_t> lambda = Lagrange(std::move(points)).At(0);
  return ShamirReconstructor(std::vector<uint32_t>(xs.begin(), xs.end()), std::move(lambda));
}

absl::StatusOr<SecretBytes> ShamirReconstructor::Reconstruct(
    absl::Span<const absl::Span<const uint64_t>> ys, size_t secret_length) const {
  if (ys.size() != xs_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Shamir: ", ys.size(), " shares for ", xs_.size(), " holders"));
  }
  if (secret_length == 0) return absl::InvalidArgumentError("Shamir: secret length 0");
  const size_t chunks = ShamirChunkCount(secret_length);
  for (size_t i = 0; i < ys.size(); ++i) {
    if (ys[i].size() != chunks) {
      return absl::InvalidArgumentError(
          absl::StrCat("Shamir: share x=", xs_[i], " has ", ys[i].size(), " values, want ",
                       chunks, " for a ", secret_length, "-byte secret"));
    }
    for (uint64_t v : ys[i]) {
      if (v >= kP) {
        return absl::InvalidArgumentError(
            absl::StrCat("Shamir: share x=", xs_[i], " has a value outside the field"));
      }
    }
  }
  SecretBytes secret(secret_length);
  for (size_t c = 0; c < chunks; ++c) {
    uint64_t value = 0;
    for (size_t i = 0; i < ys.size(); ++i) value = Add(value, Mul(lambda_[i], ys[i][c]));
    const size_t begin = c * kShamirChunkBytes;
    absl::Status s = StoreChunk(value, c, std::min(kShamirChunkBytes, secret_length - begin),
                                secret.data() + begin);
    OPENSSL_cleanse(&value, sizeof(value));
    if (!s.ok()) return s;
  }
  return secret;
}

}  // namespace fedge::secure
