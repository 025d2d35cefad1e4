#ifndef FEDGE_TESTS_TESTING_IDX_WRITER_H_
#define FEDGE_TESTS_TESTING_IDX_WRITER_H_

// Writes small IDX files (optionally gzip-compressed) for tests.

#include <zlib.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace fedge::testing {

inline std::string BigEndian32(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
}

inline std::string IdxImages(uint32_t n, uint32_t rows, uint32_t cols,
                             const std::vector<uint8_t>& pixels) {
  return BigEndian32(0x803) + BigEndian32(n) + BigEndian32(rows) + BigEndian32(cols) +
         std::string(pixels.begin(), pixels.end());
}

inline std::string IdxLabels(const std::vector<uint8_t>& labels) {
  return BigEndian32(0x801) + BigEndian32(static_cast<uint32_t>(labels.size())) +
         std::string(labels.begin(), labels.end());
}

inline void WriteBytes(const std::string& path, const std::string& bytes, bool gzip) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary) << bytes;
  }
}

// A tiny learnable image set: class c has a bright c-th row band.
inline void WriteSyntheticIdx(const std::string& dir, const std::string& split, uint32_t n,
                              bool gzip = true) {
  const uint32_t rows = 28, cols = 28;
  std::vector<uint8_t> pixels(size_t{n} * rows * cols, 0);
  std::vector<uint8_t> labels(n);
  for (uint32_t i = 0; i < n; ++i) {
    labels[i] = static_cast<uint8_t>(i % 10);
    for (uint32_t r = labels[i] * 2u; r < labels[i] * 2u + 3u; ++r) {
      for (uint32_t c = 0; c < cols; ++c) pixels[(size_t{i} * rows + r) * cols + c] = 200 + (i % 50);
    }
  }
  const std::string ext = gzip ? ".gz" : "";
  WriteBytes(dir + "/" + split + "-images-idx3-ubyte" + ext, IdxImages(n, rows, cols, pixels), gzip);
  WriteBytes(dir + "/" + split + "-labels-idx1-ubyte" + ext, IdxLabels(labels), gzip);
}

}  // namespace fedge::testing

#endif  // FEDGE_TESTS_TESTING_IDX_WRITER_H_
