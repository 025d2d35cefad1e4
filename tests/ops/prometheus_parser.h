#ifndef FEDGE_TESTS_OPS_PROMETHEUS_PARSER_H_
#define FEDGE_TESTS_OPS_PROMETHEUS_PARSER_H_

// A strict reader of the Prometheus text exposition format 0.0.4, written for
// the tests from the format's description, independently of ops/render.cc:
// what it accepts a Prometheus server would scrape.
//   - lines end in \n; "# HELP name text", "# TYPE name type", other "#" lines
//     are comments;
//   - a sample is name{label="value",...} value [timestamp]; names match
//     [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*, label
//     values escape \\, \" and \n; values are Go floats or +Inf, -Inf, NaN;
//   - a family's TYPE comes before its samples, once, and its samples are
//     contiguous; a histogram's buckets have "le", are cumulative, and its
//     +Inf bucket equals its _count.

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace fedge::testing {

struct Scrape {
  // "name" or "name{a=\"x\",b=\"y\"}" (labels sorted) -> value.
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;  // family -> counter|gauge|histogram|...
};

namespace prometheus_internal {

inline bool IsNameStart(char c) { return absl::ascii_isalpha(c) || c == '_' || c == ':'; }
inline bool IsNameChar(char c) { return IsNameStart(c) || absl::ascii_isdigit(c); }

inline absl::StatusOr<double> ParseValue(const std::string& s) {
  if (s == "+Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  if (s == "NaN") return NAN;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || absl::StrContains(s, "inf") ||
      absl::StrContains(s, "nan")) {
    return absl::InvalidArgumentError(absl::StrCat("bad value '", s, "'"));
  }
  return v;
}

// The family a sample belongs to: histograms' suffixes stripped.
inline std::string FamilyOf(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    if (absl::EndsWith(name, suffix)) {
      std::string base = name.substr(0, name.size() - std::string(suffix).size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return name;
}

}  // namespace prometheus_internal

inline absl::StatusOr<Scrape> ParsePrometheusText(const std::string& text) {
  using namespace prometheus_internal;
  Scrape out;
  if (!text.empty() && text.back() != '\n') return absl::InvalidArgumentError("no final newline");
  std::set<std::string> finished_families;
  std::string current_family;
  std::map<std::string, double> last_bucket;  // family -> last cumulative count
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    ++line_no;
    auto fail = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": ", why, ": ", line));
    };
    if (line[0] == '#') {
      std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(' ', 3));
      if (parts.size() >= 3 && parts[1] == "TYPE") {
        if (parts.size() != 4) return fail("TYPE without a type");
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
        if (!kTypes.count(parts[3])) return fail("unknown type");
        if (out.types.count(parts[2])) return fail("second TYPE line");
        out.types[parts[2]] = parts[3];
      }
      continue;
    }
    size_t i = 0;
    if (!IsNameStart(line[0])) return fail("bad metric name");
    while (i < line.size() && IsNameChar(line[i])) ++i;
    const std::string name(line.substr(0, i));
    std::map<std::string, std::string> labels;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t start = i;
        if (!(absl::ascii_isalpha(line[i]) || line[i] == '_')) return fail("bad label name");
        while (i < line.size() && (absl::ascii_isalnum(line[i]) || line[i] == '_')) ++i;
        const std::string label(line.substr(start, i - start));
        if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') return fail("want =\"");
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            if (i + 1 >= line.size()) return fail("dangling escape");
            const char e = line[i + 1];
            if (e == 'n') value += '\n';
            else if (e == '\\' || e == '"') value += e;
            else return fail("bad escape");
            i += 2;
          } else {
            value += line[i++];
          }
        }
        if (i >= line.size()) return fail("unterminated label value");
        ++i;  // closing quote
        if (labels.count(label)) return fail("repeated label");
        labels[label] = value;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) return fail("unterminated labels");
      ++i;  // '}'
    }
    if (i >= line.size() || line[i] != ' ') return fail("want a space before the value");
    std::vector<std::string> rest = absl::StrSplit(line.substr(i + 1), ' ');
    if (rest.empty() || rest.size() > 2) return fail("want a value and an optional timestamp");
    absl::StatusOr<double> v = ParseValue(rest[0]);
    if (!v.ok()) return fail(v.status().message());
    const std::string family = FamilyOf(name, out.types);
    if (!out.types.count(family)) return fail("sample before its TYPE line");
    if (family != current_family) {
      if (finished_families.count(family)) return fail("family's samples not contiguous");
      if (!current_family.empty()) finished_families.insert(current_family);
      current_family = family;
    }
    if (out.types[family] == "counter" && !(*v >= 0)) return fail("negative counter");
    if (absl::EndsWith(name, "_bucket") && out.types[family] == "histogram") {
      if (!labels.count("le")) return fail("bucket without le");
      auto prev = last_bucket.find(family);
      if (prev != last_bucket.end() && *v < prev->second) return fail("buckets not cumulative");
      last_bucket[family] = *v;
    }
    std::string key = name;
    if (!labels.empty()) {
      key += "{";
      bool first = true;
      for (const auto& [k, val] : labels) {
        absl::StrAppend(&key, first ? "" : ",", k, "=\"", val, "\"");
        first = false;
      }
      key += "}";
    }
    if (out.samples.count(key)) return fail("repeated sample");
    out.samples[key] = *v;
  }
  for (const auto& [family, type] : out.types) {
    if (type != "histogram") continue;
    auto inf = out.samples.find(family + "_bucket{le=\"+Inf\"}");
    auto count = out.samples.find(family + "_count");
    if (inf == out.samples.end() || count == out.samples.end() || inf->second != count->second) {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram ", family, ": +Inf bucket and _count missing or unequal"));
    }
  }
  return out;
}

}  // namespace fedge::testing

#endif  // FEDGE_TESTS_OPS_PROMETHEUS_PARSER_H_
