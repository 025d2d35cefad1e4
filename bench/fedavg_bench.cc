// Measures the aggregation fold and the model codec on a CNN-sized model
// (1,663,370 float32 parameters) and prints one JSON object.
//
// Each figure is the median of several timed repetitions after a warm-up; the
// baseline plain loop runs in the same process on the same buffers, so the
// ratio is what matters, not the absolute GB/s of this machine.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>

#include "absl/strings/str_format.h"
#include "aggregation/aggregator.h"
#include "protocol/codec.h"

namespace {

constexpr size_t kParams = 1663370;  // the FedAvg CNN
constexpr int kReps = 15;

double SecondsPerCall(const std::function<void()>& op, int inner) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < inner; ++i) op();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / inner;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Times `a` and `b` alternately so both see the same machine noise; returns
// median seconds of each and the median of the per-pair ratios a/b.
struct Paired {
  double a, b, ratio;
};
Paired MedianPaired(const std::function<void()>& a, const std::function<void()>& b, int inner) {
  a();
  b();
  std::vector<double> ta, tb, r;
  for (int rep = 0; rep < 3 * kReps; ++rep) {
    ta.push_back(SecondsPerCall(a, inner));
    tb.push_back(SecondsPerCall(b, inner));
    r.push_back(ta.back() / tb.back());
  }
  return {Median(ta), Median(tb), Median(r)};
}

double MedianSeconds(const std::function<void()>& op, int inner) {
  op();  // warm-up: page in buffers
  std::vector<double> t;
  for (int r = 0; r < kReps; ++r) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < inner; ++i) op();
    auto end = std::chrono::steady_clock::now();
    t.push_back(std::chrono::duration<double>(end - start).count() / inner);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// The baseline the issue names: acc[i] += w * x[i], nothing else.
__attribute__((noinline)) void PlainLoop(float w, const float* __restrict x,
                                         float* __restrict acc, size_t n) {
  for (size_t i = 0; i < n; ++i) acc[i] += w * x[i];
}

// The same loop compiled for AVX2, so the report can say how much of any
// advantage is instruction set rather than code.
__attribute__((noinline, target("avx2"))) void PlainLoopAvx2(float w, const float* __restrict x,
                                                             float* __restrict acc, size_t n) {
  for (size_t i = 0; i < n; ++i) acc[i] += w * x[i];
}

bool HasAvx2() { return __builtin_cpu_supports("avx2"); }

}  // namespace

int main() {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0, 0.01f);
  std::vector<float> update(kParams), acc(kParams, 0.0f);
  for (float& x : update) x = normal(rng);
  const double update_bytes = static_cast<double>(kParams) * sizeof(float);

  float w = 0.5f;
  auto agg = fedge::aggregation::MakeFedAvgAggregator();
  agg->Reset(kParams);
  auto plain_op = [&] { PlainLoop(w, update.data(), acc.data(), kParams); };
  auto fold_op = [&] { (void)agg->Add(update, 600.0); };
  Paired vs_plain = MedianPaired(plain_op, fold_op, 10);
  Paired vs_avx2 = vs_plain;
  if (HasAvx2()) {
    vs_avx2 = MedianPaired([&] { PlainLoopAvx2(w, update.data(), acc.data(), kParams); }, fold_op, 10);
  }

  fedge::protocol::Task task;
  task.round = 1;
  task.model.manifest.tensors = {{"all", {static_cast<int64_t>(kParams)}, fedge::protocol::DType::kFloat32}};
  task.model.architecture_id = "builtin:cnn";
  task.model.weights = update;
  std::string frame;
  double encode = MedianSeconds([&] { frame = fedge::protocol::Encode(task); }, 5);
  fedge::protocol::Message decoded;
  double decode = MedianSeconds(
      [&] { (void)fedge::protocol::DecodeInto(frame, {}, &decoded); }, 5);

  fedge::protocol::Update u;
  u.delta = update;
  u.num_examples = 600;
  std::string uframe = fedge::protocol::Encode(u);
  fedge::protocol::Message scratch;
  double decode_update = MedianSeconds(
      [&] { (void)fedge::protocol::DecodeInto(uframe, {}, &scratch); }, 5);

  const double gb = 1e9;
  std::printf(
      "%s\n",
      absl::StrFormat(
          "{\"params\":%d,\"update_mb\":%.2f,"
          "\"plain_loop_gbps\":%.2f,\"fedavg_fold_gbps\":%.2f,\"fold_vs_plain_ratio\":%.3f,"
          "\"plain_loop_avx2_gbps\":%.2f,\"fold_vs_plain_avx2_ratio\":%.3f,"
          "\"task_encode_gbps\":%.2f,\"task_encode_ms\":%.3f,"
          "\"task_decode_gbps\":%.2f,\"task_decode_ms\":%.3f,"
          "\"update_decode_into_gbps\":%.2f,\"update_decode_into_ms\":%.3f,\"frame_bytes\":%d}",
          kParams, update_bytes / 1e6, update_bytes / vs_plain.a / gb,
          update_bytes / vs_plain.b / gb, vs_plain.ratio, update_bytes / vs_avx2.a / gb,
          vs_avx2.ratio, frame.size() / encode / gb, encode * 1e3, frame.size() / decode / gb,
          decode * 1e3, uframe.size() / decode_update / gb, decode_update * 1e3, frame.size())
          .c_str());
  return 0;
}
