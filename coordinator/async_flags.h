#ifndef FEDGE_COORDINATOR_ASYNC_FLAGS_H_
#define FEDGE_COORDINATOR_ASYNC_FLAGS_H_

// The --mode=async family of flags (coordinator/async_round.h), shared by
// fedge-coordinator and fedge-sim, which checks them at once and passes them
// on to the coordinator it starts.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/async_round.h"

namespace fedge::coordinator {

// AsyncOptions from the parsed flags. InvalidArgument naming the flag for an
// unknown --mode, a value out of range, or an async flag set without
// --mode=async.
absl::StatusOr<AsyncOptions> AsyncOptionsFromFlags();

// The same flags as "--name=value" arguments.
std::vector<std::string> AsyncFlagArgs();

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_ASYNC_FLAGS_H_
