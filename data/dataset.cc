#include "data/dataset.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace fedge::data {
namespace {

int64_t Product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool IsIndex(float v, int64_t limit) {
  return v >= 0 && v < static_cast<float>(limit) && v == std::floor(v);
}

absl::Status BadTarget(const std::string& what, int64_t example, float value, const char* want) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": example ", example, " has target ",
                                                 value, ", ", want));
}

absl::Status CheckTargets(const Dataset& data, const protocol::TaskSpec& task,
                          const std::string& what) {
  using protocol::TargetKind;
  const int64_t per = data.TargetSize();
  for (size_t i = 0; i < data.targets.size(); ++i) {
    const float v = data.targets[i];
    const int64_t example = static_cast<int64_t>(i) / per;
    switch (task.target) {
      case TargetKind::kClass:
        if (!IsIndex(v, task.num_classes)) {
          return BadTarget(what, example, v,
                           absl::StrCat("want a class index in [0, ", task.num_classes, ")").c_str());
        }
        break;
      case TargetKind::kBinary:
      case TargetKind::kMultiLabel:
        if (v != 0.0f && v != 1.0f) return BadTarget(what, example, v, "want 0 or 1");
        break;
      case TargetKind::kReal:
        if (!std::isfinite(v)) return BadTarget(what, example, v, "want a finite value");
        break;
    }
  }
  return absl::OkStatus();
}

std::vector<int64_t> WantTargetShape(const protocol::TaskSpec& task) {
  switch (task.target) {
    case protocol::TargetKind::kMultiLabel:
      return {task.num_classes};
    case protocol::TargetKind::kReal:
      return task.target_shape;
    default:
      return {};
  }
}

}  // namespace

int64_t Dataset::ExampleSize() const { return Product(example_shape); }
int64_t Dataset::TargetSize() const { return Product(target_shape); }

float Dataset::Feature(int64_t i, int64_t k) const {
  const size_t at = static_cast<size_t>(i * ExampleSize() + k);
  return storage == Storage::kUint8 ? bytes[at] / 255.0f : features[at];
}

absl::Status CheckConsistent(const Dataset& data, const std::string& what) {
  const int64_t per = data.TargetSize();
  if (per <= 0 || data.targets.size() % static_cast<size_t>(per) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", data.targets.size(),
                                                   " target values are not whole examples of ",
                                                   per));
  }
  const size_t want = static_cast<size_t>(data.size() * data.ExampleSize());
  const size_t have = data.storage == Storage::kUint8 ? data.bytes.size() : data.features.size();
  if (have != want) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", have, " feature values for ",
                                                   data.size(), " examples of [",
                                                   protocol::ShapeString(data.example_shape), "]"));
  }
  return absl::OkStatus();
}

absl::Status CheckFitsTask(const Dataset& data, const protocol::TaskSpec& task,
                           const std::string& what) {
  if (data.example_shape != task.input_shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": examples are [", protocol::ShapeString(data.example_shape),
        "] but the model's task declares input [", protocol::ShapeString(task.input_shape), "]"));
  }
  // A scalar target and a one-element target are the same thing.
  std::vector<int64_t> want = WantTargetShape(task);
  if (data.target_shape != want && !(data.TargetSize() == 1 && Product(want) == 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": targets are [", protocol::ShapeString(data.target_shape), "] but target ",
        protocol::TargetName(task), " wants [", protocol::ShapeString(want), "]"));
  }
  if (absl::Status s = CheckConsistent(data, what); !s.ok()) return s;
  if (data.storage == Storage::kFloat32) {
    const int64_t per = data.ExampleSize();
    for (size_t i = 0; i < data.features.size(); ++i) {
      if (!std::isfinite(data.features[i])) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": example ", static_cast<int64_t>(i) / per, " has feature ",
            static_cast<int64_t>(i) % per, " = ", data.features[i], " (NaN or infinite)"));
      }
    }
  }
  return CheckTargets(data, task, what);
}

absl::StatusOr<Dataset> Subset(const Dataset& data, absl::Span<const int64_t> indices) {
  Dataset out;
  out.example_shape = data.example_shape;
  out.storage = data.storage;
  out.target_shape = data.target_shape;
  const size_t per = static_cast<size_t>(data.ExampleSize());
  const size_t tper = static_cast<size_t>(data.TargetSize());
  const bool bytes = data.storage == Storage::kUint8;
  const bool has_features = bytes ? !data.bytes.empty() : !data.features.empty();
  if (has_features) (bytes ? out.bytes.resize(indices.size() * per) : out.features.resize(indices.size() * per));
  out.targets.resize(indices.size() * tper);
  for (size_t i = 0; i < indices.size(); ++i) {
    const int64_t idx = indices[i];
    if (idx < 0 || idx >= data.size()) {
      return absl::OutOfRangeError(absl::StrCat("example index ", idx,
                                                " is outside the dataset of ", data.size()));
    }
    if (has_features && bytes) {
      std::memcpy(out.bytes.data() + i * per, data.bytes.data() + idx * per, per);
    } else if (has_features) {
      std::memcpy(out.features.data() + i * per, data.features.data() + idx * per,
                  per * sizeof(float));
    }
    std::memcpy(out.targets.data() + i * tper, data.targets.data() + idx * tper,
                tper * sizeof(float));
  }
  return out;
}

}  // namespace fedge::data
