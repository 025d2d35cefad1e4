#ifndef FEDGE_COORDINATOR_EVALUATION_FLAGS_H_
#define FEDGE_COORDINATOR_EVALUATION_FLAGS_H_

// --fraction_evaluate and --evaluate_timeout (federated evaluation,
// coordinator/federated_evaluation.h), shared by fedge-coordinator, which
// runs it, and fedge-sim, which checks them and passes them on.

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace fedge::coordinator {

struct EvaluationFlags {
  double fraction = 0;  // 0: off
  absl::Duration timeout;
};
EvaluationFlags EvaluationFlagsFromFlags();

// The same as "--name=value" arguments.
std::vector<std::string> EvaluationFlagArgs();

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_EVALUATION_FLAGS_H_
