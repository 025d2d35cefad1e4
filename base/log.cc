#include "base/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fedge {
namespace {

LogLevel LevelFromEnv() {
  const char* env = std::getenv("FEDGE_LOG_LEVEL");
  if (env == nullptr) return LogLevel::kInfo;
  std::string v = absl::AsciiStrToLower(env);
  if (v == "debug") return LogLevel::kDebug;
  if (v == "warning") return LogLevel::kWarning;
  if (v == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

std::atomic<int>& MinLevel() {
  static std::atomic<int> level{static_cast<int>(LevelFromEnv())};
  return level;
}

absl::Mutex tag_mu(absl::kConstInit);
std::string* tag ABSL_GUARDED_BY(tag_mu) = nullptr;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "D";
    case LogLevel::kInfo: return "I";
    case LogLevel::kWarning: return "W";
    case LogLevel::kError: return "E";
  }
  return "?";
}

}  // namespace

void SetMinLogLevel(LogLevel level) { MinLevel().store(static_cast<int>(level)); }
LogLevel MinLogLevel() { return static_cast<LogLevel>(MinLevel().load()); }

void SetLogTag(absl::string_view new_tag) {
  absl::MutexLock lock(&tag_mu);
  if (tag == nullptr) tag = new std::string;
  tag->assign(new_tag.data(), new_tag.size());
}

void LogLine(LogLevel level, absl::string_view message) {
  std::string line = absl::FormatTime("%H:%M:%E3S", absl::Now(), absl::LocalTimeZone());
  line += ' ';
  line += LevelName(level);
  {
    absl::MutexLock lock(&tag_mu);
    if (tag != nullptr && !tag->empty()) {
      line += " [";
      line += *tag;
      line += ']';
    }
  }
  line += ' ';
  line.append(message.data(), message.size());
  line += '\n';
  // One write per line; a short write to a terminal is not worth retrying.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace fedge
