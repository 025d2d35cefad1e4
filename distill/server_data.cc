#include "distill/server_data.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace fedge::distill {

absl::StatusOr<data::UnlabelledData> LoadServerData(const ServerDataSpec& spec) {
  FEDGE_ASSIGN_OR_RETURN(data::UnlabelledData all,
                         data::LoadFeatures(spec.source, data::SourceOptions{spec.split}));
  const int64_t n = all.size();
  const int64_t count = spec.count == 0 ? n - spec.offset : spec.count;
  if (spec.offset < 0 || count <= 0 || spec.offset + count > n) {
    return absl::OutOfRangeError(absl::StrCat(spec.source, " (", spec.split, "): examples [",
                                              spec.offset, ", ", spec.offset + count,
                                              ") are not within its ", n, " examples"));
  }
  // Keep only the slice (the rest is freed when `all` goes).
  const size_t per = static_cast<size_t>(all.ExampleSize());
  const size_t from = static_cast<size_t>(spec.offset) * per;
  const size_t to = from + static_cast<size_t>(count) * per;
  data::UnlabelledData slice;
  slice.example_shape = all.example_shape;
  slice.storage = all.storage;
  if (all.storage == data::Storage::kUint8) {
    slice.bytes.assign(all.bytes.begin() + from, all.bytes.begin() + to);
  } else {
    slice.features.assign(all.features.begin() + from, all.features.begin() + to);
  }
  return slice;
}

}  // namespace fedge::distill
