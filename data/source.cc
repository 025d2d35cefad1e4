#include "data/source.h"

#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "data/csv.h"
#include "data/idx.h"
#include "data/npy.h"

namespace fedge::data {
namespace {

// One array of a FEATURES,TARGETS pair, whatever file it came from.
struct Array {
  std::vector<int64_t> dims;
  bool is_uint8 = false;
  std::vector<uint8_t> bytes;
  std::vector<float> values;
};

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

absl::StatusOr<std::string> FindIdx(const std::string& dir, const std::string& name) {
  for (const std::string& candidate :
       {absl::StrCat(dir, "/", name, ".gz"), absl::StrCat(dir, "/", name)}) {
    if (::access(candidate.c_str(), R_OK) == 0) return candidate;
  }
  return absl::NotFoundError(absl::StrCat("no ", name, "[.gz] in ", dir));
}

absl::StatusOr<Array> ReadArray(const std::string& path) {
  Array a;
  if (absl::EndsWith(path, ".npy")) {
    FEDGE_ASSIGN_OR_RETURN(NpyArray n, ReadNpy(path));
    a.dims = std::move(n.shape);
    a.is_uint8 = n.is_uint8;
    a.bytes = std::move(n.bytes);
    a.values = std::move(n.values);
  } else {
    FEDGE_ASSIGN_OR_RETURN(IdxArray x, ReadIdx(path));
    a.dims = std::move(x.dims);
    a.is_uint8 = x.is_uint8;
    a.bytes = std::move(x.bytes);
    a.values = std::move(x.values);
  }
  if (a.dims.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": a 0-d array; want the examples along the first dimension"));
  }
  return a;
}

// Example shape of a features array: what follows the example count. A 3-d
// uint8 IDX array is images, [N, rows, cols], fed as single-channel
// [1, rows, cols] as the built-in models (and most image models) expect.
std::vector<int64_t> ExampleShape(const Array& a, bool idx) {
  std::vector<int64_t> shape(a.dims.begin() + 1, a.dims.end());
  if (idx && a.is_uint8 && shape.size() == 2) shape.insert(shape.begin(), 1);
  if (shape.empty()) shape = {1};
  return shape;
}

absl::Status SetTargets(Array t, const std::string& path, Dataset* d) {
  d->target_shape.assign(t.dims.begin() + 1, t.dims.end());
  if (t.is_uint8) {
    d->targets.assign(t.bytes.begin(), t.bytes.end());
  } else {
    d->targets = std::move(t.values);
  }
  return CheckConsistent(*d, path);
}

absl::StatusOr<Dataset> LoadPair(const std::string& features_path, const std::string& targets_path,
                                 bool with_features) {
  const bool idx = !absl::EndsWith(features_path, ".npy");
  if (idx != !absl::EndsWith(targets_path, ".npy")) {
    return absl::InvalidArgumentError(absl::StrCat(features_path, ",", targets_path,
                                                   ": both files must be .npy or both IDX"));
  }
  Dataset d;
  FEDGE_ASSIGN_OR_RETURN(Array t, ReadArray(targets_path));
  int64_t n = 0;
  if (with_features || !idx) {
    FEDGE_ASSIGN_OR_RETURN(Array f, ReadArray(features_path));
    n = f.dims[0];
    d.example_shape = ExampleShape(f, idx);
    d.storage = f.is_uint8 ? Storage::kUint8 : Storage::kFloat32;
    if (with_features) {
      d.bytes = std::move(f.bytes);
      d.features = std::move(f.values);
    }
  } else {
    FEDGE_ASSIGN_OR_RETURN(std::vector<int64_t> dims, ReadIdxDims(features_path));
    Array header;
    header.dims = dims;
    header.is_uint8 = true;  // the shape rule only; storage is not used
    n = dims[0];
    d.example_shape = ExampleShape(header, idx);
  }
  if (n != t.dims[0]) {
    return absl::InvalidArgumentError(absl::StrCat(features_path, " has ", n, " examples but ",
                                                   targets_path, " has ", t.dims[0], " targets"));
  }
  if (!with_features) {
    d.target_shape.assign(t.dims.begin() + 1, t.dims.end());
    d.targets = t.is_uint8 ? std::vector<float>(t.bytes.begin(), t.bytes.end()) : std::move(t.values);
    return d;
  }
  FEDGE_RETURN_IF_ERROR(SetTargets(std::move(t), targets_path, &d));
  return d;
}

