#include "client/device_profile.h"

#include <cmath>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/splitmix.h"

namespace fedge::client {

absl::Status ValidateDeviceProfile(const DeviceProfile& p) {
  if (!(std::isfinite(p.slowdown) && p.slowdown >= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("slowdown ", p.slowdown, " is not a finite number >= 1"));
  }
  if (!(p.online > 0 && p.online <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("online ", p.online, " is not in (0, 1]"));
  }
  return absl::OkStatus();
}

std::string FormatDeviceProfiles(const std::map<uint64_t, DeviceProfile>& profiles) {
  std::string out = "# client_id slowdown online (fedge-sim --device_profile)\n";
  for (const auto& [id, p] : profiles) {
    absl::StrAppendFormat(&out, "%d %.17g %.17g\n", id, p.slowdown, p.online);
  }
  return out;
}

absl::StatusOr<std::map<uint64_t, DeviceProfile>> ParseDeviceProfiles(
    absl::string_view text, absl::string_view file_name) {
  std::map<uint64_t, DeviceProfile> out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(file_name, ":", line_no, ": ", why,
                                                     " (want CLIENT_ID SLOWDOWN ONLINE)"));
    };
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (f.size() != 3) return bad(absl::StrCat(f.size(), " fields"));
    uint64_t id;
    DeviceProfile p;
    if (!absl::SimpleAtoi(f[0], &id) || !absl::SimpleAtod(f[1], &p.slowdown) ||
        !absl::SimpleAtod(f[2], &p.online)) {
      return bad("not numbers");
    }
    if (absl::Status s = ValidateDeviceProfile(p); !s.ok()) return bad(s.message());
    if (!out.emplace(id, p).second) return bad(absl::StrCat("client ", id, " listed again"));
  }
  return out;
}

bool TakesTask(const DeviceProfile& p, uint64_t seed, uint64_t client_id, uint64_t round) {
  if (p.online >= 1) return true;
  // One well-mixed draw per (seed, client, round).
  SplitMix64 a(seed ^ 0x6465766963652d6full);
  SplitMix64 b(a.Next() ^ client_id);
  SplitMix64 c(b.Next() ^ round);
  return c.Uniform() < p.online;
}

absl::Duration HoldFor(const DeviceProfile& p, absl::Duration trained) {
  if (p.slowdown <= 1 || trained <= absl::ZeroDuration()) return absl::ZeroDuration();
  return trained * (p.slowdown - 1);
}

}  // namespace fedge::client
