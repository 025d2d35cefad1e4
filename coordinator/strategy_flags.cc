#include "coordinator/strategy_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, strategy, "fedavg",
          "Federated strategy: fedavg, fedavgm (server momentum), fedadagrad, fedadam, "
          "fedyogi (Reddi et al. 2021), fedprox (proximal term, --proximal_mu), scaffold "
          "(control variates, Karimireddy et al. 2020), fedbn (normalisation layers stay on "
          "each client, Li et al. 2021), median, "
          "trimmed_mean (--trim_beta), krum, multikrum (--byzantine, --krum_select). "
          "median, trimmed_mean, krum and multikrum buffer the cohort's updates and cannot "
          "run with --secure. See docs/strategies.md");
ABSL_FLAG(double, server_lr, -1,
          "Server learning rate (eta); -1 = the strategy's default: 1.0 for fedavg, fedavgm and "
          "the robust rules, 0.01 for fedadagrad, fedadam and fedyogi");
ABSL_FLAG(double, server_momentum, 0.9, "fedavgm: server momentum (beta)");
ABSL_FLAG(double, server_beta1, 0.9, "fedadagrad/fedadam/fedyogi: first-moment decay");
ABSL_FLAG(double, server_beta2, 0.99, "fedadam/fedyogi: second-moment decay");
ABSL_FLAG(double, server_tau, 1e-3,
          "fedadagrad/fedadam/fedyogi: adaptivity tau (second moments start at tau^2)");
ABSL_FLAG(double, proximal_mu, 0.01, "fedprox: weight mu of the proximal term (mu/2)||w-w_t||^2");
ABSL_FLAG(double, trim_beta, 0.1,
          "trimmed_mean: share of values cut at each end of every coordinate, in [0, 0.5)");
ABSL_FLAG(uint32_t, byzantine, 0, "krum/multikrum: number of attackers f to tolerate");
ABSL_FLAG(uint32_t, krum_select, 0, "multikrum: updates averaged (m); 0 = cohort - f");
ABSL_FLAG(uint32_t, bucketing, 0,
          "median/trimmed_mean/krum/multikrum: run the rule on the means of random buckets of "
          "this many updates (Karimireddy et al. 2022), which helps the rules on non-IID "
          "data; the rule must then tolerate that many times the attackers' share (e.g. "
          "--trim_beta); 0 or 1 = off");
ABSL_FLAG(double, clip_norm, 0,
          "Update-norm bounding, with any strategy: clients clip their delta's L2 norm to "
          "this (composes with --secure), the coordinator clips plain updates again; 0 = off");
ABSL_FLAG(uint64_t, max_buffered_mb, 2048,
          "Refuse a buffering strategy (median, trimmed_mean, krum, multikrum) whose cohort's "
          "updates would take more memory than this");

namespace fedge::coordinator {

StrategyOptions StrategyOptionsFromFlags() {
  StrategyOptions o;
  o.name = absl::GetFlag(FLAGS_strategy);
  o.optimizer.learning_rate = absl::GetFlag(FLAGS_server_lr);
  o.optimizer.momentum = absl::GetFlag(FLAGS_server_momentum);
  o.optimizer.beta1 = absl::GetFlag(FLAGS_server_beta1);
  o.optimizer.beta2 = absl::GetFlag(FLAGS_server_beta2);
  o.optimizer.tau = absl::GetFlag(FLAGS_server_tau);
  o.proximal_mu = static_cast<float>(absl::GetFlag(FLAGS_proximal_mu));
  o.trim_beta = absl::GetFlag(FLAGS_trim_beta);
  o.byzantine = absl::GetFlag(FLAGS_byzantine);
  o.krum_select = absl::GetFlag(FLAGS_krum_select);
  o.bucket_size = absl::GetFlag(FLAGS_bucketing);
  o.clip_norm = absl::GetFlag(FLAGS_clip_norm);
  o.max_buffered_mb = absl::GetFlag(FLAGS_max_buffered_mb);
  return o;
}

std::vector<std::string> StrategyFlagArgs() {
  const StrategyOptions o = StrategyOptionsFromFlags();
  return {
      absl::StrCat("--strategy=", o.name),
      absl::StrCat("--server_lr=", o.optimizer.learning_rate),
      absl::StrCat("--server_momentum=", o.optimizer.momentum),
      absl::StrCat("--server_beta1=", o.optimizer.beta1),
      absl::StrCat("--server_beta2=", o.optimizer.beta2),
      absl::StrCat("--server_tau=", o.optimizer.tau),
      absl::StrCat("--proximal_mu=", o.proximal_mu),
      absl::StrCat("--trim_beta=", o.trim_beta),
      absl::StrCat("--byzantine=", o.byzantine),
      absl::StrCat("--krum_select=", o.krum_select),
      absl::StrCat("--bucketing=", o.bucket_size),
      absl::StrCat("--clip_norm=", o.clip_norm),
      absl::StrCat("--max_buffered_mb=", o.max_buffered_mb),
  };
}

}  // namespace fedge::coordinator
