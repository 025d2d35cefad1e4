#include "protocol/model_payload.h"

#include <cstring>

#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fedge::protocol {

uint64_t TensorSpec::NumElements() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

uint64_t ModelManifest::NumElements() const {
  uint64_t n = 0;
  for (const TensorSpec& t : tensors) n += t.NumElements();
  return n;
}

absl::Status ValidateManifest(const ModelManifest& manifest, uint64_t num_weights) {
  constexpr uint64_t kMaxElements = uint64_t{1} << 40;
  std::set<std::string> names;
  uint64_t total = 0;
  for (size_t i = 0; i < manifest.tensors.size(); ++i) {
    const TensorSpec& t = manifest.tensors[i];
    if (t.name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("manifest tensor ", i, " has no name"));
    }
    if (!names.insert(t.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest names tensor '", t.name, "' twice"));
    }
    if (t.dtype != DType::kFloat32) {
      return absl::InvalidArgumentError(absl::StrCat(
          "manifest tensor '", t.name, "' has dtype ", static_cast<int>(t.dtype),
          "; only float32 is supported"));
    }
    if (static_cast<uint8_t>(t.role) > kMaxTensorRole) {
      return absl::InvalidArgumentError(absl::StrCat(
          "manifest tensor '", t.name, "' has unknown role ", static_cast<int>(t.role)));
    }
    uint64_t n = 1;
    for (int64_t d : t.shape) {
      if (d < 0 || static_cast<uint64_t>(d) > kMaxElements ||
          (d != 0 && n > kMaxElements / static_cast<uint64_t>(d))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "manifest tensor '", t.name, "' has a bad shape [",
            absl::StrJoin(t.shape, ","), "]"));
      }
      n *= static_cast<uint64_t>(d);
    }
    total += n;
    if (total > kMaxElements) {
      return absl::InvalidArgumentError("manifest describes more than 2^40 elements");
    }
  }
  if (total != num_weights) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest describes ", total, " weights but the payload has ", num_weights));
  }
  return absl::OkStatus();
}

std::vector<std::pair<uint64_t, uint64_t>> ParameterRanges(const ModelManifest& manifest) {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  uint64_t offset = 0;
  for (const TensorSpec& t : manifest.tensors) {
    const uint64_t n = t.NumElements();
    if (t.role == TensorRole::kParameter && n > 0) {
      if (!ranges.empty() && ranges.back().second == offset) {
        ranges.back().second += n;
      } else {
        ranges.emplace_back(offset, offset + n);
      }
    }
    offset += n;
  }
  return ranges;
}

std::vector<std::pair<uint64_t, uint64_t>> PrunableRanges(const ModelManifest& manifest) {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  uint64_t offset = 0;
  for (const TensorSpec& t : manifest.tensors) {
    const uint64_t n = t.NumElements();
    // One range per tensor: each is pruned to the schedule's sparsity on its
    // own, so no layer is emptied by another's larger weights.
    if (t.role == TensorRole::kParameter && !t.normalization && t.shape.size() >= 2 && n > 0) {
      ranges.emplace_back(offset, offset + n);
    }
    offset += n;
  }
  return ranges;
}

bool SameModelBytes(const ModelPayload& a, const ModelPayload& b, bool architecture) {
  return a.weights.size() == b.weights.size() &&
         (a.weights.empty() ||
          std::memcmp(a.weights.data(), b.weights.data(), a.weights.size() * sizeof(float)) == 0) &&
         a.manifest == b.manifest && a.architecture_id == b.architecture_id &&
         a.mask == b.mask && a.task == b.task &&
         (!architecture || a.architecture == b.architecture);
}

}  // namespace fedge::protocol
