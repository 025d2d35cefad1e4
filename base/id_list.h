#ifndef FEDGE_BASE_ID_LIST_H_
#define FEDGE_BASE_ID_LIST_H_

// Client id lists as operators type them on command lines: "3,4,5" or
// ranges "0-4,7" (inclusive; spaces allowed around items).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fedge {

// The ids in order (duplicates kept as written). InvalidArgument naming
// `flag` and the bad item for anything else, for a range over 100,000 ids,
// and for an empty list.
absl::StatusOr<std::vector<uint64_t>> ParseIdList(absl::string_view spec,
                                                  absl::string_view flag);

// The reverse, compact: sorted ids {0,1,2,5,7,8} as "0-2,5,7-8".
std::string FormatIdList(std::vector<uint64_t> ids);

// FormatIdList for people: cut after about 32 characters, with the count
// ("0,2,4,6,8,10,12,14,16,18,20,... (1000 ids)"), for log tags and names.
std::string ShortIdList(std::vector<uint64_t> ids);

}  // namespace fedge

#endif  // FEDGE_BASE_ID_LIST_H_
