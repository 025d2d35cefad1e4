#include "bench/device_children.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "data/source.h"
#include "client/model_file.h"
#include "client/torch_plugin.h"
#include "client/trainer.h"
#include "fedge/fedge_client.h"

namespace fedge::bench {

Mem ReadMem(pid_t pid) {
  Mem m;
  std::ifstream in(pid == 0 ? std::string("/proc/self/status")
                            : absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, absl::ByAnyChar(" \t:"), absl::SkipEmpty());
    if (f.size() < 2) continue;
    int64_t v = 0;
    if (!absl::SimpleAtoi(f[1], &v)) continue;
    if (f[0] == "VmRSS") m.rss_kb = v;
    if (f[0] == "RssAnon") m.anon_kb = v;
    if (f[0] == "RssFile") m.file_kb = v;
    if (f[0] == "VmHWM") m.hwm_kb = v;
  }
  return m;
}

namespace {

void PrintMem(const std::string& prefix, const Mem& m) {
  std::printf("%s_rss_kb %lld\n%s_anon_kb %lld\n%s_file_kb %lld\n%s_hwm_kb %lld\n",
              prefix.c_str(), static_cast<long long>(m.rss_kb), prefix.c_str(),
              static_cast<long long>(m.anon_kb), prefix.c_str(),
              static_cast<long long>(m.file_kb), prefix.c_str(),
              static_cast<long long>(m.hwm_kb));
  std::fflush(stdout);
}

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// ---- child: device -------------------------------------------------------------

// A data source of `total` examples cycling through an IDX reader's examples,
// so a large source costs the device nothing itself.
struct CyclingSource {
  fedge_reader* reader = nullptr;
  int64_t total = 0;
  int64_t served = 0;
};

int CyclingReset(void* user) {
  auto* s = static_cast<CyclingSource*>(user);
  s->served = 0;
  return fedge_reader_reset(s->reader);
}

int CyclingNext(void* user, float* images, float* labels, int max, int* n) {
  auto* s = static_cast<CyclingSource*>(user);
  const int want = static_cast<int>(std::min<int64_t>(max, s->total - s->served));
  *n = 0;
  if (want <= 0) return 0;
  if (fedge_reader_next_batch(s->reader, images, labels, want, n) != 0) return 1;
  if (*n == 0) {  // wrapped: start over
    if (fedge_reader_reset(s->reader) != 0) return 1;
    if (fedge_reader_next_batch(s->reader, images, labels, want, n) != 0) return 1;
  }
  s->served += *n;
  return 0;
}

}  // namespace

// ---- child: train ------------------------------------------------------------

// fedge-bench-device train MODEL.fms DATA_DIR PLUGIN_DIR
absl::Status TrainChild(const std::string& model_path, const std::string& data_dir,
                        const std::string& plugin_dir) {
  PrintMem("start", ReadMem(0));
  FEDGE_ASSIGN_OR_RETURN(client::Dataset data, data::LoadDataset(data_dir, data::SourceOptions{"train"}));
  FEDGE_ASSIGN_OR_RETURN(std::string file, ReadFile(model_path));
  FEDGE_ASSIGN_OR_RETURN(client::ModelFile model, client::DecodeModelFile(file, file.size()));
  file.clear();
  file.shrink_to_fit();
  PrintMem("before_torch", ReadMem(0));

  auto t = std::chrono::steady_clock::now();
  client::TorchTrainerOptions options;
  options.threads = 1;
  FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<client::Trainer> trainer,
                         client::LoadTorchTrainer(options, {plugin_dir}));
  std::printf("load_ms %.1f\n", MsSince(t));
  PrintMem("loaded", ReadMem(0));

  protocol::Task task;
  task.round = 1;
  task.model_version = model.version;
  task.model = std::move(model.payload);
  task.config.batch_size = 32;
  task.config.local_epochs = 1;
  task.config.learning_rate = 0.05f;
  client::TrainOutcome out;
  // Each task on a new thread, as the SDK's client host does per run_once.
  for (int epoch = 1; epoch <= 3; ++epoch) {
    t = std::chrono::steady_clock::now();
    absl::Status trained;
    std::thread([&] { trained = trainer->Train(task, data, nullptr, &out); }).join();
    FEDGE_RETURN_IF_ERROR(trained);
    std::printf("epoch%d_ms %.1f\nepoch%d_examples %llu\nepoch%d_accuracy %.4f\n", epoch,
                MsSince(t), epoch, static_cast<unsigned long long>(out.num_examples), epoch,
                out.metrics.accuracy);
    PrintMem(absl::StrCat("epoch", epoch), ReadMem(0));
  }
  trainer.reset();
  PrintMem("trainer_destroyed", ReadMem(0));
  return absl::OkStatus();
}

// fedge-bench-device device ENDPOINT STORE_DIR DATA_DIR EXAMPLES
// Commands on stdin, one per line: "run TIMEOUT_MS" (fedge_client_run_once on
// a worker thread; prints "done STATUS trained=T examples=N" when it returns),
// "cancel", "trim" (malloc_trim(0), as an application could), "quit".
int DeviceChild(const std::string& endpoint, const std::string& store,
                const std::string& data_dir, int64_t examples) {
  CyclingSource source;
  source.total = examples;
  const std::string images = data_dir + "/train-images-idx3-ubyte";
  const std::string labels = data_dir + "/train-labels-idx1-ubyte";
  if (fedge_idx_open(images.c_str(), labels.c_str(), &source.reader) != FEDGE_OK) {
    std::fprintf(stderr, "fedge_idx_open: %s\n", fedge_last_error());
    return 1;
  }
  fedge_config config;
  fedge_config_init(&config);
  config.coordinator_endpoint = endpoint.c_str();
  config.insecure = 1;
  config.storage_dir = store.c_str();
  config.client_id = 0;
  config.max_examples = examples;
  // The reader's declaration ({1, 28, 28} kept as bytes), our callbacks.
  if (fedge_reader_source(source.reader, &config.data) != FEDGE_OK) {
    std::fprintf(stderr, "fedge_reader_source: %s\n", fedge_last_error());
    return 1;
  }
  config.data.user = &source;
  config.data.reset = CyclingReset;
  config.data.next_batch = CyclingNext;
  fedge_client* client = nullptr;
  if (fedge_client_create(&config, &client) != FEDGE_OK) {
    std::fprintf(stderr, "fedge_client_create: %s\n", fedge_last_error());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  std::thread worker;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.rfind("run ", 0) == 0) {
      const int64_t timeout = std::atoll(line.c_str() + 4);
      if (worker.joinable()) worker.join();
      worker = std::thread([client, timeout] {
        fedge_run_report r{};
        const fedge_status s = fedge_client_run_once(client, timeout, &r);
        std::printf("done %s trained=%d examples=%lld\n", fedge_status_name(s), r.trained,
                    static_cast<long long>(r.examples));
        std::fflush(stdout);
      });
    } else if (line == "cancel") {
      fedge_client_cancel(client);
    } else if (line == "trim") {
      if (worker.joinable()) worker.join();
      malloc_trim(0);
      std::printf("trimmed\n");
      std::fflush(stdout);
    } else if (line == "quit") {
      break;
    }
  }
  if (worker.joinable()) worker.join();
  fedge_client_destroy(client);
  fedge_reader_close(source.reader);
  return 0;
}

}  // namespace fedge::bench