absl::StatusOr<Dataset> Load(const std::string& source, const SourceOptions& options,
                             bool with_features) {
  if (source.empty()) return absl::InvalidArgumentError("empty data source");
  std::vector<std::string> parts = absl::StrSplit(source, ',');
  if (parts.size() == 2) return LoadPair(parts[0], parts[1], with_features);
  if (parts.size() > 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": want DIR, FILE.csv or FEATURES,TARGETS (two files)"));
  }
  if (absl::EndsWith(source, ".csv")) return ReadCsv(source, options.target_columns);
  if (IsDirectory(source)) {
    if (options.split != "train" && options.split != "t10k") {
      return absl::InvalidArgumentError(
          absl::StrCat("split '", options.split, "' is not train or t10k"));
    }
    FEDGE_ASSIGN_OR_RETURN(std::string images,
                           FindIdx(source, absl::StrCat(options.split, "-images-idx3-ubyte")));
    FEDGE_ASSIGN_OR_RETURN(std::string labels,
                           FindIdx(source, absl::StrCat(options.split, "-labels-idx1-ubyte")));
    return LoadPair(images, labels, with_features);
  }
  if (::access(source.c_str(), F_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("data source ", source, " does not exist"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      source, ": want a directory of IDX files, a .csv file, or FEATURES,TARGETS (.npy or IDX)"));
}

// The features file a source names (LoadFeatures).
absl::StatusOr<std::string> FeaturesFile(const std::string& source, const SourceOptions& options) {
  if (source.empty()) return absl::InvalidArgumentError("empty data source");
  std::vector<std::string> parts = absl::StrSplit(source, ',');
  if (parts.size() > 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": want DIR, FEATURES or FEATURES,TARGETS"));
  }
  if (parts.size() == 2) return parts[0];  // the targets file is never opened
  if (absl::EndsWith(source, ".csv")) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": a CSV file holds its targets in the same rows; give the features as an "
        "IDX or .npy file"));
  }
  if (IsDirectory(source)) {
    if (options.split != "train" && options.split != "t10k") {
      return absl::InvalidArgumentError(
          absl::StrCat("split '", options.split, "' is not train or t10k"));
    }
    return FindIdx(source, absl::StrCat(options.split, "-images-idx3-ubyte"));
  }
  if (::access(source.c_str(), F_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("data source ", source, " does not exist"));
  }
  return source;
}

}  // namespace

int64_t UnlabelledData::ExampleSize() const {
  int64_t n = 1;
  for (int64_t d : example_shape) n *= d;
  return n;
}

int64_t UnlabelledData::size() const {
  const int64_t per = ExampleSize();
  if (per <= 0) return 0;
  const size_t values = storage == Storage::kUint8 ? bytes.size() : features.size();
  return static_cast<int64_t>(values) / per;
}

absl::StatusOr<UnlabelledData> LoadFeatures(const std::string& source,
                                            const SourceOptions& options) {
  FEDGE_ASSIGN_OR_RETURN(std::string path, FeaturesFile(source, options));
  FEDGE_ASSIGN_OR_RETURN(Array f, ReadArray(path));
  UnlabelledData d;
  d.example_shape = ExampleShape(f, /*idx=*/!absl::EndsWith(path, ".npy"));
  d.storage = f.is_uint8 ? Storage::kUint8 : Storage::kFloat32;
  d.bytes = std::move(f.bytes);
  d.features = std::move(f.values);
  const size_t values = d.storage == Storage::kUint8 ? d.bytes.size() : d.features.size();
  if (d.size() != f.dims[0] || d.size() * d.ExampleSize() != static_cast<int64_t>(values)) {
    return absl::DataLossError(
        absl::StrCat(path, ": ", values, " values do not fill ", f.dims[0], " examples of [",
                     protocol::ShapeString(d.example_shape), "]"));
  }
  return d;
}

absl::StatusOr<Dataset> LoadDataset(const std::string& source, const SourceOptions& options) {
  return Load(source, options, /*with_features=*/true);
}

absl::StatusOr<Dataset> LoadTargets(const std::string& source, const SourceOptions& options) {
  FEDGE_ASSIGN_OR_RETURN(Dataset d, Load(source, options, /*with_features=*/false));
  d.features.clear();
  d.features.shrink_to_fit();
  d.bytes.clear();
  d.bytes.shrink_to_fit();
  return d;
}

}  // namespace fedge::data
