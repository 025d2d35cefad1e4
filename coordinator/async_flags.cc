#include "coordinator/async_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, mode, "sync",
          "sync: rounds with a barrier (every strategy). async: asynchronous buffered "
          "aggregation (FedBuff, Nguyen et al. 2022): --concurrency clients train at once, each "
          "update is folded as it arrives, discounted by (1 + staleness)^-a, and every --buffer "
          "updates make a new model version; a round is then one version. See "
          "docs/topologies.md");
ABSL_FLAG(uint32_t, concurrency, 0,
          "--mode=async: clients training at once; 0 = the synchronous cohort size "
          "(--clients_per_round, else --fraction of the live clients)");
ABSL_FLAG(uint32_t, buffer, 10, "--mode=async: updates per new model version (K)");
ABSL_FLAG(uint32_t, max_staleness, 20,
          "--mode=async: an update trained on a model more than this many versions old is "
          "refused (STALE)");
ABSL_FLAG(double, staleness_exponent, 0.5,
          "--mode=async: a: an update s versions stale is weighted (1 + s)^-a (0.5 is FedBuff's "
          "1/sqrt(1 + s); 0 weighs all alike)");

namespace fedge::coordinator {

absl::StatusOr<AsyncOptions> AsyncOptionsFromFlags() {
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "sync" && mode != "async") {
    return absl::InvalidArgumentError(
        absl::StrCat("--mode=", mode, ": want sync or async"));
  }
  AsyncOptions o;
  o.enabled = mode == "async";
  const AsyncOptions defaults;
  o.concurrency = absl::GetFlag(FLAGS_concurrency);
  o.buffer = absl::GetFlag(FLAGS_buffer);
  o.max_staleness = absl::GetFlag(FLAGS_max_staleness);
  o.staleness_exponent = absl::GetFlag(FLAGS_staleness_exponent);
  if (!o.enabled) {
    const char* set = o.concurrency != defaults.concurrency ? "--concurrency"
                      : o.buffer != defaults.buffer         ? "--buffer"
                      : o.max_staleness != defaults.max_staleness ? "--max_staleness"
                      : o.staleness_exponent != defaults.staleness_exponent
                          ? "--staleness_exponent"
                          : nullptr;
    if (set != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(set, " applies only with --mode=async"));
    }
    return o;
  }
  if (absl::Status s = ValidateAsyncOptions(o); !s.ok()) return s;
  return o;
}

std::vector<std::string> AsyncFlagArgs() {
  return {
      absl::StrCat("--mode=", absl::GetFlag(FLAGS_mode)),
      absl::StrCat("--concurrency=", absl::GetFlag(FLAGS_concurrency)),
      absl::StrCat("--buffer=", absl::GetFlag(FLAGS_buffer)),
      absl::StrCat("--max_staleness=", absl::GetFlag(FLAGS_max_staleness)),
      absl::StrCat("--staleness_exponent=", absl::GetFlag(FLAGS_staleness_exponent)),
  };
}

}  // namespace fedge::coordinator
