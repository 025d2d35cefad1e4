#ifndef FEDGE_DATA_TASK_FLAGS_H_
#define FEDGE_DATA_TASK_FLAGS_H_

// The --task, --input_shape, --loss and --label_column flags, shared by
// fedge-coordinator (which signs the task into every model) and fedge-sim
// (which checks them against its data before starting any process and
// passes them on), so both spell and document them the same way.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/source.h"
#include "protocol/task_spec.h"

namespace fedge::data {

// The task the flags describe. An empty --input_shape takes `data_shape`
// (the examples' shape of the data at hand), or Fashion-MNIST's 1,28,28 when
// that is empty too. InvalidArgument naming the flag.
absl::StatusOr<protocol::TaskSpec> TaskFromFlags(const std::vector<int64_t>& data_shape);

// `task` as "--task=", "--input_shape=", "--loss=" arguments.
std::vector<std::string> TaskFlagArgs(const protocol::TaskSpec& task);

// Options to load a data source with (--label_column and `split`).
SourceOptions SourceOptionsFromFlags(const std::string& split);

// "--label_column=..." to pass on.
std::string LabelColumnArg();

}  // namespace fedge::data

#endif  // FEDGE_DATA_TASK_FLAGS_H_
