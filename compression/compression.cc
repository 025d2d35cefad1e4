#include "compression/compression.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/little_endian.h"
#include "compression/half.h"
#include "compression/stochastic_round.h"

namespace fedge::compression {
namespace {

// Above any model a frame can carry; keeps the decoder's allocation bounded
// even when a caller forgets to bound n.
constexpr uint64_t kMaxCoordinates = uint64_t{1} << 31;

uint32_t Levels(Method m) { return m == Method::kInt8 ? 127 : 7; }

uint64_t CeilDiv(uint64_t a, uint64_t b) { return a / b + (a % b != 0 ? 1 : 0); }

absl::Status CheckFinite(absl::Span<const float> v, const char* what) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      return absl::InvalidArgumentError(absl::StrCat("compression: ", what, "[", i,
                                                     "] is not finite"));
    }
  }
  return absl::OkStatus();
}

// The block's scale s = max|x| / L as a float, nudged up until no x / s
// exceeds L, so the rounding below never has to clamp (which would bias it).
float BlockScale(absl::Span<const float> x, uint32_t levels) {
  float m = 0;
  for (float v : x) m = std::max(m, std::fabs(v));
  if (m == 0) return 0;
  float s = m / static_cast<float>(levels);
  while (static_cast<double>(m) / s > levels) s = std::nextafter(s, INFINITY);
  return s;
}

void Quantize(absl::Span<const float> delta, const Config& c, uint64_t seed, std::string* out) {
  const uint64_t n = delta.size();
  const int32_t levels = static_cast<int32_t>(Levels(c.method));
  const uint64_t blocks = CeilDiv(n, c.block);
  std::vector<float> scales(blocks);
  for (uint64_t b = 0; b < blocks; ++b) {
    const uint64_t begin = b * c.block;
    scales[b] = BlockScale(delta.subspan(begin, std::min<uint64_t>(c.block, n - begin)), levels);
  }
  out->clear();
  AppendLe(c.block, 4, out);
  AppendFloatsLe(scales, out);
  const size_t header = out->size();
  out->resize(PayloadBytes(c, n));
  char* values = out->data() + header;
  // int8 values are written in place; int4 values are rounded to bytes
  // first, then packed two to a byte.
  std::vector<int8_t> unpacked(c.method == Method::kInt4 ? n : 0);
  int8_t* q = c.method == Method::kInt8 ? reinterpret_cast<int8_t*>(values) : unpacked.data();
  const uint64_t key = CoinKey(seed);
  for (uint64_t b = 0; b < blocks; ++b) {
    const uint64_t begin = b * c.block;
    RoundStochastic(delta.subspan(begin, std::min<uint64_t>(c.block, n - begin)), scales[b],
                    levels, key, static_cast<uint32_t>(begin), q + begin);
  }
  if (c.method == Method::kInt4) {
    for (uint64_t i = 0; i < n; i += 2) {
      const uint32_t lo = static_cast<uint32_t>(unpacked[i]) & 0xf;
      const uint32_t hi = i + 1 < n ? static_cast<uint32_t>(unpacked[i + 1]) & 0xf : 0;
      values[i / 2] = static_cast<char>(lo | (hi << 4));
    }
  }
}

void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void TopK(absl::Span<const float> delta, float fraction, std::vector<float>* residual,
          std::string* out) {
  const uint64_t n = delta.size();
  std::vector<float>& acc = *residual;
  for (uint64_t i = 0; i < n; ++i) acc[i] += delta[i];
  const uint64_t k = KeptCoordinates(n, fraction);
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  auto larger = [&acc](uint32_t a, uint32_t b) {
    const float fa = std::fabs(acc[a]), fb = std::fabs(acc[b]);
    return fa != fb ? fa > fb : a < b;  // ties: the lower index, so the bytes are reproducible
  };
  if (k < n) std::nth_element(order.begin(), order.begin() + k, order.end(), larger);
  order.resize(k);
  std::sort(order.begin(), order.end());
  out->clear();
  AppendLe(k, 4, out);
  uint64_t next = 0;  // the smallest index the next one may take
  std::vector<float> values(k);
  for (uint64_t j = 0; j < k; ++j) {
    AppendVarint(order[j] - next, out);
    next = uint64_t{order[j]} + 1;
    values[j] = acc[order[j]];
    acc[order[j]] = 0;  // sent: what stays in the residual is what was not
  }
  AppendFloatsLe(values, out);
}

