// Session parameters (ValidateSecAggConfig, MakeSecAggConfig), the neighbour
// graph, and the key derivations both sides share.

#include <algorithm>
#include <cmath>
#include <cstring>

#include <openssl/crypto.h>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "secure/secagg.h"
#include "secure/secagg_internal.h"
#include "secure/shamir.h"

namespace fedge::secure {
namespace {

// Failure budget for "the round survives the expected dropout" and for
// "a colluding fraction of clients holds t shares of somebody's secret".
constexpr double kLog2FailureBudget = -40;
// SecAgg+ security assumption: the server colludes with at most this
// fraction of the clients, which the public random graph scatters.
constexpr double kPlusCorruptFraction = 0.1;

// log P[Binomial(m, p) = i]
double LogPmf(uint32_t m, uint32_t i, double p) {
  if (p <= 0) return i == 0 ? 0 : -INFINITY;
  if (p >= 1) return i == m ? 0 : -INFINITY;
  return std::lgamma(m + 1.0) - std::lgamma(i + 1.0) - std::lgamma(m - i + 1.0) +
         i * std::log(p) + (m - i) * std::log1p(-p);
}

// log2 of P[Binomial(m, p) in [lo, hi)], summed in log space so that tiny
// tails do not underflow.
double Log2Tail(uint32_t m, double p, uint32_t lo, uint32_t hi) {
  double best = -INFINITY;
  std::vector<double> terms;
  for (uint32_t i = lo; i < hi && i <= m; ++i) {
    terms.push_back(LogPmf(m, i, p));
    best = std::max(best, terms.back());
  }
  if (best == -INFINITY) return -INFINITY;
  double sum = 0;
  for (double t : terms) sum += std::exp(t - best);
  return (best + std::log(sum)) / std::log(2.0);
}

// The largest t <= n with P[Binomial(n, 1 - dropout) < t] <= budget (0 if none).
uint32_t LargestSafeThreshold(uint32_t n, double dropout) {
  uint32_t lo = 0;  // invariant: t = lo is safe (P[X < 0] = 0)
  uint32_t hi = n + 1;
  while (hi - lo > 1) {  // the tail grows with t: binary search
    const uint32_t mid = lo + (hi - lo) / 2;
    if (Log2Tail(n, 1 - dropout, 0, mid) <= kLog2FailureBudget) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Uniform in [0, bound) by rejection: accept r only from the largest
// multiple of `bound` below 2^64.
uint64_t Uniform(uint64_t& state, uint64_t bound) {
  const uint64_t reject_below = (0 - bound) % bound;  // 2^64 mod bound
  for (;;) {
    const uint64_t r = SplitMix64(state);
    if (r >= reject_below) return r % bound;
  }
}

void StoreBigEndian32(uint32_t v, uint8_t* out) {
  out[0] = static_cast<uint8_t>(v >> 24);
  out[1] = static_cast<uint8_t>(v >> 16);
  out[2] = static_cast<uint8_t>(v >> 8);
  out[3] = static_cast<uint8_t>(v);
}
uint32_t LoadBigEndian32(const uint8_t* in) {
  return (uint32_t{in[0]} << 24) | (uint32_t{in[1]} << 16) | (uint32_t{in[2]} << 8) | in[3];
}

}  // namespace

absl::Status ValidateSecAggConfig(const SecAggConfig& c) {
  if (c.variant != SecAggVariant::kFull && c.variant != SecAggVariant::kPlus) {
    return absl::InvalidArgumentError(
        absl::StrCat("SecAgg config: unknown variant ", static_cast<int>(c.variant)));
  }
  if (c.num_clients < 2 || c.num_clients > static_cast<uint32_t>(kShamirMaxShares)) {
    return absl::InvalidArgumentError(absl::StrCat("SecAgg config: ", c.num_clients,
                                                   " clients, want 2..", kShamirMaxShares));
  }
  if (c.input_length == 0) return absl::InvalidArgumentError("SecAgg config: input_length 0");
  if (c.word_bits < 8 || c.word_bits > 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("SecAgg config: a ring of ", c.word_bits, " bits; want 8 to 32"));
  }
  // A threshold above half of the share holders means two disjoint groups of
  // clients can never both reconstruct, the usual SecAgg requirement.
  const uint32_t holders = c.variant == SecAggVariant::kFull ? c.num_clients : c.num_neighbors + 1;
  if (c.variant == SecAggVariant::kPlus &&
      (c.num_neighbors < 2 || c.num_neighbors % 2 != 0 || c.num_neighbors >= c.num_clients)) {
    return absl::InvalidArgumentError(
        absl::StrCat("SecAgg+ config: ", c.num_neighbors, " neighbours among ", c.num_clients,
                     " clients; want an even k with 2 <= k < n"));
  }
  if (c.threshold <= holders / 2 || c.threshold > holders) {
    return absl::InvalidArgumentError(
        absl::StrCat("SecAgg config: threshold ", c.threshold, " for ", holders,
                     " share holders; want ", holders / 2 + 1, "..", holders));
  }
  return absl::OkStatus();
}

absl::StatusOr<SecAggConfig> MakeSecAggConfig(SecAggVariant variant, uint32_t num_clients,
                                              uint32_t input_length, double expected_dropout,
                                              absl::Span<const uint8_t> session_id,
                                              uint64_t graph_seed) {
  if (!(expected_dropout >= 0 && expected_dropout < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("SecAgg config: expected dropout ", expected_dropout, " outside [0, 1)"));
  }
  if (session_id.size() != kSecAggSessionIdSize) {
    return absl::InvalidArgumentError(absl::StrCat("SecAgg config: session id has ",
                                                   session_id.size(), " bytes, want ",
                                                   kSecAggSessionIdSize));
  }
  SecAggConfig c;
  c.variant = SecAggVariant::kFull;
  c.num_clients = num_clients;
  c.input_length = input_length;
  c.graph_seed = graph_seed;
  std::copy(session_id.begin(), session_id.end(), c.session_id.begin());
  const uint32_t n = num_clients;
  // With delta >= 1/2 no neighbourhood keeps a majority w.h.p.: complete graph.
  if (n >= 2 && variant == SecAggVariant::kPlus && expected_dropout < 0.5) {
    const double log2_n = std::log2(static_cast<double>(n));
    for (uint32_t k = 2; k < n; k += 2) {
      const uint32_t t = k / 2 + 1;
      const bool correct =
          log2_n + Log2Tail(k, 1 - expected_dropout, 0, t) <= kLog2FailureBudget;
      const bool secure =
          log2_n + Log2Tail(k, kPlusCorruptFraction, t, k + 1) <= kLog2FailureBudget;
      if (correct && secure) {
        c.variant = SecAggVariant::kPlus;
        c.num_neighbors = k;
        c.threshold = t;
        break;
      }
    }
  }
  if (c.variant == SecAggVariant::kFull) {
    c.threshold = std::min(n, std::max(n / 2 + 1, LargestSafeThreshold(n, expected_dropout)));
  }
  FEDGE_RETURN_IF_ERROR(ValidateSecAggConfig(c));
  return c;
}

std::vector<uint32_t> SecAggNeighbors(const SecAggConfig& config, uint32_t index) {
  if (!ValidateSecAggConfig(config).ok() || index < 1 || index > config.num_clients) return {};
  return internal::SecAggGraph(config).Neighbors(index);
}

namespace internal {

std::vector<uint32_t> SecAggRing(uint32_t n, uint64_t seed) {
  std::vector<uint32_t> ring(n);
  for (uint32_t i = 0; i < n; ++i) ring[i] = i + 1;
  uint64_t state = seed;
  for (uint32_t i = n; i-- > 1;) std::swap(ring[i], ring[Uniform(state, uint64_t{i} + 1)]);
  return ring;
}

SecAggGraph::SecAggGraph(const SecAggConfig& config)
    : n_(config.num_clients),
      full_(config.variant == SecAggVariant::kFull),
      degree_(full_ ? n_ - 1 : config.num_neighbors) {
  if (full_) return;
  ring_ = SecAggRing(n_, config.graph_seed);
  position_.assign(n_ + 1, 0);
  for (uint32_t p = 0; p < n_; ++p) position_[ring_[p]] = p;
}

bool SecAggGraph::Adjacent(uint32_t u, uint32_t v) const {
  if (u == v || u < 1 || v < 1 || u > n_ || v > n_) return false;
  if (full_) return true;
  const uint32_t a = position_[u];
  const uint32_t b = position_[v];
  const uint32_t d = a > b ? a - b : b - a;
  return std::min(d, n_ - d) <= degree_ / 2;
}

std::vector<uint32_t> SecAggGraph::Neighbors(uint32_t u) const {
  std::vector<uint32_t> out;
  if (u < 1 || u > n_) return out;
  out.reserve(degree_);
  if (full_) {
    for (uint32_t v = 1; v <= n_; ++v) {
      if (v != u) out.push_back(v);
    }
    return out;
  }
  const uint32_t p = position_[u];
  for (uint32_t j = 1; j <= degree_ / 2; ++j) {
    out.push_back(ring_[(p + j) % n_]);
    out.push_back(ring_[(p + n_ - j) % n_]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<SecAggKdf> SecAggKdf::Create(const SecAggConfig& config) {
  FEDGE_ASSIGN_OR_RETURN(HkdfSha256WithSalt hkdf,
                         HkdfSha256WithSalt::Create(config.session_id));
  return SecAggKdf(std::move(hkdf));
}

absl::Status SecAggKdf::Derive(const char* label, absl::Span<const uint8_t> shared_secret,
                               uint32_t u, uint32_t v, absl::Span<uint8_t> out) const {
  // info = label || min(u, v) || max(u, v): both ends derive the same key,
  // and no two pairs or purposes share one.
  uint8_t info[32];
  const size_t len = std::strlen(label);
  std::memcpy(info, label, len);
  StoreBigEndian32(std::min(u, v), info + len);
  StoreBigEndian32(std::max(u, v), info + len + 4);
  return hkdf_.Derive(shared_secret, absl::MakeConstSpan(info, len + 8), out);
}

absl::Status SecAggKdf::ShareKey(absl::Span<const uint8_t> shared_secret, uint32_t u, uint32_t v,
                                 absl::Span<uint8_t> key32) const {
  return Derive("fedge-secagg-share", shared_secret, u, v, key32);
}

absl::Status SecAggKdf::MaskSeed(absl::Span<const uint8_t> shared_secret, uint32_t u, uint32_t v,
                                 absl::Span<uint8_t> seed32) const {
  return Derive("fedge-secagg-mask", shared_secret, u, v, seed32);
}

std::array<uint8_t, kSecAggSessionIdSize + 8> ShareAssociatedData(const SecAggConfig& config,
                                                                  uint32_t owner,
                                                                  uint32_t holder) {
  std::array<uint8_t, kSecAggSessionIdSize + 8> ad{};
  std::copy(config.session_id.begin(), config.session_id.end(), ad.begin());
  StoreBigEndian32(owner, ad.data() + kSecAggSessionIdSize);
  StoreBigEndian32(holder, ad.data() + kSecAggSessionIdSize + 4);
  return ad;
}

void EncodeShareBundle(const ShareBundle& b, absl::Span<uint8_t> out) {
  StoreBigEndian32(b.owner, out.data());
  StoreBigEndian32(b.holder, out.data() + 4);
  uint8_t* p = out.data() + 8;
  for (const auto* values : {&b.key_share, &b.seed_share}) {
    for (uint64_t v : *values) {
      for (int i = 0; i < 8; ++i) *p++ = static_cast<uint8_t>(v >> (8 * i));
    }
  }
}

absl::Status DecodeShareBundle(absl::Span<const uint8_t> in, ShareBundle& b) {
  if (in.size() != kSecAggSharePlaintextSize) {
    return absl::InvalidArgumentError(absl::StrCat("SecAgg share bundle has ", in.size(),
                                                   " bytes, want ", kSecAggSharePlaintextSize));
  }
  b.owner = LoadBigEndian32(in.data());
  b.holder = LoadBigEndian32(in.data() + 4);
  const uint8_t* p = in.data() + 8;
  for (auto* values : {&b.key_share, &b.seed_share}) {
    for (uint64_t& v : *values) {
      v = 0;
      for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
      p += 8;
    }
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace fedge::secure
