#include "coordinator/evaluation_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(double, fraction_evaluate, 0,
          "Federated evaluation: after each completed round this share of the clients that hold "
          "a held-out split (fedge-sim --holdout, fedge-client --holdout_file) evaluate the new "
          "model on it; the round's metrics then include fed_loss and fed_accuracy (or fed_mse, "
          "fed_mae), example-weighted. 0: off. Not with --secure");
ABSL_FLAG(absl::Duration, evaluate_timeout, absl::Minutes(1),
          "With --fraction_evaluate: how long a round waits for evaluation results");

namespace fedge::coordinator {

EvaluationFlags EvaluationFlagsFromFlags() {
  return {absl::GetFlag(FLAGS_fraction_evaluate), absl::GetFlag(FLAGS_evaluate_timeout)};
}

std::vector<std::string> EvaluationFlagArgs() {
  const EvaluationFlags f = EvaluationFlagsFromFlags();
  return {absl::StrCat("--fraction_evaluate=", f.fraction),
          absl::StrCat("--evaluate_timeout=", absl::FormatDuration(f.timeout))};
}

}  // namespace fedge::coordinator
