#ifndef FEDGE_BASE_LITTLE_ENDIAN_H_
#define FEDGE_BASE_LITTLE_ENDIAN_H_

// Fixed-width little-endian integers and float32 values, byte by byte, for
// the on-disk formats (model store, verified-version store, local-state
// store), so a file means the same on any host.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/types/span.h"

namespace fedge {

// The low `bytes` (<= 8) bytes of `v` into out[0, bytes).
inline void PutLe(uint64_t v, size_t bytes, char* out) {
  for (size_t i = 0; i < bytes; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

inline void AppendLe(uint64_t v, size_t bytes, std::string* out) {
  for (size_t i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// `bytes` (<= 8) bytes from `in`.
inline uint64_t GetLe(const char* in, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return v;
}

// Each value as its IEEE-754 bit pattern, 4 bytes little-endian.
inline void AppendFloatsLe(absl::Span<const float> values, std::string* out) {
  const size_t at = out->size();
  out->resize(at + 4 * values.size());
  char* p = &(*out)[at];
  for (float f : values) {
    uint32_t bits = 0;
    std::memcpy(&bits, &f, 4);
    PutLe(bits, 4, p);
    p += 4;
  }
}

// out.size() values from `in`, which holds 4 * out.size() bytes.
inline void GetFloatsLe(const char* in, absl::Span<float> out) {
  for (float& f : out) {
    const uint32_t bits = static_cast<uint32_t>(GetLe(in, 4));
    std::memcpy(&f, &bits, 4);
    in += 4;
  }
}

}  // namespace fedge

#endif  // FEDGE_BASE_LITTLE_ENDIAN_H_
