// fedge::Reader (fedge/client.h): data files read into memory with the
// readers of fedge's tools (data/), served through a data source's
// callbacks.

#include <algorithm>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/sdk/status_map.h"
#include "data/csv.h"
#include "data/dataset.h"
#include "data/source.h"
#include "fedge/client.h"

namespace fedge {

struct Reader::Data {
  data::Dataset d;
};

namespace {

// A malformed file is the device's data being bad (FEDGE_ERR_DATA); a
// missing one is NOT_FOUND.
Error FileError(const absl::Status& s) {
  return absl::IsInvalidArgument(s) ? Error(FEDGE_ERR_DATA, std::string(s.message()))
                                    : sdk::ToError(s);
}

// `d` as a data source can serve it: examples of 1 to FEDGE_MAX_RANK
// dimensions, a target of at least one value.
Error CheckServable(const data::Dataset& d, const std::string& what) {
  if (absl::Status s = data::CheckConsistent(d, what); !s.ok()) return FileError(s);
  if (d.example_shape.empty() || d.example_shape.size() > FEDGE_MAX_RANK) {
    return Error(FEDGE_ERR_DATA,
                 absl::StrCat(what, ": examples have ", d.example_shape.size(),
                              " dimensions; a data source takes 1 to ", FEDGE_MAX_RANK,
                              " (features of shape [N] are [N, 1])"));
  }
  if (d.TargetSize() < 1 || d.size() == 0) {
    return Error(FEDGE_ERR_DATA, absl::StrCat(what, ": no examples or no target values"));
  }
  return Error();
}

}  // namespace

namespace {

Error LoadPair(const std::string& features_path, const std::string& targets_path,
               std::unique_ptr<Reader::Data>* out) {
  if (features_path.find(',') != std::string::npos || targets_path.find(',') != std::string::npos) {
    return Error(FEDGE_ERR_INVALID_ARGUMENT, "data file paths may not contain ','");
  }
  absl::StatusOr<data::Dataset> loaded =
      data::LoadDataset(absl::StrCat(features_path, ",", targets_path), data::SourceOptions{});
  if (!loaded.ok()) return FileError(loaded.status());
  *out = std::make_unique<Reader::Data>(Reader::Data{*std::move(loaded)});
  return Error();
}

}  // namespace

Error Reader::OpenIdx(const std::string& features_path, const std::string& targets_path,
                      std::unique_ptr<Reader>* out) {
  if (out == nullptr) return Error(FEDGE_ERR_INVALID_ARGUMENT, "out is null");
  if (absl::EndsWith(features_path, ".npy") || absl::EndsWith(targets_path, ".npy")) {
    return Error(FEDGE_ERR_INVALID_ARGUMENT, ".npy files are read by fedge_npy_open");
  }
  std::unique_ptr<Data> data;
  if (Error e = LoadPair(features_path, targets_path, &data); !e.ok()) return e;
  return Adopt(std::move(data), features_path, out);
}

Error Reader::OpenNpy(const std::string& features_path, const std::string& targets_path,
                      std::unique_ptr<Reader>* out) {
  if (out == nullptr) return Error(FEDGE_ERR_INVALID_ARGUMENT, "out is null");
  if (!absl::EndsWith(features_path, ".npy") || !absl::EndsWith(targets_path, ".npy")) {
    return Error(FEDGE_ERR_INVALID_ARGUMENT,
                 absl::StrCat("fedge_npy_open takes two .npy files, not ", features_path, " and ",
                              targets_path));
  }
  std::unique_ptr<Data> data;
  if (Error e = LoadPair(features_path, targets_path, &data); !e.ok()) return e;
  return Adopt(std::move(data), features_path, out);
}

Error Reader::OpenCsv(const std::string& path, const std::vector<std::string>& target_columns,
                      std::unique_ptr<Reader>* out) {
  if (out == nullptr) return Error(FEDGE_ERR_INVALID_ARGUMENT, "out is null");
  if (target_columns.empty()) {
    return Error(FEDGE_ERR_INVALID_ARGUMENT, "name the CSV's target column(s), e.g. \"label\"");
  }
  absl::StatusOr<data::Dataset> loaded = data::ReadCsv(path, target_columns);
  if (!loaded.ok()) return FileError(loaded.status());
  return Adopt(std::make_unique<Data>(Data{*std::move(loaded)}), path, out);
}

Error Reader::Adopt(std::unique_ptr<Data> data, const std::string& what,
                    std::unique_ptr<Reader>* out) {
  if (Error e = CheckServable(data->d, what); !e.ok()) return e;
  out->reset(new Reader(std::move(data)));
  return Error();
}

Reader::Reader(std::unique_ptr<Data> data) : data_(std::move(data)) {}
Reader::~Reader() = default;
int64_t Reader::size() const { return data_->d.size(); }
const std::vector<int64_t>& Reader::example_shape() const { return data_->d.example_shape; }
int Reader::target_size() const { return static_cast<int>(data_->d.TargetSize()); }
fedge_dtype Reader::example_dtype() const {
  return data_->d.storage == data::Storage::kUint8 ? FEDGE_DTYPE_U8 : FEDGE_DTYPE_F32;
}

int Reader::Next(float* examples, float* targets, int max, int* n) {
  const data::Dataset& d = data_->d;
  const int64_t take = std::max<int64_t>(0, std::min<int64_t>(max, size() - next_));
  const size_t per = static_cast<size_t>(d.ExampleSize());
  const size_t tper = static_cast<size_t>(d.TargetSize());
  const size_t first = static_cast<size_t>(next_) * per;
  if (d.storage == data::Storage::kUint8) {
    for (size_t i = 0; i < take * per; ++i) examples[i] = d.bytes[first + i] / 255.0f;
  } else {
    std::memcpy(examples, d.features.data() + first, take * per * sizeof(float));
  }
  std::memcpy(targets, d.targets.data() + next_ * tper, take * tper * sizeof(float));
  next_ += take;
  *n = static_cast<int>(take);
  return 0;
}

DataSource Reader::Source() {
  DataSource s;
  s.example_shape = example_shape();
  s.target_size = target_size();
  s.example_dtype = example_dtype();
  s.reset = [this] {
    Reset();
    return 0;
  };
  s.next_batch = [this](float* examples, float* targets, int max, int* n) {
    return Next(examples, targets, max, n);
  };
  return s;
}

}  // namespace fedge
