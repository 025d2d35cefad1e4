#ifndef FEDGE_OPS_RENDER_H_
#define FEDGE_OPS_RENDER_H_

// RunStatus rendered for its readers: /status's JSON (the status page and
// fedge-ctl read it) and /metrics in the Prometheus text exposition format
// 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).

#include <string>

#include "absl/strings/string_view.h"
#include "base/process_stats.h"
#include "ops/run_status.h"

namespace fedge::ops {

// `s` as a JSON string literal, quotes included; control characters and
// non-ASCII bytes escaped, so any input gives valid JSON.
std::string JsonString(absl::string_view s);

// The whole status as one JSON object (docs/operations.md has the schema).
std::string StatusJson(const RunStatus& s);

// Every metric with its HELP and TYPE lines. `process` is this process's
// resident memory and descriptors (-1: not reported).
std::string PrometheusText(const RunStatus& s, const ProcessStats& process);

}  // namespace fedge::ops

#endif  // FEDGE_OPS_RENDER_H_
