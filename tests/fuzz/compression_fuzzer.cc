// Fuzz target: the update decompressors (compression/compression.h) on
// arbitrary payloads must return a Status, never crash, hang or allocate past
// n floats; whatever decodes must hold exactly n finite values.
//
// Input: byte 0 picks the method, bytes 1-2 the coordinate count n (< 65536),
// the rest is the payload. Blind bytes rarely make a payload of the right
// length, so half the inputs (odd byte 0) instead edit a valid payload built
// here from n Gaussian-ish values: the input's tail overwrites it from an
// offset the input picks, so the scale, index and value checks are reached.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "compression/compression.h"

namespace {

using fedge::compression::Config;
using fedge::compression::Method;

constexpr Method kMethods[] = {Method::kFloat16, Method::kInt8, Method::kInt4, Method::kTopK};

std::string ValidPayload(Method m, uint64_t n, uint32_t salt) {
  std::vector<float> x(n);
  uint32_t s = salt * 2654435761u + 1;
  for (float& v : x) {
    s = s * 1664525u + 1013904223u;
    v = (static_cast<float>(s >> 8) / 16777216.0f - 0.5f) * 0.1f;
  }
  Config c;
  c.method = m;
  c.block = 1 + salt % 300;
  c.fraction = 0.01f + (salt % 50) / 50.0f;
  std::vector<float> residual;
  std::string out;
  if (!fedge::compression::Compress(x, c, salt, &residual, &out).ok()) std::abort();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const Method m = kMethods[(data[0] >> 1) % 4];
  uint64_t n = data[1] | (uint64_t{data[2]} << 8);
  std::string payload(reinterpret_cast<const char*>(data + 3), size - 3);
  if (data[0] & 1) {
    n %= 4096;  // keep building the valid payload cheap
    std::string valid = ValidPayload(m, n, data[1]);
    if (!valid.empty() && !payload.empty()) {
      const size_t at = static_cast<uint8_t>(payload[0]) * 7919u % valid.size();
      for (size_t i = 1; i < payload.size() && at + i - 1 < valid.size(); ++i) {
        valid[at + i - 1] = payload[i];
      }
      if (payload.size() % 5 == 0) valid.push_back(payload.back());
      if (payload.size() % 7 == 0) valid.pop_back();
    }
    payload = valid;
  }
  std::vector<float> out;
  if (!fedge::compression::Decompress(m, payload, n, &out).ok()) return 0;
  if (out.size() != n) std::abort();
  for (float v : out) {
    if (!std::isfinite(v)) std::abort();
  }
  return 0;
}
