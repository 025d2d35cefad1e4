#include "coordinator/round_report.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fedge::coordinator {

std::string RoundReportJson(const RoundReport& r) {
  std::string s = absl::StrFormat(
      "{\"round\":%d,\"completed\":%s,\"model_version\":%d,\"selected\":%d,"
      "\"clients\":%d,\"dropped\":%d,\"rejected\":%d,"
      "\"round_seconds\":%.4f,\"bytes_up\":%d,\"bytes_down\":%d",
      r.round, r.completed ? "true" : "false", r.model_version, r.selected, r.aggregated,
      r.dropped, r.rejected, r.seconds, r.bytes_up, r.bytes_down);
  absl::StrAppendFormat(&s, ",\"elapsed_seconds\":%.4f,\"eval_wait_seconds\":%.4f",
                        r.elapsed_seconds, r.eval_wait_seconds);
  if (r.async.has_value()) {
    absl::StrAppendFormat(&s,
                          ",\"staleness_mean\":%.4f,\"staleness_max\":%d,"
                          "\"stale_refused\":%d,\"in_flight\":%d",
                          r.async->staleness_mean, r.async->staleness_max,
                          r.async->stale_refused, r.async->in_flight);
  }
  if (r.sparsity.has_value()) absl::StrAppendFormat(&s, ",\"sparsity\":%.6f", *r.sparsity);
  if (r.update_frames > 0) {
    absl::StrAppendFormat(&s, ",\"update_bytes_per_client\":%d",
                          r.update_bytes / r.update_frames);
  }
  // Absent under secure aggregation, where no client's metrics are collected.
  if (std::isfinite(r.train_loss)) absl::StrAppendFormat(&s, ",\"train_loss\":%.6f", r.train_loss);
  if (r.evaluated) {
    if (r.eval.has_accuracy) absl::StrAppendFormat(&s, ",\"test_accuracy\":%.6f", r.eval.accuracy);
    absl::StrAppendFormat(&s, ",\"test_loss\":%.6f", r.eval.loss);
    if (std::isfinite(r.eval.mse)) {
      absl::StrAppendFormat(&s, ",\"test_mse\":%.6f,\"test_mae\":%.6f", r.eval.mse, r.eval.mae);
    }
    if (r.eval.backdoor_success.has_value()) {
      absl::StrAppendFormat(&s, ",\"backdoor_success\":%.6f", *r.eval.backdoor_success);
    }
  }
  if (r.federated.has_value()) {
    const FederatedMetrics& f = *r.federated;
    absl::StrAppendFormat(&s, ",\"fed_asked\":%d,\"fed_clients\":%d,\"fed_examples\":%d", f.asked,
                          f.clients, f.examples);
    if (f.clients > 0) {
      absl::StrAppendFormat(&s, ",\"fed_loss\":%.6f", f.loss);
      if (f.has_accuracy) {
        absl::StrAppendFormat(&s, ",\"fed_accuracy\":%.6f", f.accuracy);
      } else {
        absl::StrAppendFormat(&s, ",\"fed_mse\":%.6f,\"fed_mae\":%.6f", f.mse, f.mae);
      }
    }
  }
  if (r.privacy.has_value()) {
    const PrivacyFigures& p = *r.privacy;
    absl::StrAppendFormat(&s, ",\"epsilon\":%.6f,\"delta\":%g", p.epsilon, p.delta);
    if (std::isfinite(p.epsilon_coordinator)) {
      absl::StrAppendFormat(&s, ",\"epsilon_coordinator\":%.6f", p.epsilon_coordinator);
    }
    absl::StrAppendFormat(&s, ",\"dp_clip\":%.6g,\"dp_noise_stddev\":%.6g,\"dp_q\":%.6g,"
                          "\"dp_clipped\":%d",
                          p.clip, p.noise_stddev, p.sampling_rate, p.clipped);
  }
  if (r.buffered_bytes > 0) absl::StrAppendFormat(&s, ",\"buffered_bytes\":%d", r.buffered_bytes);
  if (r.rss_kb >= 0) absl::StrAppendFormat(&s, ",\"rss_kb\":%d", r.rss_kb);
  if (r.open_fds >= 0) absl::StrAppendFormat(&s, ",\"open_fds\":%d", r.open_fds);
  if (!r.completed) {
    std::string escaped;
    for (char c : r.failure) {
      if (c == '"' || c == '\\') escaped += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) escaped += c;
    }
    absl::StrAppend(&s, ",\"failure\":\"", escaped, "\"");
  }
  s += "}";
  return s;
}

}  // namespace fedge::coordinator
