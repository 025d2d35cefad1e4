#include "base/id_list.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace fedge {

absl::StatusOr<std::vector<uint64_t>> ParseIdList(absl::string_view spec,
                                                  absl::string_view flag) {
  std::vector<uint64_t> ids;
  for (absl::string_view part : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    std::vector<absl::string_view> range = absl::StrSplit(part, '-');
    uint64_t lo = 0, hi = 0;
    if (range.size() == 1 && absl::SimpleAtoi(range[0], &lo)) {
      hi = lo;
    } else if (range.size() != 2 || !absl::SimpleAtoi(range[0], &lo) ||
               !absl::SimpleAtoi(range[1], &hi) || hi < lo || hi - lo > 100000) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": bad item '", part, "'"));
    }
    for (uint64_t id = lo; id <= hi; ++id) ids.push_back(id);
  }
  if (ids.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, " names no client"));
  return ids;
}

std::string FormatIdList(std::vector<uint64_t> ids) {
  std::sort(ids.begin(), ids.end());
  std::string out;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(ids[i]);
    if (j > i) out += "-" + std::to_string(ids[j]);
    i = j + 1;
  }
  return out;
}

std::string ShortIdList(std::vector<uint64_t> ids) {
  const size_t count = ids.size();
  std::string full = FormatIdList(std::move(ids));
  constexpr size_t kKeep = 32;
  if (full.size() <= kKeep) return full;
  const size_t cut = full.rfind(',', kKeep);
  return absl::StrCat(full.substr(0, cut == std::string::npos ? kKeep : cut), ",... (", count,
                      " ids)");
}

}  // namespace fedge
