// fedge-bench-compression: what update compression costs, on a cnn-sized
// delta (1,663,370 float32), per method: the device's Compress and the
// coordinator's Decompress, each as a ratio to the FedAvg fold of one
// float32 update measured in the same process (the coordinator's work per
// update without compression). Prints one JSON object per method.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "aggregation/aggregator.h"
#include "compression/compression.h"

namespace {

constexpr size_t kParams = 1663370;
constexpr int kReps = 9;

double MedianSeconds(const std::function<void()>& op) {
  op();  // warm-up: page in buffers
  std::vector<double> t;
  for (int r = 0; r < kReps; ++r) {
    const auto start = std::chrono::steady_clock::now();
    op();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main() {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0, 0.01f);
  std::vector<float> delta(kParams);
  for (float& x : delta) x = normal(rng);

  auto fedavg = fedge::aggregation::MakeFedAvgAggregator();
  fedavg->Reset(kParams);
  const double fold = MedianSeconds([&] { (void)fedavg->Add(delta, 600.0); });

  for (const char* name : {"fp16", "int8", "int4", "topk:0.1"}) {
    const fedge::compression::Config c = *fedge::compression::ParseConfig(name);
    std::vector<float> residual, out;
    std::string payload;
    uint64_t seed = 0;
    const double compress = MedianSeconds([&] {
      residual.assign(kParams, 0.0f);  // every call from the same state
      (void)fedge::compression::Compress(delta, c, ++seed, &residual, &payload);
    });
    const double decompress = MedianSeconds(
        [&] { (void)fedge::compression::Decompress(c.method, payload, kParams, &out); });
    std::printf("%s\n",
                absl::StrFormat("{\"method\":\"%s\",\"params\":%d,\"payload_bytes\":%d,"
                                "\"ratio_to_float32\":%.4f,\"compress_ms\":%.2f,"
                                "\"decompress_ms\":%.2f,\"fold_ms\":%.3f,"
                                "\"decompress_vs_fold\":%.2f}",
                                name, kParams, payload.size(),
                                payload.size() / (4.0 * kParams), compress * 1e3,
                                decompress * 1e3, fold * 1e3, decompress / fold)
                    .c_str());
  }
  return 0;
}
