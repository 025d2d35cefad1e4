#include "ops/render.h"

#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fedge::ops {
namespace {

// The shortest text that reads back as exactly `v` (0.1, not
// 0.10000000000000001).
std::string Shortest(double v) {
  for (int precision = 6; precision < 17; ++precision) {
    std::string s = absl::StrFormat("%.*g", precision, v);
    if (std::strtod(s.c_str(), nullptr) == v) return s;
  }
  return absl::StrFormat("%.17g", v);
}

// JSON has no NaN or Inf.
std::string Number(double v) { return std::isfinite(v) ? Shortest(v) : "null"; }

std::string Optional(const std::optional<double>& v) { return v ? Number(*v) : "null"; }

void AppendConfig(const RunStatus& s, std::string* out) {
  absl::StrAppend(out, "\"config\":[");
  bool first = true;
  if (s.config != nullptr) {
    for (const ConfigEntry& e : *s.config) {
      absl::StrAppend(out, first ? "" : ",", "{\"name\":", JsonString(e.name),
                      ",\"value\":", JsonString(e.value),
                      ",\"default\":", e.is_default ? "true" : "false", "}");
      first = false;
    }
  }
  absl::StrAppend(out, "]");
}

void AppendHistory(const RunStatus& s, std::string* out) {
  absl::StrAppend(out, "\"history\":[");
  bool first = true;
  if (s.history != nullptr) {
    for (const RoundPoint& p : *s.history) {
      absl::StrAppend(out, first ? "" : ",", "{\"round\":", p.round,
                      ",\"completed\":", p.completed ? "true" : "false",
                      ",\"failure\":", JsonString(p.failure), ",\"accuracy\":", Optional(p.accuracy),
                      ",\"loss\":", Optional(p.loss), ",\"train_loss\":", Optional(p.train_loss),
                      ",\"seconds\":", Number(p.seconds), ",\"ended\":", Number(p.ended_unix),
                      ",\"selected\":", p.selected, ",\"aggregated\":", p.aggregated,
                      ",\"dropped\":", p.dropped, ",\"bytes_up\":", p.bytes_up,
                      ",\"bytes_down\":", p.bytes_down, "}");
      first = false;
    }
  }
  absl::StrAppend(out, "]");
}

// Prometheus label values escape backslash, double quote and newline.
std::string LabelValue(absl::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Prometheus sample values: Go's float syntax, with +Inf, -Inf and NaN.
std::string Sample(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return Shortest(v);
}

void Family(std::string* out, absl::string_view name, absl::string_view type,
            absl::string_view help) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

void Metric(std::string* out, absl::string_view name, absl::string_view type,
            absl::string_view help, double value) {
  Family(out, name, type, help);
  absl::StrAppend(out, name, " ", Sample(value), "\n");
}

}  // namespace

namespace {

// The length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlongs, no
// surrogates, at most U+10FFFF), or 0.
size_t Utf8Length(absl::string_view s, size_t i) {
  const unsigned char c = s[i];
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;  // the second byte's range
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  const unsigned char second = s[i + 1];
  if (second < lo || second > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    const unsigned char b = s[i + k];
    if (b < 0x80 || b > 0xbf) return 0;
  }
  return n;
}

}  // namespace

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    if (c >= 0x80) {
      // Valid UTF-8 as it is; any other byte (flag values need not be
      // UTF-8) as U+FFFD, so the document is valid JSON whatever the input.
      const size_t n = Utf8Length(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += "\"";
  return out;
}

std::string StatusJson(const RunStatus& s) {
  std::string out = absl::StrCat(
      "{\"version\":", JsonString(s.version), ",\"now\":", Number(s.now_unix),
      ",\"started\":", Number(s.started_unix), ",");
  AppendConfig(s, &out);
  absl::StrAppend(&out, ",\"phase\":", JsonString(s.phase),
                  ",\"paused\":", s.paused ? "true" : "false",
                  ",\"stop_requested\":", s.stop_requested ? "true" : "false",
                  ",\"round\":", s.round, ",\"rounds\":", s.rounds,
                  ",\"completed_rounds\":", s.completed_rounds,
                  ",\"failed_rounds\":", s.failed_rounds, ",\"model_version\":", s.model_version,
                  ",\"progress\":");
  if (s.progress.has_value()) {
    absl::StrAppend(&out, "{\"inputs\":", s.progress->inputs,
                    ",\"expected\":", s.progress->expected,
                    ",\"elapsed_s\":", Number(s.progress->elapsed_s),
                    ",\"deadline_in_s\":", Number(s.progress->deadline_in_s), "}");
  } else {
    absl::StrAppend(&out, "null");
  }
  absl::StrAppend(&out, ",\"clients\":{\"connected\":", s.clients_connected,
                  ",\"enrolled\":",
                  s.clients_enrolled ? absl::StrCat(*s.clients_enrolled) : "null",
                  ",\"registrations\":", s.registrations, ",\"dropped\":", s.clients_dropped,
                  ",\"left\":", s.clients_left, ",\"refused_total\":", s.refused_total,
                  ",\"refused\":{");
  bool first = true;
  for (const auto& [reason, count] : s.refused_by_reason) {
    absl::StrAppend(&out, first ? "" : ",", JsonString(reason), ":", count);
    first = false;
  }
  absl::StrAppend(&out, "}},\"handshakes\":{\"accepted\":", s.handshakes_accepted,
                  ",\"refused\":", s.handshakes_refused, ",\"failed\":", s.handshakes_failed,
                  "},\"bytes\":{\"in\":", s.bytes_in, ",\"out\":", s.bytes_out,
                  "},\"frames\":{\"in\":", s.frames_in, ",\"out\":", s.frames_out, "},\"test\":");
  if (s.test_loss.has_value() || s.test_accuracy.has_value()) {
    absl::StrAppend(&out, "{\"accuracy\":", Optional(s.test_accuracy),
                    ",\"loss\":", Optional(s.test_loss), "}");
  } else {
    absl::StrAppend(&out, "null");
  }
  absl::StrAppend(&out, ",");
  AppendHistory(s, &out);
  absl::StrAppend(&out, "}");
  return out;
}

std::string PrometheusText(const RunStatus& s, const ProcessStats& process) {
  std::string o;
  Metric(&o, "fedge_rounds_completed_total", "counter", "Rounds completed.",
         static_cast<double>(s.completed_rounds));
  Metric(&o, "fedge_rounds_failed_total", "counter",
         "Rounds that failed (deadline without a quorum, cohort lost).",
         static_cast<double>(s.failed_rounds));
  Metric(&o, "fedge_round", "gauge", "The open round's id, or the last one's.",
         static_cast<double>(s.round));
  Metric(&o, "fedge_round_inputs", "gauge",
         "Updates (or masked inputs) the open round accepted so far; 0 between rounds.",
         s.progress ? static_cast<double>(s.progress->inputs) : 0.0);
  Metric(&o, "fedge_round_expected_inputs", "gauge",
         "The open round's cohort size; 0 between rounds.",
         s.progress ? static_cast<double>(s.progress->expected) : 0.0);
  Metric(&o, "fedge_paused", "gauge", "1 while rounds are paused (fedge-ctl pause).",
         s.paused ? 1 : 0);
  Family(&o, "fedge_round_duration_seconds", "histogram",
         "Wall time of every ended round, completed or failed.");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kRoundSecondsBucketCount; ++i) {
    cumulative += s.round_seconds.counts[i];
    absl::StrAppend(&o, "fedge_round_duration_seconds_bucket{le=\"",
                    Sample(kRoundSecondsBuckets[i]), "\"} ", cumulative, "\n");
  }
  absl::StrAppend(&o, "fedge_round_duration_seconds_bucket{le=\"+Inf\"} ", s.round_seconds.count,
                  "\nfedge_round_duration_seconds_sum ", Sample(s.round_seconds.sum),
                  "\nfedge_round_duration_seconds_count ", s.round_seconds.count, "\n");
  Metric(&o, "fedge_clients_connected", "gauge",
         "Registered clients the coordinator hears from (heartbeats within the window).",
         static_cast<double>(s.clients_connected));
  if (s.clients_enrolled.has_value()) {
    Metric(&o, "fedge_clients_enrolled", "gauge", "Devices in the allow-list.",
           static_cast<double>(*s.clients_enrolled));
  }
  Metric(&o, "fedge_client_registrations_total", "counter", "Hellos accepted (registrations).",
         static_cast<double>(s.registrations));
  Metric(&o, "fedge_clients_dropped_total", "counter",
         "Clients dropped after missing their heartbeats.",
         static_cast<double>(s.clients_dropped));
  Metric(&o, "fedge_clients_left_total", "counter", "Clients that said Leave.",
         static_cast<double>(s.clients_left));
  Family(&o, "fedge_messages_refused_total", "counter",
         "Messages refused with an ErrorReply, by its reason code.");
  for (const auto& [reason, count] : s.refused_by_reason) {
    absl::StrAppend(&o, "fedge_messages_refused_total{reason=\"", LabelValue(reason), "\"} ",
                    count, "\n");
  }
  Family(&o, "fedge_handshakes_total", "counter",
         "CURVE handshakes: accepted and refused by the allow-list, failed for any reason.");
  absl::StrAppend(&o, "fedge_handshakes_total{result=\"accepted\"} ", s.handshakes_accepted,
                  "\nfedge_handshakes_total{result=\"refused\"} ", s.handshakes_refused,
                  "\nfedge_handshakes_total{result=\"failed\"} ", s.handshakes_failed, "\n");
  Metric(&o, "fedge_received_bytes_total", "counter", "Bytes of frames received from clients.",
         static_cast<double>(s.bytes_in));
  Metric(&o, "fedge_sent_bytes_total", "counter", "Bytes of frames sent to clients.",
         static_cast<double>(s.bytes_out));
  Metric(&o, "fedge_received_frames_total", "counter", "Frames received from clients.",
         static_cast<double>(s.frames_in));
  Metric(&o, "fedge_sent_frames_total", "counter", "Frames sent to clients.",
         static_cast<double>(s.frames_out));
  Metric(&o, "fedge_model_version", "gauge", "The global model's version.",
         static_cast<double>(s.model_version));
  if (s.test_accuracy.has_value()) {
    Metric(&o, "fedge_test_accuracy", "gauge", "Server-side test accuracy of the newest model.",
           *s.test_accuracy);
  }
  if (s.test_loss.has_value()) {
    Metric(&o, "fedge_test_loss", "gauge", "Server-side test loss of the newest model.",
           *s.test_loss);
  }
  if (process.rss_kb >= 0) {
    Metric(&o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
           static_cast<double>(process.rss_kb) * 1024);
  }
  if (process.open_fds >= 0) {
    Metric(&o, "process_open_fds", "gauge", "Number of open file descriptors.",
           static_cast<double>(process.open_fds));
  }
  Metric(&o, "process_start_time_seconds", "gauge",
         "Start time of the process since the Unix epoch in seconds.", s.started_unix);
  return o;
}

}  // namespace fedge::ops
