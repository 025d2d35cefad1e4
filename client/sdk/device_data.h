#ifndef FEDGE_CLIENT_SDK_DEVICE_DATA_H_
#define FEDGE_CLIENT_SDK_DEVICE_DATA_H_

// The device's data as the SDK reads it through the data source's callbacks
// (fedge/client.h DataSource): the declaration checked at Create, one
// checked pass to count or load the examples, and the check against a
// model's task before training. Errors about the data are DataLoss (the C
// API's FEDGE_ERR_DATA) and name the example; errors in the declaration are
// InvalidArgument naming the field. No torch here.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/dataset.h"
#include "fedge/client.h"
#include "protocol/task_spec.h"

namespace fedge::sdk {

// Checks the declaration: 1 to FEDGE_MAX_RANK dimensions, each > 0, at most
// protocol::kMaxTaskElements values; target_size >= 1; a known dtype.
absl::Status ValidateDeclaration(const DataSource& source);

// One pass over the data through its callbacks (reset first, if set), up to
// `max_examples` (0 = all), handing each checked batch to `sink` (may be
// null: counting only). A batch is checked for n in [0, max], and every
// value finite (and in [0, 1] for FEDGE_DTYPE_U8). Returns the number of
// examples; DataLoss when a callback fails, a value is bad, or there are
// none.
using BatchSink = std::function<void(const float* examples, const float* targets, int n)>;
absl::StatusOr<int64_t> ReadAll(const DataSource& source, int64_t max_examples,
                                const BatchSink& sink);

// The data as a Dataset, float32 or bytes as declared, with room reserved
// for `expected` examples (the counting pass's; 0 if unknown) so a device
// never holds a vector mid-growth at up to twice the data. Targets get
// `task`'s target shape when it has target_size values (a real target of
// rank >= 2 is given flat by the callbacks), else {} for one value and
// {target_size} for more. `task` may be null.
absl::StatusOr<data::Dataset> LoadDeviceData(const DataSource& source, int64_t max_examples,
                                             int64_t expected, const protocol::TaskSpec* task);

// Whether the device's data fits the model's task, before training: the
// declared example shape equals the task's input shape, target_size the
// task's target size, and the values fit (data::CheckFitsTask: class indices
// in range, binary labels 0 or 1...). DataLoss naming both shapes, or the
// first bad example and its value.
absl::Status CheckDeviceDataFitsTask(const data::Dataset& data, const DataSource& source,
                                     const protocol::TaskSpec& task);

}  // namespace fedge::sdk

#endif  // FEDGE_CLIENT_SDK_DEVICE_DATA_H_
