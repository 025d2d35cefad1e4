#ifndef FEDGE_CLIENT_DATASET_H_
#define FEDGE_CLIENT_DATASET_H_

// Image-classification data held as raw bytes (no torch), as stored in IDX
// files: `pixels` is n x rows x cols uint8, `labels` n uint8.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace fedge::client {

struct Dataset {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint8_t> pixels;
  std::vector<uint8_t> labels;

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t pixels_per_example() const { return rows * cols; }
};

// Reads an IDX file (gzip-compressed or not, detected by content). Images:
// magic 0x00000803, dims n, rows, cols. Labels: magic 0x00000801, dim n.
// InvalidArgument on a wrong magic, DataLoss on a truncated or corrupt file,
// NotFound when missing; each message names the file.
absl::StatusOr<Dataset> ReadIdxImages(const std::string& path);
absl::StatusOr<std::vector<uint8_t>> ReadIdxLabels(const std::string& path);

// Loads images and labels and checks they pair up. `split` is "train" or
// "t10k", the (Fashion-)MNIST file prefixes: <dir>/<split>-images-idx3-ubyte[.gz].
absl::StatusOr<Dataset> LoadIdxDataset(const std::string& dir, const std::string& split);

// Only the labels of <dir>/<split>-labels-idx1-ubyte[.gz].
absl::StatusOr<std::vector<uint8_t>> LoadIdxLabels(const std::string& dir,
                                                   const std::string& split);

// The examples at `indices`, in that order. OutOfRange on a bad index.
absl::StatusOr<Dataset> Subset(const Dataset& data, absl::Span<const int64_t> indices);

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_DATASET_H_
