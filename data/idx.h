#ifndef FEDGE_DATA_IDX_H_
#define FEDGE_DATA_IDX_H_

// IDX files (the MNIST format), gzip-compressed or not (detected by content),
// of any dimensionality: magic 0x0000TTNN (TT the element type, NN the number
// of dimensions), NN big-endian u32 dimensions, then the elements big-endian.
// Element types: 0x08 uint8 (kept as bytes), 0x09 int8, 0x0B int16, 0x0C
// int32, 0x0D float32, 0x0E float64 (as float32 values).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fedge::data {

inline constexpr uint64_t kMaxIdxBytes = uint64_t{4} << 30;

struct IdxArray {
  std::vector<int64_t> dims;
  bool is_uint8 = false;  // values in `bytes`, else in `values`
  std::vector<uint8_t> bytes;
  std::vector<float> values;
};

// NotFound when missing; InvalidArgument on a bad magic, type or dimension
// count; DataLoss when truncated, corrupt or followed by extra bytes. Each
// message names the file.
absl::StatusOr<IdxArray> ReadIdx(const std::string& path);

// Only the dimensions (reads the header).
absl::StatusOr<std::vector<int64_t>> ReadIdxDims(const std::string& path);

}  // namespace fedge::data

#endif  // FEDGE_DATA_IDX_H_
