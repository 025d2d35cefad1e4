#include "client/sdk/device_data.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"

namespace fedge::sdk {
namespace {

constexpr char kWhat[] = "the device's data (fedge_data_source)";

// Floats per example's target a task wants (1 for a class index).
std::vector<int64_t> TaskTargetShape(const protocol::TaskSpec& task) {
  switch (task.target) {
    case protocol::TargetKind::kMultiLabel:
      return {static_cast<int64_t>(task.num_classes)};
    case protocol::TargetKind::kReal:
      return task.target_shape;
    default:
      return {};
  }
}

int64_t Product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Checks one batch of `n` examples starting at example `first`.
absl::Status CheckBatch(const DataSource& source, const float* examples, const float* targets,
                        int n, int64_t first) {
  const int64_t per = Product(source.example_shape);
  const bool bytes = source.example_dtype == FEDGE_DTYPE_U8;
  for (int64_t i = 0; i < n * per; ++i) {
    const float v = examples[i];
    if (!std::isfinite(v)) {
      return absl::DataLossError(absl::StrCat(kWhat, ": example ", first + i / per,
                                              " has feature ", i % per, " = ", v,
                                              " (NaN or infinite)"));
    }
    if (bytes && (v < 0.0f || v > 1.0f)) {
      return absl::DataLossError(absl::StrCat(
          kWhat, ": example ", first + i / per, " has feature ", i % per, " = ", v,
          ", outside [0, 1] (example_dtype FEDGE_DTYPE_U8 keeps values in [0, 1] as bytes)"));
    }
  }
  const int64_t tper = source.target_size;
  for (int64_t i = 0; i < n * tper; ++i) {
    if (!std::isfinite(targets[i])) {
      return absl::DataLossError(absl::StrCat(kWhat, ": example ", first + i / tper,
                                              " has target value ", i % tper, " = ", targets[i],
                                              " (NaN or infinite)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateDeclaration(const DataSource& source) {
  const std::vector<int64_t>& shape = source.example_shape;
  if (shape.empty() || shape.size() > FEDGE_MAX_RANK) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data.example_shape has ", shape.size(), " dimensions; want 1 to ", FEDGE_MAX_RANK,
        " (one example's shape, e.g. {30} features or {1, 28, 28} for a 28x28 image)"));
  }
  int64_t values = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("data.example_shape[", i, "] is ", shape[i],
                                                     "; want > 0"));
    }
    if (shape[i] > protocol::kMaxTaskElements / values) {
      return absl::InvalidArgumentError(absl::StrCat(
          "data.example_shape [", protocol::ShapeString(shape), "] has over ",
          protocol::kMaxTaskElements, " values"));
    }
    values *= shape[i];
  }
  if (source.target_size < 1 || source.target_size > protocol::kMaxTaskElements) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data.target_size is ", source.target_size,
        "; want the floats per example's target: 1 for a class index, a 0/1 label or a real "
        "scalar, K for K labels or K real values"));
  }
  if (source.example_dtype != FEDGE_DTYPE_F32 && source.example_dtype != FEDGE_DTYPE_U8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data.example_dtype is ", static_cast<int>(source.example_dtype),
        "; want FEDGE_DTYPE_F32 (0) or FEDGE_DTYPE_U8 (1)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ReadAll(const DataSource& source, int64_t max_examples,
                                const BatchSink& sink) {
  // Batches of up to 256 examples and ~1 MiB of floats.
  constexpr int64_t kChunkFloats = int64_t{1} << 18;
  const int64_t per = Product(source.example_shape);
  const int chunk = static_cast<int>(std::clamp<int64_t>(kChunkFloats / per, 1, 256));
  if (source.reset && source.reset() != 0) {
    return absl::DataLossError("the data source's reset callback failed");
  }
  std::vector<float> examples(static_cast<size_t>(chunk * per));
  std::vector<float> targets(static_cast<size_t>(chunk) * source.target_size);
  const int64_t cap = max_examples > 0 ? max_examples : INT64_MAX;
  int64_t count = 0;
  while (count < cap) {
    const int max = static_cast<int>(std::min<int64_t>(chunk, cap - count));
    int n = 0;
    if (source.next_batch(examples.data(), targets.data(), max, &n) != 0) {
      return absl::DataLossError(absl::StrCat("the data callback failed after ", count,
                                              " examples"));
    }
    if (n == 0) break;
    if (n < 0 || n > max) {
      return absl::DataLossError(absl::StrCat("the data callback returned n=", n, " (max ", max,
                                              ")"));
    }
    if (absl::Status s = CheckBatch(source, examples.data(), targets.data(), n, count); !s.ok()) {
      return s;
    }
    if (sink) sink(examples.data(), targets.data(), n);
    count += n;
  }
  if (count == 0) return absl::DataLossError("the data source gave no examples");
  return count;
}

absl::StatusOr<data::Dataset> LoadDeviceData(const DataSource& source, int64_t max_examples,
                                             int64_t expected, const protocol::TaskSpec* task) {
  data::Dataset d;
  d.example_shape = source.example_shape;
  const bool bytes = source.example_dtype == FEDGE_DTYPE_U8;
  d.storage = bytes ? data::Storage::kUint8 : data::Storage::kFloat32;
  if (task != nullptr && task->TargetSize() == source.target_size) {
    d.target_shape = TaskTargetShape(*task);
  } else if (source.target_size > 1) {
    d.target_shape = {source.target_size};
  }
  const size_t per = static_cast<size_t>(Product(source.example_shape));
  const size_t tper = static_cast<size_t>(source.target_size);
  if (expected > 0) {
    bytes ? d.bytes.reserve(expected * per) : d.features.reserve(expected * per);
    d.targets.reserve(expected * tper);
  }
  absl::StatusOr<int64_t> n =
      ReadAll(source, max_examples, [&](const float* examples, const float* targets, int k) {
        d.targets.insert(d.targets.end(), targets, targets + k * tper);
        if (!bytes) {
          d.features.insert(d.features.end(), examples, examples + k * per);
          return;
        }
        for (size_t i = 0; i < k * per; ++i) {
          d.bytes.push_back(static_cast<uint8_t>(examples[i] * 255.0f + 0.5f));
        }
      });
  if (!n.ok()) return n.status();
  return d;
}

absl::Status CheckDeviceDataFitsTask(const data::Dataset& data, const DataSource& source,
                                     const protocol::TaskSpec& task) {
  if (source.example_shape != task.input_shape) {
    return absl::DataLossError(absl::StrCat(
        kWhat, ": examples are [", protocol::ShapeString(source.example_shape),
        "] but the model's task declares input [", protocol::ShapeString(task.input_shape),
        "] (", protocol::DescribeTask(task), ")"));
  }
  if (source.target_size != task.TargetSize()) {
    return absl::DataLossError(absl::StrCat(
        kWhat, ": target_size is ", source.target_size, " but the model's target ",
        protocol::TargetName(task), " has ", task.TargetSize(), " value(s) per example"));
  }
  if (absl::Status s = data::CheckFitsTask(data, task, kWhat); !s.ok()) {
    return absl::DataLossError(s.message());
  }
  return absl::OkStatus();
}

}  // namespace fedge::sdk
