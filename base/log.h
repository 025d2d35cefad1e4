#ifndef FEDGE_BASE_LOG_H_
#define FEDGE_BASE_LOG_H_

// Minimal leveled logging to stderr (this Abseil has no absl/log). One line per
// call, written with a single write(2) so lines from several processes sharing a
// terminal do not interleave mid-line.

#include "absl/strings/string_view.h"

#include "absl/strings/str_format.h"

namespace fedge {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Messages below this level are dropped. Default kInfo; FEDGE_LOG_LEVEL=debug|
// info|warning|error in the environment overrides it at start-up.
void SetMinLogLevel(LogLevel level);
LogLevel MinLogLevel();
// A short tag printed on every line ("coordinator", "client[3]").
void SetLogTag(absl::string_view tag);

void LogLine(LogLevel level, absl::string_view message);

template <typename... Args>
void Log(LogLevel level, const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (level < MinLogLevel()) return;
  LogLine(level, absl::StrFormat(format, args...));
}

}  // namespace fedge

#define FEDGE_LOG(level, ...) ::fedge::Log(::fedge::LogLevel::level, __VA_ARGS__)

#endif  // FEDGE_BASE_LOG_H_
