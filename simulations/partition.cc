#include "simulations/partition.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace fedge::sim {
namespace {

constexpr size_t kMinDirichletExamples = 10;
constexpr int kMaxDirichletDraws = 1000;

Partition Iid(size_t n, int clients, std::mt19937_64& rng) {
  std::vector<int64_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng);
  Partition p(clients);
  for (size_t i = 0; i < n; ++i) p[i % clients].push_back(all[i]);
  return p;
}

std::map<int64_t, std::vector<int64_t>> ByClass(const std::vector<int64_t>& labels) {
  std::map<int64_t, std::vector<int64_t>> by_class;
  for (size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(static_cast<int64_t>(i));
  return by_class;
}

absl::StatusOr<Partition> Dirichlet(const std::vector<int64_t>& labels, int clients, double alpha,
                                    std::mt19937_64& rng) {
  std::map<int64_t, std::vector<int64_t>> by_class = ByClass(labels);
  std::gamma_distribution<double> gamma(alpha, 1.0);
  for (int draw = 0; draw < kMaxDirichletDraws; ++draw) {
    Partition p(clients);
    for (auto& [label, idx] : by_class) {
      std::shuffle(idx.begin(), idx.end(), rng);
      std::vector<double> w(clients);
      double sum = 0;
      for (double& x : w) sum += (x = gamma(rng));
      if (sum <= 0) continue;
      // Cut points from cumulative proportions.
      double cum = 0;
      size_t start = 0;
      for (int c = 0; c < clients; ++c) {
        cum += w[c] / sum;
        size_t end = c + 1 == clients ? idx.size()
                                      : std::min(idx.size(), static_cast<size_t>(cum * idx.size()));
        for (size_t i = start; i < end; ++i) p[c].push_back(idx[i]);
        start = std::max(start, end);
      }
    }
    bool ok = true;
    for (const auto& c : p) ok &= c.size() >= kMinDirichletExamples;
    if (ok) {
      for (auto& c : p) std::shuffle(c.begin(), c.end(), rng);
      return p;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "dirichlet:", alpha, " over ", clients, " clients left some client with fewer than ",
      kMinDirichletExamples, " examples in ", kMaxDirichletDraws, " draws; use more data, "
      "fewer clients or a larger alpha"));
}

Partition Shards(const std::vector<int64_t>& labels, int clients, int k, std::mt19937_64& rng) {
  std::vector<int64_t> sorted(labels.size());
  std::iota(sorted.begin(), sorted.end(), 0);
  // Shuffle first so equal labels are in random order, then sort stably by label.
  std::shuffle(sorted.begin(), sorted.end(), rng);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [&](int64_t a, int64_t b) { return labels[a] < labels[b]; });
  const size_t shards = static_cast<size_t>(clients) * k;
  std::vector<size_t> order(shards);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  Partition p(clients);
  for (size_t s = 0; s < shards; ++s) {
    size_t shard = order[s];
    size_t begin = shard * sorted.size() / shards, end = (shard + 1) * sorted.size() / shards;
    auto& dst = p[s / k];
    dst.insert(dst.end(), sorted.begin() + begin, sorted.begin() + end);
  }
  return p;
}

}  // namespace

std::vector<std::vector<uint64_t>> BalanceClients(const Partition& partition, int per_process) {
  const size_t n = partition.size();
  const size_t cap = static_cast<size_t>(std::max(1, per_process));
  const size_t processes = (n + cap - 1) / cap;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Ties keep id order: the grouping is deterministic.
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return partition[a].size() > partition[b].size(); });
  std::vector<std::vector<uint64_t>> groups(processes);
  std::vector<uint64_t> load(processes, 0);
  for (size_t c : order) {
    size_t best = processes;
    for (size_t p = 0; p < processes; ++p) {
      if (groups[p].size() < cap && (best == processes || load[p] < load[best])) best = p;
    }
    groups[best].push_back(c);
    load[best] += partition[c].size();
  }
  for (std::vector<uint64_t>& g : groups) std::sort(g.begin(), g.end());
  return groups;
}

