#ifndef FEDGE_DATA_NPY_H_
#define FEDGE_DATA_NPY_H_

// NumPy .npy files (format versions 1.0, 2.0 and 3.0), C order only.
// Element types read: float32 (<f4), float64 (<f8, narrowed to float32),
// int8/16/32/64 (|i1 <i2 <i4 <i8, converted to float32; values beyond 2^24
// lose precision and are refused), uint8 (|u1, kept as bytes), bool (|b1, as
// bytes 0/1). The header is parsed with a bound (kMaxNpyHeaderBytes) and
// checked field by field; the data length must match the shape exactly.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fedge::data {

inline constexpr size_t kMaxNpyHeaderBytes = 64 * 1024;
inline constexpr uint64_t kMaxNpyBytes = uint64_t{4} << 30;

struct NpyArray {
  std::vector<int64_t> shape;  // {} for a 0-d array
  bool is_uint8 = false;       // |u1 or |b1: values in `bytes`, else in `values`
  std::vector<float> values;
  std::vector<uint8_t> bytes;

  int64_t NumElements() const;
};

// Parses a whole .npy file held in memory. InvalidArgument (bad magic,
// version, header syntax, dtype, Fortran order, shape) or DataLoss (length
// mismatch), each message starting with `what` (the file name).
absl::StatusOr<NpyArray> ParseNpy(std::string_view file, const std::string& what);

// Reads and parses `path`. NotFound when it cannot be read; FailedPrecondition,
// before reading, when it is larger than any file within the limits.
absl::StatusOr<NpyArray> ReadNpy(const std::string& path);

// A float32 .npy file (version 1.0, C order) of `shape` holding `values`
// (their count must be the shape's product), as numpy.save writes it.
std::string FormatNpy(const std::vector<int64_t>& shape, const std::vector<float>& values);

}  // namespace fedge::data

#endif  // FEDGE_DATA_NPY_H_
