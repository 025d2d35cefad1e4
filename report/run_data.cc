#include "report/run_data.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/status_macros.h"

namespace fedge::report {
namespace {

std::string BaseName(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const size_t slash = dir.rfind('/');
  return slash == std::string::npos ? dir : dir.substr(slash + 1);
}

}  // namespace

absl::StatusOr<Run> LoadRun(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(absl::StrCat("run directory ", dir, ": no such directory"));
  }
  Run run;
  run.dir = dir;
  run.name = BaseName(dir);
  const std::string metrics_path = absl::StrCat(dir, "/metrics.jsonl");
  // ReadMetrics takes a missing file for a run without rounds; for the
  // report it means a directory that is not a run's.
  absl::StatusOr<std::string> text = ReadFile(metrics_path);
  if (absl::IsNotFound(text.status())) {
    return absl::NotFoundError(absl::StrCat(
        metrics_path, ": no such file (not a run directory? fedge-sim --out writes it)"));
  }
  if (!text.ok()) return text.status();
  absl::StatusOr<std::vector<sim::RoundRow>> rows = sim::ParseMetrics(*text);
  if (!rows.ok()) {
    // ParseMetrics names the line ("metrics line 3 is malformed"); add the file.
    return absl::DataLossError(absl::StrCat(metrics_path, ": ", rows.status().message()));
  }
  run.rows = *std::move(rows);
  for (const sim::RoundRow& r : run.rows) {
    run.total_seconds += r.round_seconds;
    run.elapsed_seconds.push_back(run.total_seconds);
    run.total_bytes_up += r.bytes_up;
    run.total_bytes_down += r.bytes_down;
  }
  run.summary = sim::Summarize(run.rows);

  const std::string flags_path = absl::StrCat(dir, "/flags.txt");
  absl::StatusOr<std::string> flags_text = ReadFile(flags_path);
  if (flags_text.ok()) {
    absl::StatusOr<RunFlags> flags = ParseRunFlags(*flags_text, flags_path);
    if (!flags.ok()) return absl::DataLossError(flags.status().message());
    run.flags = *std::move(flags);
  } else if (!absl::IsNotFound(flags_text.status())) {
    return flags_text.status();
  }
  return run;
}

}  // namespace fedge::report
