#ifndef FEDGE_DISTILL_SERVER_DATA_H_
#define FEDGE_DISTILL_SERVER_DATA_H_

// The examples a server distils on: a slice of a data source's features,
// loaded without its targets (data::LoadFeatures never opens a labels file),
// so the student can only learn from the teacher's outputs. No torch.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "data/source.h"

namespace fedge::distill {

struct ServerDataSpec {
  // A data source (data/source.h): an IDX directory (its <split>-images file
  // only), FEATURES,TARGETS (FEATURES only) or one FEATURES file.
  std::string source;
  std::string split = "train";  // directory sources
  int64_t offset = 0;           // first example of the slice
  int64_t count = 0;            // examples in the slice; 0: all from `offset` on
};

// Loads the slice. Errors as data::LoadFeatures, and OutOfRange naming the
// source when the slice does not fit in it (or offset/count are negative).
absl::StatusOr<data::UnlabelledData> LoadServerData(const ServerDataSpec& spec);

}  // namespace fedge::distill

#endif  // FEDGE_DISTILL_SERVER_DATA_H_