absl::Status Malformed(Method m, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(MethodName(m), " payload: ", what));
}

absl::Status DecodeHalf(absl::string_view p, uint64_t n, std::vector<float>* out) {
  if (p.size() != 2 * n) {
    return Malformed(Method::kFloat16,
                     absl::StrCat(p.size(), " bytes for ", n, " coordinates, want ", 2 * n));
  }
  out->resize(n);
  if (const size_t bad = HalvesToFloats(p.data(), absl::MakeSpan(*out)); bad != n) {
    return Malformed(Method::kFloat16, absl::StrCat("value ", bad, " is not finite"));
  }
  return absl::OkStatus();
}

// Value i of an int8 or int4 payload's values.
int32_t QuantizedValue(Method m, const char* v, uint64_t i) {
  if (m == Method::kInt8) return static_cast<int8_t>(v[i]);
  const uint32_t byte = static_cast<unsigned char>(v[i / 2]);
  const int32_t nibble = static_cast<int32_t>((i % 2 == 0) ? byte & 0xf : byte >> 4);
  return (nibble ^ 8) - 8;  // four-bit two's complement
}

absl::Status DecodeQuantized(Method m, absl::string_view p, uint64_t n, std::vector<float>* out) {
  if (p.size() < 4) return Malformed(m, absl::StrCat(p.size(), " bytes, too short for a block"));
  const uint64_t block = GetLe(p.data(), 4);
  if (block == 0 || block > kMaxBlock) {
    return Malformed(m, absl::StrCat("block ", block, " is outside [1, ", kMaxBlock, "]"));
  }
  const uint64_t blocks = CeilDiv(n, block);
  const uint64_t value_bytes = m == Method::kInt8 ? n : CeilDiv(n, 2);
  const uint64_t want = 4 + 4 * blocks + value_bytes;
  if (p.size() != want) {
    return Malformed(m, absl::StrCat(p.size(), " bytes for ", n, " coordinates in blocks of ",
                                     block, ", want ", want));
  }
  std::vector<float> scales(blocks);
  GetFloatsLe(p.data() + 4, absl::MakeSpan(scales));
  for (uint64_t b = 0; b < blocks; ++b) {
    // An encoder's scale is max|x| / L of finite x, so L * scale is finite;
    // a larger one would decode to infinities.
    if (!std::isfinite(scales[b]) || scales[b] < 0 ||
        !std::isfinite(scales[b] * static_cast<float>(Levels(m)))) {
      return Malformed(m, absl::StrCat("scale ", b, " is ", scales[b]));
    }
  }
  const char* v = p.data() + 4 + 4 * blocks;
  out->resize(n);
  float* o = out->data();
  // The one value an encoder never makes (-128, or -8 in four bits) is
  // collected per block without a branch, and located only when present.
  const int32_t forbidden = m == Method::kInt8 ? -128 : -8;
  for (uint64_t b = 0; b < blocks; ++b) {
    const float s = scales[b];
    const uint64_t begin = b * block, end = std::min(n, begin + block);
    bool bad = false;
    for (uint64_t i = begin; i < end; ++i) {
      const int32_t q = QuantizedValue(m, v, i);
      bad |= q == forbidden;
      o[i] = static_cast<float>(q) * s;
    }
    if (bad) {
      uint64_t i = begin;
      while (QuantizedValue(m, v, i) != forbidden) ++i;
      return Malformed(m, absl::StrCat("value ", i, " is ", forbidden));
    }
  }
  if (m == Method::kInt4 && n % 2 == 1 && (static_cast<unsigned char>(v[n / 2]) >> 4) != 0) {
    return Malformed(m, "the padding nibble is not 0");
  }
  return absl::OkStatus();
}

