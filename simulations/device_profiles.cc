#include "simulations/device_profiles.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <random>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"

namespace fedge::sim {
namespace {

absl::Status Bad(const std::string& spec, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "--device_profile=", spec, ": ", why,
      " (want terms base=FACTOR, slow=FRACTION:FACTOR or lognormal=SIGMA, online=P; or "
      "file=PATH)"));
}

}  // namespace

absl::StatusOr<std::map<uint64_t, client::DeviceProfile>> DeviceProfilesFromSpec(
    const std::string& spec, int clients, uint64_t seed) {
  std::map<uint64_t, client::DeviceProfile> out;
  for (int i = 0; i < clients; ++i) out[static_cast<uint64_t>(i)] = client::DeviceProfile();
  std::optional<std::pair<double, double>> slow;  // fraction, factor
  std::optional<double> sigma, online, base;
  std::optional<std::string> file;
  for (absl::string_view term : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    absl::string_view v = term;
    if (absl::ConsumePrefix(&v, "slow=")) {
      std::vector<absl::string_view> parts = absl::StrSplit(v, ':');
      double fraction, factor;
      if (parts.size() != 2 || !absl::SimpleAtod(parts[0], &fraction) ||
          !absl::SimpleAtod(parts[1], &factor) || !(fraction >= 0 && fraction <= 1) ||
          !(std::isfinite(factor) && factor >= 1)) {
        return Bad(spec, absl::StrCat("'", term, "': want FRACTION in [0, 1] and FACTOR >= 1"));
      }
      slow = {fraction, factor};
    } else if (v = term; absl::ConsumePrefix(&v, "lognormal=")) {
      double s;
      if (!absl::SimpleAtod(v, &s) || !(s >= 0 && s <= 5)) {
        return Bad(spec, absl::StrCat("'", term, "': want SIGMA in [0, 5]"));
      }
      sigma = s;
    } else if (v = term; absl::ConsumePrefix(&v, "base=")) {
      double f;
      if (!absl::SimpleAtod(v, &f) || !(f >= 1 && f <= 1000)) {
        return Bad(spec, absl::StrCat("'", term, "': want FACTOR in [1, 1000]"));
      }
      base = f;
    } else if (v = term; absl::ConsumePrefix(&v, "online=")) {
      double p;
      if (!absl::SimpleAtod(v, &p) || !(p > 0 && p <= 1)) {
        return Bad(spec, absl::StrCat("'", term, "': want P in (0, 1]"));
      }
      online = p;
    } else if (v = term; absl::ConsumePrefix(&v, "file=") && !v.empty()) {
      file = std::string(v);
    } else {
      return Bad(spec, absl::StrCat("unknown term '", term, "'"));
    }
  }
  if (slow && sigma) return Bad(spec, "slow and lognormal exclude each other");
  if (file && (slow || sigma || online || base)) return Bad(spec, "file= stands alone");
  if (file) {
    absl::StatusOr<std::string> text = ReadFile(*file);
    if (!text.ok()) return Bad(spec, text.status().message());
    absl::StatusOr<std::map<uint64_t, client::DeviceProfile>> listed =
        client::ParseDeviceProfiles(*text, *file);
    if (!listed.ok()) return Bad(spec, listed.status().message());
    for (const auto& [id, p] : *listed) {
      if (id >= static_cast<uint64_t>(clients)) {
        return Bad(spec, absl::StrCat(*file, " lists client ", id, " of ", clients, " (ids 0-",
                                      clients - 1, ")"));
      }
      out[id] = p;
    }
    return out;
  }
  std::mt19937_64 rng(seed ^ 0x70726f66696c6573ull);
  if (slow) {
    std::vector<uint64_t> ids(static_cast<size_t>(clients));
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    const size_t n = static_cast<size_t>(std::lround(slow->first * clients));
    for (size_t i = 0; i < n; ++i) out[ids[i]].slowdown = slow->second;
  }
  if (sigma) {
    std::normal_distribution<double> normal;
    std::vector<double> z(static_cast<size_t>(clients));
    for (double& x : z) x = normal(rng);
    const double top = *std::max_element(z.begin(), z.end());
    for (int i = 0; i < clients; ++i) out[i].slowdown = std::exp(*sigma * (top - z[i]));
  }
  if (online) {
    for (auto& [id, p] : out) p.online = *online;
  }
  if (base) {
    for (auto& [id, p] : out) p.slowdown *= *base;
  }
  return out;
}

std::string DescribeDeviceProfiles(const std::map<uint64_t, client::DeviceProfile>& profiles) {
  size_t slower = 0, offline_sometimes = 0;
  double max_slowdown = 1, sum = 0, online_sum = 0;
  for (const auto& [id, p] : profiles) {
    slower += p.slowdown > 1;
    offline_sometimes += p.online < 1;
    max_slowdown = std::max(max_slowdown, p.slowdown);
    sum += p.slowdown;
    online_sum += p.online;
  }
  const double n = static_cast<double>(std::max<size_t>(profiles.size(), 1));
  return absl::StrFormat(
      "%d of %d clients slower than this machine (up to %.2fx, mean %.2fx); %d take a task "
      "with probability < 1 (mean %.3f)",
      slower, profiles.size(), max_slowdown, sum / n, offline_sometimes, online_sum / n);
}

}  // namespace fedge::sim
