// fedge-bench-predict: gateway inference against on-device prediction, as
// devices see it (scripts/gateway_predict_bench.sh runs the matrix).
//
//   fedge-bench-predict --mode=gateway --endpoint=tcp://127.0.0.1:P --store=DIR
//       --devices=D --examples=N --seconds=S
//   fedge-bench-predict --mode=device --store=DIR --devices=D --examples=N --seconds=S
//
// D threads, each one device (its own fedge_client over the SDK's C API),
// call fedge_gateway_predict (gateway) or fedge_model_predict (device, the
// model in the store at DIR) on N examples back to back for S seconds after
// 20 warm-up calls each. Prints one line: calls per second over all devices,
// examples per second, and the median and 99th-percentile call latency in
// microseconds. A gateway call that fell back to the device's own model
// counts as a failure (printed), so the gateway figures are the gateway's.
// Links only the SDK, like firmware.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "fedge/fedge_client.h"

ABSL_FLAG(std::string, mode, "gateway", "gateway (fedge_gateway_predict) or device");
ABSL_FLAG(std::string, endpoint, "", "The gateway (--mode=gateway)");
ABSL_FLAG(std::string, store, "", "A model store holding the model (every device reads it)");
ABSL_FLAG(int, devices, 1, "Devices predicting at once, a thread each");
ABSL_FLAG(int, examples, 1, "Examples per call");
ABSL_FLAG(double, seconds, 5, "Measured time");
ABSL_FLAG(int64_t, timeout_ms, 5000, "fedge_gateway_predict's timeout");

namespace {

using Clock = std::chrono::steady_clock;

struct Result {
  std::vector<double> latency_us;
  int failures = 0;
  std::string first_error;
};

// Counts itself in `ready` once warmed up (or failed), then waits for `go`.
void Device(int id, const std::string& mode, std::atomic<int>* ready, std::atomic<bool>* go,
            const Clock::time_point* end, Result* result) {
  struct CountIn {
    std::atomic<int>* ready;
    bool done = false;
    void operator()() { if (!done) done = true, ready->fetch_add(1); }
    ~CountIn() { (*this)(); }
  } count_in{ready};
  fedge_config config;
  fedge_config_init(&config);
  const std::string endpoint = absl::GetFlag(FLAGS_endpoint);
  const std::string store = absl::GetFlag(FLAGS_store);
  config.coordinator_endpoint = endpoint.c_str();
  config.insecure = 1;
  config.storage_dir = store.c_str();
  config.client_id = static_cast<uint64_t>(id);
  fedge_client* client = nullptr;
  if (fedge_client_create(&config, &client) != FEDGE_OK) {
    result->failures = 1;
    result->first_error = fedge_last_error();
    return;
  }
  fedge_model_info info;
  if (fedge_model_get_info(client, &info) != FEDGE_OK) {
    result->failures = 1;
    result->first_error = fedge_last_error();
    fedge_client_destroy(client);
    return;
  }
  const int n = absl::GetFlag(FLAGS_examples);
  std::vector<float> in(size_t(n) * info.input_size);
  std::mt19937 rng(id);
  std::uniform_real_distribution<float> u(0, 1);
  for (float& x : in) x = u(rng);
  std::vector<float> out(size_t(n) * info.output_size);
  const int64_t timeout = absl::GetFlag(FLAGS_timeout_ms);
  auto call = [&]() -> bool {
    if (mode == "device") {
      return fedge_model_predict(client, n, in.data(), in.size(), out.data(), out.size()) ==
             FEDGE_OK;
    }
    fedge_predict_report report;
    const fedge_status s = fedge_gateway_predict(client, n, in.data(), in.size(), out.data(),
                                                 out.size(), timeout, &report);
    if (s == FEDGE_OK && report.source != FEDGE_PREDICTED_BY_GATEWAY && result->first_error.empty()) {
      result->first_error = report.gateway_message;
    }
    return s == FEDGE_OK && report.source == FEDGE_PREDICTED_BY_GATEWAY;
  };
  for (int i = 0; i < 20; ++i) call();  // connect, load the model
  count_in();
  while (!go->load()) std::this_thread::yield();
  while (Clock::now() < *end) {
    const Clock::time_point t0 = Clock::now();
    const bool ok = call();
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    if (ok) {
      result->latency_us.push_back(us);
    } else {
      if (result->first_error.empty()) result->first_error = fedge_last_error();
      ++result->failures;
    }
  }
  fedge_client_destroy(client);
}

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, size_t(q * double(v.size())));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  const int devices = absl::GetFlag(FLAGS_devices);
  if ((mode != "gateway" && mode != "device") || devices < 1 || absl::GetFlag(FLAGS_examples) < 1 ||
      absl::GetFlag(FLAGS_store).empty() ||
      (mode == "gateway" && absl::GetFlag(FLAGS_endpoint).empty())) {
    std::fprintf(stderr, "usage: see the top of bench/gateway_predict.cc\n");
    return 2;
  }
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  Clock::time_point end;
  std::vector<Result> results(devices);
  std::vector<std::thread> threads;
  for (int i = 0; i < devices; ++i) {
    threads.emplace_back(Device, i + 1, mode, &ready, &go, &end, &results[i]);
  }
  // The clock starts once every device warmed up (or failed).
  while (ready.load() < devices) std::this_thread::yield();
  const auto seconds = std::chrono::duration<double>(absl::GetFlag(FLAGS_seconds));
  end = Clock::now() + std::chrono::duration_cast<Clock::duration>(seconds);
  go.store(true);
  for (std::thread& t : threads) t.join();
  std::vector<double> all;
  int failures = 0;
  std::string error;
  for (Result& r : results) {
    all.insert(all.end(), r.latency_us.begin(), r.latency_us.end());
    failures += r.failures;
    if (error.empty()) error = r.first_error;
  }
  const double calls_per_s = double(all.size()) / seconds.count();
  const double p50 = Percentile(all, 0.5);
  const double p99 = Percentile(all, 0.99);
  std::printf("mode=%s devices=%d examples=%d calls_per_s=%.0f examples_per_s=%.0f p50_us=%.0f "
              "p99_us=%.0f failures=%d%s%s\n",
              mode.c_str(), devices, absl::GetFlag(FLAGS_examples), calls_per_s,
              calls_per_s * absl::GetFlag(FLAGS_examples), p50, p99, failures,
              error.empty() ? "" : " first_error=", error.c_str());
  return failures > 0 ? 1 : 0;
}