absl::Status DecodeTopK(absl::string_view p, uint64_t n, std::vector<float>* out) {
  const Method m = Method::kTopK;
  if (p.size() < 4) return Malformed(m, absl::StrCat(p.size(), " bytes, too short for k"));
  const uint64_t k = GetLe(p.data(), 4);
  if (k > n) return Malformed(m, absl::StrCat("k ", k, " exceeds the ", n, " coordinates"));
  // Each index takes at least one byte and each value four: bound k before
  // allocating anything for it.
  if (k > (p.size() - 4) / 5) {
    return Malformed(m, absl::StrCat("k ", k, " does not fit ", p.size(), " bytes"));
  }
  std::vector<uint32_t> index(k);
  size_t at = 4;
  uint64_t next = 0;
  for (uint64_t j = 0; j < k; ++j) {
    uint64_t gap = 0;
    for (int shift = 0;; shift += 7) {
      if (at >= p.size() || shift > 28) {
        return Malformed(m, absl::StrCat("index ", j, " is cut off or too long"));
      }
      const uint64_t byte = static_cast<unsigned char>(p[at++]);
      gap |= (byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) break;
    }
    const uint64_t i = next + gap;
    if (i >= n) return Malformed(m, absl::StrCat("index ", j, " is ", i, ", past ", n));
    index[j] = static_cast<uint32_t>(i);
    next = i + 1;
  }
  if (p.size() - at != 4 * k) {
    return Malformed(m, absl::StrCat(p.size() - at, " bytes of values for k = ", k, ", want ",
                                     4 * k));
  }
  std::vector<float> values(k);
  GetFloatsLe(p.data() + at, absl::MakeSpan(values));
  out->assign(n, 0.0f);
  for (uint64_t j = 0; j < k; ++j) {
    if (!std::isfinite(values[j])) return Malformed(m, absl::StrCat("value ", j, " is not finite"));
    (*out)[index[j]] = values[j];
  }
  return absl::OkStatus();
}

}  // namespace

const char* MethodName(Method method) {
  switch (method) {
    case Method::kFloat32: return "fp32";
    case Method::kFloat16: return "fp16";
    case Method::kInt8: return "int8";
    case Method::kInt4: return "int4";
    case Method::kTopK: return "topk";
  }
  return "unknown";
}

absl::StatusOr<Config> ParseConfig(absl::string_view text) {
  const std::vector<absl::string_view> parts = absl::StrSplit(text, absl::MaxSplits(':', 1));
  const absl::string_view name = parts[0];
  const bool has_arg = parts.size() > 1;
  Config c;
  auto usage = [&text](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "compression '", text, "': ", why,
        "; want none, fp16, int8[:BLOCK], int4[:BLOCK] or topk:FRACTION"));
  };
  if (name == "none" || name == "fp32") {
    if (has_arg) return usage("takes no argument");
    return c;
  }
  if (name == "fp16") {
    if (has_arg) return usage("takes no argument");
    c.method = Method::kFloat16;
    return c;
  }
  if (name == "int8" || name == "int4") {
    c.method = name == "int8" ? Method::kInt8 : Method::kInt4;
    if (has_arg && (!absl::SimpleAtoi(parts[1], &c.block) || c.block == 0 || c.block > kMaxBlock)) {
      return usage(absl::StrCat("the block must be an integer in [1, ", kMaxBlock, "]"));
    }
    return c;
  }
  if (name == "topk") {
    c.method = Method::kTopK;
    if (!has_arg || !absl::SimpleAtof(parts[1], &c.fraction) || !(c.fraction > 0) ||
        c.fraction > 1) {
      return usage("the fraction must be in (0, 1]");
    }
    return c;
  }
  return usage("unknown method");
}