Partition SplitHoldout(Partition* train, double fraction, uint64_t seed) {
  Partition held(train->size());
  if (fraction <= 0) return held;
  for (size_t c = 0; c < train->size(); ++c) {
    std::vector<int64_t>& mine = (*train)[c];
    if (mine.size() < 2) continue;
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + c + 1);
    std::shuffle(mine.begin(), mine.end(), rng);
    size_t k = static_cast<size_t>(std::llround(fraction * static_cast<double>(mine.size())));
    k = std::clamp<size_t>(k, 1, mine.size() - 1);
    held[c].assign(mine.end() - static_cast<std::ptrdiff_t>(k), mine.end());
    mine.resize(mine.size() - k);
    std::sort(held[c].begin(), held[c].end());
    std::sort(mine.begin(), mine.end());
  }
  return held;
}

std::vector<int64_t> PartitionGroups(const data::Dataset& targets, const protocol::TaskSpec& task) {
  const int64_t n = targets.size(), per = targets.TargetSize();
  std::vector<int64_t> groups(static_cast<size_t>(n));
  switch (task.target) {
    case protocol::TargetKind::kClass:
    case protocol::TargetKind::kBinary:
      for (int64_t i = 0; i < n; ++i) groups[i] = static_cast<int64_t>(targets.Target(i));
      break;
    case protocol::TargetKind::kMultiLabel:
      for (int64_t i = 0; i < n; ++i) {
        int64_t g = per;
        for (int64_t k = 0; k < per && g == per; ++k) {
          if (targets.targets[static_cast<size_t>(i * per + k)] > 0.5f) g = k;
        }
        groups[i] = g;
      }
      break;
    case protocol::TargetKind::kReal: {
      std::vector<float> sorted(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) sorted[i] = targets.Target(i);
      std::sort(sorted.begin(), sorted.end());
      for (int64_t i = 0; i < n; ++i) {
        // The rank of the value's first occurrence, so equal values share a bucket.
        const int64_t rank = std::lower_bound(sorted.begin(), sorted.end(), targets.Target(i)) -
                             sorted.begin();
        groups[i] = rank * kQuantileBuckets / std::max<int64_t>(1, n);
      }
      break;
    }
  }
  return groups;
}

absl::StatusOr<Partition> MakePartition(const std::string& spec,
                                        const std::vector<int64_t>& labels, int clients,
                                        uint64_t seed) {
  if (clients <= 0) return absl::InvalidArgumentError("need at least one client");
  if (static_cast<size_t>(clients) > labels.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        clients, " clients but only ", labels.size(), " examples"));
  }
  std::mt19937_64 rng(seed);
  if (spec == "iid") return Iid(labels.size(), clients, rng);
  if (absl::StartsWith(spec, "dirichlet:")) {
    double alpha = 0;
    if (!absl::SimpleAtod(spec.substr(10), &alpha) || !(alpha > 0) || !std::isfinite(alpha)) {
      return absl::InvalidArgumentError(absl::StrCat("--partition ", spec, ": alpha must be > 0"));
    }
    return Dirichlet(labels, clients, alpha, rng);
  }
  if (absl::StartsWith(spec, "shards:")) {
    int k = 0;
    if (!absl::SimpleAtoi(spec.substr(7), &k) || k < 1 ||
        static_cast<size_t>(k) * clients > labels.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--partition ", spec, ": K must be >= 1 and clients*K at most the example count"));
    }
    return Shards(labels, clients, k, rng);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--partition '", spec, "' is not iid, dirichlet:ALPHA or shards:K"));
}

std::string FormatPartition(const Partition& p) {
  std::string out;
  for (const auto& c : p) {
    absl::StrAppend(&out, absl::StrJoin(c, " "), "\n");
  }
  return out;
}

absl::StatusOr<Partition> ParsePartition(const std::string& text, int clients,
                                         int64_t dataset_size) {
  Partition p;
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.size() != static_cast<size_t>(clients)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "partition file has ", lines.size(), " lines, --clients is ", clients));
  }
  for (size_t l = 0; l < lines.size(); ++l) {
    std::vector<int64_t> idx;
    for (absl::string_view tok : absl::StrSplit(lines[l], absl::ByAnyChar(" \t\r"),
                                                absl::SkipEmpty())) {
      int64_t v;
      if (!absl::SimpleAtoi(tok, &v) || v < 0 || v >= dataset_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            "partition file line ", l + 1, ": '", tok, "' is not an index in [0, ",
            dataset_size, ")"));
      }
      idx.push_back(v);
    }
    if (idx.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("partition file line ", l + 1, " is empty"));
    }
    p.push_back(std::move(idx));
  }
  return p;
}

}  // namespace fedge::sim
