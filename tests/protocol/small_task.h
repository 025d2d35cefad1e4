#ifndef FEDGE_TESTS_PROTOCOL_SMALL_TASK_H_
#define FEDGE_TESTS_PROTOCOL_SMALL_TASK_H_

// A valid four-weight Task for codec tests of the task's settings.

#include "protocol/messages.h"

namespace fedge::protocol::testing {

inline Task SmallTask() {
  Task t;
  t.round = 2;
  t.model_version = 1;
  t.model.manifest.tensors = {{"fc.weight", {2, 2}, DType::kFloat32}};
  t.model.architecture_id = "builtin:mlp";
  t.model.weights = {1, 2, 3, 4};
  return t;
}

}  // namespace fedge::protocol::testing

#endif  // FEDGE_TESTS_PROTOCOL_SMALL_TASK_H_
