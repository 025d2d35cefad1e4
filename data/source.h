#ifndef FEDGE_DATA_SOURCE_H_
#define FEDGE_DATA_SOURCE_H_

// Data sets named on a command line (fedge-sim, fedge-client,
// fedge-coordinator), one syntax for every tool:
//   DIR              IDX files in the (Fashion-)MNIST layout:
//                    DIR/<split>-images-idx3-ubyte[.gz] and
//                    DIR/<split>-labels-idx1-ubyte[.gz]
//   FEATURES,TARGETS two files of the same kind: IDX files (any
//                    dimensionality and element type) or .npy arrays; the
//                    first dimension counts examples in both
//   FILE.csv         a numeric CSV file with a header; the target columns are
//                    SourceOptions::target_columns
// uint8 features (IDX images, |u1 arrays) stay bytes scaled to [0, 1].

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/dataset.h"

namespace fedge::data {

struct SourceOptions {
  std::string split = "train";  // DIR sources: "train" or "t10k"
  std::vector<std::string> target_columns = {"label"};  // CSV sources
};

// Loads features and targets. Errors name the file: NotFound, InvalidArgument
// (unknown kind, wrong magic or header, counts that do not pair up),
// DataLoss (truncated or corrupt).
absl::StatusOr<Dataset> LoadDataset(const std::string& source, const SourceOptions& options);

// Only the targets (features left empty, example_shape still set), for
// partitioning without holding the features: IDX and .npy sources read just
// the target file (and the features file's header).
absl::StatusOr<Dataset> LoadTargets(const std::string& source, const SourceOptions& options);

// Examples without targets: what a server may hold for distillation
// (distill/), where labels must not be used. There is deliberately no
// target field to fill.
struct UnlabelledData {
  std::vector<int64_t> example_shape;  // one example, as in Dataset
  Storage storage = Storage::kFloat32;
  std::vector<float> features;  // kFloat32: size() * ExampleSize() values
  std::vector<uint8_t> bytes;   // kUint8: size() * ExampleSize() values, v meaning v / 255
  int64_t ExampleSize() const;
  int64_t size() const;
};

// Only the features of a source, never opening a targets file: a DIR
// source's <split>-images file, a FEATURES,TARGETS source's first file, or a
// single FEATURES file (IDX or .npy). Example shapes follow LoadDataset's
// rule (a uint8 [N, rows, cols] IDX array is [1, rows, cols] images). CSV
// sources are refused (InvalidArgument): their target columns sit in the
// same rows. Other errors as LoadDataset.
absl::StatusOr<UnlabelledData> LoadFeatures(const std::string& source,
                                            const SourceOptions& options);

}  // namespace fedge::data

#endif  // FEDGE_DATA_SOURCE_H_
