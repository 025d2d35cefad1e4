#include "simulations/results.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/status_macros.h"

namespace fedge::sim {
namespace {

// The value text after "key": in a flat JSON object of numbers and booleans.
bool FindValue(absl::string_view line, absl::string_view key, absl::string_view* value) {
  std::string pattern = absl::StrCat("\"", key, "\":");
  size_t pos = line.find(pattern);
  if (pos == absl::string_view::npos) return false;
  pos += pattern.size();
  size_t end = line.find_first_of(",}", pos);
  if (end == absl::string_view::npos) return false;
  *value = line.substr(pos, end - pos);
  return true;
}

template <typename T>
bool Number(absl::string_view line, absl::string_view key, T* out) {
  absl::string_view v;
  if (!FindValue(line, key, &v)) return false;
  if constexpr (std::is_floating_point_v<T>) {
    return absl::SimpleAtod(v, out);
  } else {
    return absl::SimpleAtoi(v, out);
  }
}

}  // namespace

absl::StatusOr<std::vector<RoundRow>> ParseMetrics(const std::string& jsonl) {
  std::vector<RoundRow> rows;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(jsonl, '\n', absl::SkipEmpty())) {
    ++line_no;
    RoundRow r;
    absl::string_view completed;
    if (!Number(line, "round", &r.round) || !FindValue(line, "completed", &completed) ||
        !Number(line, "clients", &r.clients) || !Number(line, "round_seconds", &r.round_seconds) ||
        !Number(line, "bytes_up", &r.bytes_up) || !Number(line, "bytes_down", &r.bytes_down)) {
      return absl::InvalidArgumentError(absl::StrCat("metrics line ", line_no, " is malformed"));
    }
    r.completed = completed == "true";
    Number(line, "test_accuracy", &r.test_accuracy);
    Number(line, "test_loss", &r.test_loss);
    Number(line, "train_loss", &r.train_loss);
    Number(line, "backdoor_success", &r.backdoor_success);
    Number(line, "test_mse", &r.test_mse);
    Number(line, "test_mae", &r.test_mae);
    Number(line, "fed_clients", &r.fed_clients);
    Number(line, "fed_loss", &r.fed_loss);
    Number(line, "fed_accuracy", &r.fed_accuracy);
    Number(line, "fed_mse", &r.fed_mse);
    Number(line, "epsilon", &r.epsilon);
    Number(line, "epsilon_coordinator", &r.epsilon_coordinator);
    Number(line, "update_bytes_per_client", &r.update_bytes_per_client);
    Number(line, "elapsed_seconds", &r.elapsed_seconds);
    Number(line, "eval_wait_seconds", &r.eval_wait_seconds);
    rows.push_back(r);
  }
  return rows;
}

absl::StatusOr<std::vector<RoundRow>> ReadMetrics(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (absl::IsNotFound(text.status())) return std::vector<RoundRow>();
  if (!text.ok()) return text.status();
  return ParseMetrics(*text);
}

std::string ResultsCsv(const std::vector<RoundRow>& rows) {
  std::string out =
      "round,completed,clients,test_accuracy,test_loss,train_loss,round_seconds,bytes_up,"
      "bytes_down,backdoor_success,test_mse,test_mae,fed_clients,fed_loss,fed_accuracy,"
      "fed_mse,epsilon,epsilon_coordinator,update_bytes_per_client,elapsed_seconds,eval_wait_seconds\n";
  for (const RoundRow& r : rows) {
    absl::StrAppendFormat(&out,
                          "%d,%d,%d,%.6f,%.6f,%.6f,%.4f,%d,%d,%.6f,%.6f,%.6f,%d,%.6f,%.6f,%.6f,%.6f,"
                          "%.6f,%d,%.4f,%.4f\n",
                          r.round, r.completed ? 1 : 0, r.clients, r.test_accuracy, r.test_loss,
                          r.train_loss, r.round_seconds, r.bytes_up, r.bytes_down,
                          r.backdoor_success, r.test_mse, r.test_mae, r.fed_clients, r.fed_loss,
                          r.fed_accuracy, r.fed_mse, r.epsilon, r.epsilon_coordinator,
                          r.update_bytes_per_client, r.elapsed_seconds,
                          r.eval_wait_seconds);
  }
  return out;
}

Summary Summarize(const std::vector<RoundRow>& rows) {
  Summary s;
  for (const RoundRow& r : rows) {
    s.final_epsilon = r.epsilon;  // failed rounds are charged too
    s.final_epsilon_coordinator = r.epsilon_coordinator;
    if (!r.completed) continue;
    ++s.completed_rounds;
    s.final_accuracy = r.test_accuracy;
    s.final_loss = r.test_loss;
    s.final_mse = r.test_mse;
    s.final_mae = r.test_mae;
    s.final_fed_loss = r.fed_loss;
    s.final_fed_accuracy = r.fed_accuracy;
    s.final_fed_mse = r.fed_mse;
    s.final_backdoor_success = r.backdoor_success;
    // `!(a <= best)` also replaces the initial NaN.
    if (std::isfinite(r.test_accuracy) && !(r.test_accuracy <= s.best_accuracy)) {
      s.best_accuracy = r.test_accuracy;
      s.best_round = static_cast<int>(r.round);
    }
    s.mean_round_seconds += r.round_seconds;
    s.mean_bytes_up += static_cast<double>(r.bytes_up);
    s.mean_bytes_down += static_cast<double>(r.bytes_down);
    s.mean_update_bytes_per_client += static_cast<double>(r.update_bytes_per_client);
  }
  if (s.completed_rounds > 0) {
    s.mean_round_seconds /= s.completed_rounds;
    s.mean_bytes_up /= s.completed_rounds;
    s.mean_bytes_down /= s.completed_rounds;
    s.mean_update_bytes_per_client /= s.completed_rounds;
  }
  return s;
}

const RoundRow* FirstReaching(const std::vector<RoundRow>& rows, double target) {
  for (const RoundRow& r : rows) {
    if (r.completed && r.test_accuracy >= target) return &r;
  }
  return nullptr;
}

}  // namespace fedge::sim