std::string ConfigName(const Config& c) {
  switch (c.method) {
    case Method::kFloat32: return "none";
    case Method::kFloat16: return "fp16";
    case Method::kInt8:
    case Method::kInt4:
      return c.block == kDefaultBlock ? MethodName(c.method)
                                      : absl::StrCat(MethodName(c.method), ":", c.block);
    case Method::kTopK: return absl::StrCat("topk:", c.fraction);
  }
  return "unknown";
}

absl::Status ValidateConfig(const Config& c) {
  switch (c.method) {
    case Method::kFloat32:
    case Method::kFloat16:
      return absl::OkStatus();
    case Method::kInt8:
    case Method::kInt4:
      if (c.block == 0 || c.block > kMaxBlock) {
        return absl::InvalidArgumentError(
            absl::StrCat("compression: block ", c.block, " is outside [1, ", kMaxBlock, "]"));
      }
      return absl::OkStatus();
    case Method::kTopK:
      if (!(c.fraction > 0) || c.fraction > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("compression: top-k fraction ", c.fraction, " is outside (0, 1]"));
      }
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("compression: method ", static_cast<int>(c.method), " is unknown"));
}

uint64_t KeptCoordinates(uint64_t n, float fraction) {
  if (n == 0) return 0;
  // The fraction arrives as a float (0.1f is 0.10000000149): shave off its
  // representation error (< 6e-8 relative) so topk:0.1 of 1000 keeps 100.
  const double k =
      std::ceil(static_cast<double>(fraction) * static_cast<double>(n) * (1 - 1e-7));
  return std::min<uint64_t>(n, std::max<uint64_t>(1, static_cast<uint64_t>(k)));
}

uint64_t PayloadBytes(const Config& c, uint64_t n) {
  switch (c.method) {
    case Method::kFloat32: return 0;
    case Method::kFloat16: return 2 * n;
    case Method::kInt8: return 4 + 4 * CeilDiv(n, c.block) + n;
    case Method::kInt4: return 4 + 4 * CeilDiv(n, c.block) + CeilDiv(n, 2);
    case Method::kTopK: return 4 + 9 * KeptCoordinates(n, c.fraction);
  }
  return 0;
}

absl::Status Compress(absl::Span<const float> delta, const Config& config, uint64_t seed,
                      std::vector<float>* residual, std::string* out) {
  if (absl::Status s = ValidateConfig(config); !s.ok()) return s;
  if (delta.size() >= kMaxCoordinates) {
    return absl::InvalidArgumentError(absl::StrCat("compression: ", delta.size(),
                                                   " coordinates are too many"));
  }
  if (absl::Status s = CheckFinite(delta, "delta"); !s.ok()) return s;
  switch (config.method) {
    case Method::kFloat32:
      return absl::InvalidArgumentError("compression: fp32 has no payload");
    case Method::kFloat16:
      out->resize(2 * delta.size());
      FloatsToHalves(delta, out->data());
      return absl::OkStatus();
    case Method::kInt8:
    case Method::kInt4:
      Quantize(delta, config, seed, out);
      return absl::OkStatus();
    case Method::kTopK:
      if (residual->size() != delta.size()) residual->assign(delta.size(), 0.0f);
      if (absl::Status s = CheckFinite(*residual, "residual"); !s.ok()) return s;
      TopK(delta, config.fraction, residual, out);
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError("compression: unknown method");
}

absl::Status Decompress(Method method, absl::string_view payload, uint64_t n,
                        std::vector<float>* out) {
  if (n >= kMaxCoordinates) {
    return absl::InvalidArgumentError(absl::StrCat("compression: ", n, " coordinates are too many"));
  }
  switch (method) {
    case Method::kFloat16: return DecodeHalf(payload, n, out);
    case Method::kInt8:
    case Method::kInt4: return DecodeQuantized(method, payload, n, out);
    case Method::kTopK: return DecodeTopK(payload, n, out);
    case Method::kFloat32: break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("compression: method ", static_cast<int>(method), " has no payload"));
}

}  // namespace fedge::compression
