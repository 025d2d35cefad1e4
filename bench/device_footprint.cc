// fedge-bench-device: what a device pays to run fedge (README "Device
// footprint"). Run without arguments (scripts/device_footprint.sh does) it
// measures, each in a fresh child process so a peak RSS belongs to one
// measurement, and prints markdown tables:
//
//  train   one local epoch (batch 32, lr 0.05, one thread) on the first
//          --examples Fashion-MNIST training images, for mlp and cnn, through
//          the Trainer a device uses (client::LoadTorchTrainer, i.e. the
//          dlopen'ed torch plugin): RSS before LibTorch is loaded, after, the
//          peak (VmHWM) and wall time; then two more epochs (warm), each
//          on a new thread as the SDK trains, and what stays resident.
//  idle    a device (libfedge_client through its C API) inside
//          fedge_client_run_once, registered with a real fedge-coordinator that
//          has no task for it (--min_clients=2), its VmRSS read from
//          /proc/<pid>/status once the coordinator logged the registration;
//          then the same device after run_once calls that trained (a
//          coordinator with --min_clients=1 on the same endpoint), waiting
//          again. Also a device whose data source holds --large_examples.
//  sizes   libfedge_client.so and the torch plugin on disk, unstripped and
//          stripped; the shared libraries the plugin adds (LibTorch & co.).
//  infer   per-example inference latency (batch 1 and 32, one thread) of the
//          exported float32 and int8 models (fedge-bench-inference).
//
// The child modes (`train`, `device`) are this binary run by itself. It is
// torch-free: LibTorch is only ever loaded through the plugin, as on a device.
// Nothing here sleeps to wait for an outcome except the settle time before a
// reading of an idle process's RSS.

#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/child_process.h"
#include "bench/device_children.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "data/source.h"
#include "client/model_file.h"
#include "client/torch_plugin.h"
#include "client/trainer.h"
#include "fedge/fedge_client.h"

ABSL_FLAG(std::string, data_dir, "/usr/share/datasets/fashion-mnist",
          "Fashion-MNIST IDX files (train-images-idx3-ubyte.gz, ...)");
ABSL_FLAG(int, examples, 600, "Training examples (the first ones of the training set)");
ABSL_FLAG(int, large_examples, 60000,
          "Examples of the extra idle device with a large data source; 0 skips it");
ABSL_FLAG(std::string, models, "mlp,cnn", "Built-in models to measure");
ABSL_FLAG(std::string, parts, "train,idle,sizes,infer", "What to measure");
ABSL_FLAG(std::string, work_dir, "", "Scratch directory (default: a fresh one under /tmp)");
ABSL_FLAG(double, settle_seconds, 2.0,
          "Wait after a device registered (or returned) before reading its RSS");

namespace fedge::bench {
namespace {

struct Env {
  std::string self;     // this binary
  std::string bin_dir;  // build/bin: fedge-coordinator, the plugin, fedge-bench-inference
  std::string lib_dir;  // build/lib: libfedge_client.so
  std::string work;
  std::string data;     // small IDX files: the first --examples examples
  std::vector<std::string> models;
};

std::string Log(const Env& e, const std::string& name) { return e.work + "/" + name + ".log"; }

// Writes the first `n` training examples as uncompressed IDX files.
absl::Status WriteSmallDataset(const std::string& from, const std::string& to, int n) {
  FEDGE_ASSIGN_OR_RETURN(client::Dataset all, data::LoadDataset(from, data::SourceOptions{"train"}));
  if (all.size() < n) return absl::InvalidArgumentError("not enough training examples");
  auto be32 = [](uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  const uint32_t rows = static_cast<uint32_t>(all.example_shape[1]);
  const uint32_t cols = static_cast<uint32_t>(all.example_shape[2]);
  const size_t px = static_cast<size_t>(n) * rows * cols;
  std::string images = be32(0x803) + be32(n) + be32(rows) + be32(cols) +
                       std::string(all.bytes.begin(), all.bytes.begin() + px);
  std::string labels = be32(0x801) + be32(n);
  for (int i = 0; i < n; ++i) labels.push_back(static_cast<char>(all.targets[i]));
  FEDGE_RETURN_IF_ERROR(MakeDirs(to));
  FEDGE_RETURN_IF_ERROR(WriteFileAtomically(to + "/train-images-idx3-ubyte", images));
  return WriteFileAtomically(to + "/train-labels-idx1-ubyte", labels);
}

std::string ModelFile(const Env& e, const std::string& model) {
  return absl::StrCat(e.work, "/", model, ".fms");
}

absl::Status MakeModels(const Env& e) {
  for (const std::string& m : e.models) {
    FEDGE_ASSIGN_OR_RETURN(
        auto c, Child::Spawn({e.bin_dir + "/fedge-bench-inference", "init", m, ModelFile(e, m)},
                             Log(e, "init")));
    FEDGE_RETURN_IF_ERROR(c->Collect(absl::Minutes(2)).status());
  }
  return absl::OkStatus();
}

// ---- parent: training --------------------------------------------------------

absl::StatusOr<std::map<std::string, Fields>> MeasureTraining(const Env& e) {
  std::map<std::string, Fields> out;
  for (const std::string& m : e.models) {
    FEDGE_ASSIGN_OR_RETURN(
        auto c, Child::Spawn({e.self, "train", ModelFile(e, m), e.data, e.bin_dir},
                             Log(e, "train-" + m)));
    FEDGE_ASSIGN_OR_RETURN(out[m], c->Collect(absl::Minutes(20)));
  }
  return out;
}

// ---- parent: idle device -------------------------------------------------------

absl::StatusOr<int> FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return absl::InternalError("cannot find a free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// Waits until `path` contains `needle` `count` times.
absl::Status WaitForLog(const std::string& path, const std::string& needle, int count,
                        absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    absl::StatusOr<std::string> text = ReadFile(path);
    if (text.ok()) {
      int seen = 0;
      for (size_t p = text->find(needle); p != std::string::npos; p = text->find(needle, p + 1)) {
        ++seen;
      }
      if (seen >= count) return absl::OkStatus();
    }
    ::usleep(50000);
  }
  return absl::DeadlineExceededError(absl::StrCat(path, ": no \"", needle, "\" in time"));
}

struct IdleReading {
  std::string state;
  Mem mem;
};

class IdleRun {
 public:
  IdleRun(const Env& e, std::string model, std::string endpoint)
      : e_(e), model_(std::move(model)), endpoint_(std::move(endpoint)) {}

  std::vector<IdleReading>& readings() { return readings_; }

  absl::Status Start(int64_t examples) {
    const std::string store = absl::StrCat(e_.work, "/store-", model_, "-", examples);
    FEDGE_ASSIGN_OR_RETURN(device_, Child::Spawn({e_.self, "device", endpoint_, store, e_.data,
                                                  absl::StrCat(examples)},
                                                 Log(e_, "device-" + model_), true));
    FEDGE_ASSIGN_OR_RETURN(std::string line, device_->ReadLine(absl::Seconds(30)));
    if (line != "ready") return absl::InternalError(absl::StrCat("device said: ", line));
    Settle();
    Read("created (fedge_client_create), not connected");
    return absl::OkStatus();
  }

  // run_once against a coordinator with no task for this device; reads the
  // RSS once the coordinator logged the registration, then cancels.
  absl::Status WaitIdle(const std::string& state) {
    const std::string log = Log(e_, absl::StrCat("coordinator-idle-", model_, "-", ++n_));
    FEDGE_ASSIGN_OR_RETURN(auto coord, Coordinator(/*min_clients=*/2, log));
    FEDGE_RETURN_IF_ERROR(device_->Send("run 600000"));
    FEDGE_RETURN_IF_ERROR(WaitForLog(log, "registered (", 1, absl::Seconds(60)));
    Settle();
    Read(state);
    FEDGE_RETURN_IF_ERROR(device_->Send("cancel"));
    FEDGE_ASSIGN_OR_RETURN(std::string done, device_->ReadLine(absl::Seconds(60)));
    if (done.rfind("done CANCELLED", 0) != 0) {
      return absl::InternalError(absl::StrCat("idle run_once: ", done));
    }
    coord->Terminate();
    return absl::OkStatus();
  }

  // run_once against a coordinator that gives it a task (--min_clients=1).
  absl::Status Train(const std::string& state) {
    const std::string log = Log(e_, absl::StrCat("coordinator-train-", model_, "-", ++n_));
    FEDGE_ASSIGN_OR_RETURN(auto coord, Coordinator(/*min_clients=*/1, log));
    FEDGE_RETURN_IF_ERROR(device_->Send("run 600000"));
    FEDGE_ASSIGN_OR_RETURN(std::string done, device_->ReadLine(absl::Minutes(11)));
    if (done.rfind("done OK trained=1", 0) != 0) {
      return absl::InternalError(absl::StrCat("training run_once: ", done));
    }
    Settle();
    Read(state);
    (void)coord->Wait(absl::Seconds(20), /*terminate_ok=*/true);
    return absl::OkStatus();
  }

  absl::Status Trim(const std::string& state) {
    FEDGE_RETURN_IF_ERROR(device_->Send("trim"));
    FEDGE_ASSIGN_OR_RETURN(std::string line, device_->ReadLine(absl::Seconds(30)));
    if (line != "trimmed") return absl::InternalError(absl::StrCat("trim: ", line));
    Read(state);
    return absl::OkStatus();
  }

  // Quits the device; its peak RSS (wait4).
  absl::StatusOr<int64_t> Finish() {
    FEDGE_RETURN_IF_ERROR(device_->Send("quit"));
    return device_->Wait(absl::Seconds(30));
  }

 private:
  absl::StatusOr<std::unique_ptr<Child>> Coordinator(int min_clients, const std::string& log) {
    FEDGE_ASSIGN_OR_RETURN(
        auto c, Child::Spawn({e_.bin_dir + "/fedge-coordinator", "--listen=" + endpoint_,
                              "--insecure", "--model=" + model_, "--rounds=1",
                              absl::StrCat("--min_clients=", min_clients), "--batch_size=32",
                              "--local_epochs=1", "--lr=0.05", "--quiet"},
                             log, false, {{"FEDGE_LOG_LEVEL", "debug"}}));
    FEDGE_RETURN_IF_ERROR(WaitForLog(log, "listening on", 1, absl::Seconds(60)));
    return c;
  }

  void Settle() { absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_settle_seconds))); }
  void Read(const std::string& state) { readings_.push_back({state, ReadMem(device_->pid())}); }

  const Env& e_;
  const std::string model_;
  const std::string endpoint_;
  std::unique_ptr<Child> device_;
  std::vector<IdleReading> readings_;
  int n_ = 0;
};

struct IdleResult {
  std::vector<IdleReading> readings;
  int64_t peak_kb = 0;
};

absl::StatusOr<IdleResult> MeasureIdle(const Env& e, const std::string& model, int64_t examples,
                                       bool train) {
  FEDGE_ASSIGN_OR_RETURN(int port, FreePort());
  IdleRun run(e, model, absl::StrCat("tcp://127.0.0.1:", port));
  FEDGE_RETURN_IF_ERROR(run.Start(examples));
  FEDGE_RETURN_IF_ERROR(run.WaitIdle("in run_once, registered, no task yet"));
  if (train) {
    FEDGE_RETURN_IF_ERROR(run.Train("run_once #1 trained and returned"));
    FEDGE_RETURN_IF_ERROR(run.WaitIdle("in run_once, registered, waiting (after 1 task)"));
    FEDGE_RETURN_IF_ERROR(run.Train("run_once #2 trained and returned"));
    FEDGE_RETURN_IF_ERROR(run.WaitIdle("in run_once, registered, waiting (after 2 tasks)"));
    FEDGE_RETURN_IF_ERROR(run.Train("run_once #3 trained and returned"));
    FEDGE_RETURN_IF_ERROR(run.WaitIdle("in run_once, registered, waiting (after 3 tasks)"));
    FEDGE_RETURN_IF_ERROR(run.Trim("then the app calls malloc_trim(0)"));
  }
  IdleResult r;
  FEDGE_ASSIGN_OR_RETURN(r.peak_kb, run.Finish());
  r.readings = run.readings();
  return r;
}

// ---- parent: sizes -------------------------------------------------------------

int64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

absl::StatusOr<std::string> RunCapture(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return absl::InternalError(absl::StrCat("cannot run ", cmd));
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  if (::pclose(p) != 0) return absl::InternalError(absl::StrCat(cmd, " failed"));
  return out;
}

absl::StatusOr<int64_t> StrippedSize(const Env& e, const std::string& path) {
  const std::string tmp = e.work + "/stripped.so";
  FEDGE_RETURN_IF_ERROR(
      RunCapture(absl::StrCat("strip --strip-unneeded -o ", tmp, " ", path)).status());
  return FileSize(tmp);
}

// Real paths of the shared libraries `lib` loads (ldd).
absl::StatusOr<std::set<std::string>> Needed(const std::string& lib) {
  FEDGE_ASSIGN_OR_RETURN(std::string out, RunCapture("ldd " + lib));
  std::set<std::string> libs;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    const size_t arrow = line.find("=> /");
    if (arrow == absl::string_view::npos) continue;
    std::string path(line.substr(arrow + 3));
    path = path.substr(0, path.find(' '));
    char real[PATH_MAX];
    if (::realpath(path.c_str(), real) != nullptr) libs.insert(real);
  }
  return libs;
}

struct SizeRow {
  std::string what;
  int64_t bytes = -1;
  int64_t stripped = -1;
};

absl::StatusOr<std::vector<SizeRow>> MeasureSizes(const Env& e) {
  char real[PATH_MAX];
  const std::string sdk_link = e.lib_dir + "/libfedge_client.so";
  if (::realpath(sdk_link.c_str(), real) == nullptr) {
    return absl::NotFoundError(absl::StrCat(sdk_link, " is missing"));
  }
  const std::string sdk = real;
  const std::string plugin = e.bin_dir + "/libfedge_torch_plugin.so";
  std::vector<SizeRow> rows;
  for (const auto& [what, path] : std::vector<std::pair<std::string, std::string>>{
           {"`libfedge_client.so` (the SDK)", sdk},
           {"`libfedge_torch_plugin.so`", plugin}}) {
    SizeRow r{what, FileSize(path)};
    FEDGE_ASSIGN_OR_RETURN(r.stripped, StrippedSize(e, path));
    rows.push_back(r);
  }
  FEDGE_ASSIGN_OR_RETURN(std::set<std::string> sdk_needs, Needed(sdk));
  FEDGE_ASSIGN_OR_RETURN(std::set<std::string> plugin_needs, Needed(plugin));
  int64_t added = 0, torch = 0;
  int count = 0;
  for (const std::string& lib : plugin_needs) {
    if (sdk_needs.count(lib)) continue;
    added += FileSize(lib);
    ++count;
    const std::string base = lib.substr(lib.rfind('/') + 1);
    if (base.rfind("libtorch", 0) == 0 || base.rfind("libc10", 0) == 0) torch += FileSize(lib);
  }
  rows.push_back({"LibTorch itself (`libtorch*.so`, `libc10.so`), as installed", torch, -1});
  rows.push_back({absl::StrCat("everything the plugin loads that the SDK does not (", count,
                               " libraries: LibTorch, OpenBLAS, protobuf, ...)"),
                  added, -1});
  return rows;
}

// ---- parent: inference ---------------------------------------------------------

const std::vector<std::string> kVariants = {"float32", "int8:qnnpack", "int8:onednn"};

absl::StatusOr<std::map<std::string, Fields>> MeasureInference(const Env& e) {
  std::map<std::string, Fields> out;
  for (const std::string& m : e.models) {
    for (const std::string& v : kVariants) {
      FEDGE_ASSIGN_OR_RETURN(
          auto c, Child::Spawn({e.bin_dir + "/fedge-bench-inference", "latency", ModelFile(e, m),
                                v, e.data + "/train-images-idx3-ubyte"},
                               Log(e, "infer-" + m)));
      FEDGE_ASSIGN_OR_RETURN(out[m + " " + v], c->Collect(absl::Minutes(10)));
    }
  }
  return out;
}

// ---- report --------------------------------------------------------------------

std::string MiB(int64_t kb) { return kb < 0 ? "?" : absl::StrFormat("%.1f MiB", kb / 1024.0); }
std::string MiBFromBytes(int64_t b) {
  return b < 0 ? "-" : absl::StrFormat("%.2f MiB", b / 1048576.0);
}
int64_t Kb(const Fields& f, const std::string& key) {
  int64_t v = -1;
  auto it = f.find(key);
  if (it != f.end()) (void)absl::SimpleAtoi(it->second, &v);
  return v;
}
std::string Get(const Fields& f, const std::string& key) {
  auto it = f.find(key);
  return it == f.end() ? "?" : it->second;
}
std::string Ms(const Fields& f, const std::string& key) {
  double v = 0;
  auto it = f.find(key);
  if (it == f.end() || !absl::SimpleAtod(it->second, &v)) return "?";
  return absl::StrFormat("%.2f s", v / 1000.0);
}

void PrintTraining(const std::map<std::string, Fields>& t, int examples) {
  std::printf("\n### One local epoch (%d examples, batch 32, 1 thread, Trainer from the torch "
              "plugin)\n\n",
              examples);
  std::printf("| model | RSS before LibTorch | RSS after loading the plugin (load time) | "
              "peak RSS, epoch 1 | wall time epoch 1 (cold) | epochs 2, 3 (warm, new thread "
              "each) | RSS after epoch 1 returned | after epoch 3, trainer destroyed |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const auto& [m, f] : t) {
    std::printf("| %s | %s | %s (%s) | %s | %s | %s, %s | %s | %s |\n", m.c_str(),
                MiB(Kb(f, "before_torch_rss_kb")).c_str(), MiB(Kb(f, "loaded_rss_kb")).c_str(),
                Ms(f, "load_ms").c_str(), MiB(Kb(f, "epoch1_hwm_kb")).c_str(),
                Ms(f, "epoch1_ms").c_str(), Ms(f, "epoch2_ms").c_str(), Ms(f, "epoch3_ms").c_str(),
                MiB(Kb(f, "epoch1_rss_kb")).c_str(),
                MiB(Kb(f, "trainer_destroyed_rss_kb")).c_str());
  }
}

void PrintIdle(const std::map<std::string, IdleResult>& idle) {
  std::printf("\n### Device process (libfedge_client, C API), VmRSS (RssAnon in brackets)\n\n");
  std::printf("| state |");
  for (const auto& [name, r] : idle) std::printf(" %s |", name.c_str());
  std::printf("\n|---|");
  for (size_t i = 0; i < idle.size(); ++i) std::printf("---|");
  std::printf("\n");
  std::vector<std::string> states;
  for (const auto& [name, r] : idle) {
    for (const IdleReading& x : r.readings) {
      if (std::find(states.begin(), states.end(), x.state) == states.end()) {
        states.push_back(x.state);
      }
    }
  }
  for (const std::string& s : states) {
    std::printf("| %s |", s.c_str());
    for (const auto& [name, r] : idle) {
      std::string cell = "-";
      for (const IdleReading& x : r.readings) {
        if (x.state == s) cell = absl::StrCat(MiB(x.mem.rss_kb), " (", MiB(x.mem.anon_kb), ")");
      }
      std::printf(" %s |", cell.c_str());
    }
    std::printf("\n");
  }
  std::printf("| peak RSS of the process (wait4) |");
  for (const auto& [name, r] : idle) std::printf(" %s |", MiB(r.peak_kb).c_str());
  std::printf("\n");
}

void PrintSizes(const std::vector<SizeRow>& rows) {
  std::printf("\n### On disk\n\n| file | size | stripped (`strip --strip-unneeded`) |\n"
              "|---|---|---|\n");
  for (const SizeRow& r : rows) {
    std::printf("| %s | %s | %s |\n", r.what.c_str(), MiBFromBytes(r.bytes).c_str(),
                MiBFromBytes(r.stripped).c_str());
  }
}

void PrintInference(const Env& e, const std::map<std::string, Fields>& inf) {
  std::printf("\n### Inference per example (Predictor, 1 thread; median of 15 blocks)\n\n");
  std::printf("| model | variant | file | batch 1 | batch 32 | peak RSS of the process |\n"
              "|---|---|---|---|---|---|\n");
  for (const std::string& m : e.models) {
    for (const std::string& v : kVariants) {
      auto it = inf.find(m + " " + v);
      if (it == inf.end()) continue;
      const Fields& f = it->second;
      std::printf("| %s | %s | %s B | %s us | %s us | %s |\n", m.c_str(), v.c_str(),
                  Get(f, "file_bytes").c_str(), Get(f, "batch1_us").c_str(),
                  Get(f, "batch32_us").c_str(), MiB(Kb(f, "child_maxrss_kb")).c_str());
    }
  }
}

absl::Status RunAll() {
  Env e;
  e.bin_dir = ExecutableDir();
  e.self = e.bin_dir + "/fedge-bench-device";
  e.lib_dir = e.bin_dir + "/../lib";
  e.models = absl::StrSplit(absl::GetFlag(FLAGS_models), ',', absl::SkipEmpty());
  e.work = absl::GetFlag(FLAGS_work_dir);
  if (e.work.empty()) {
    char tmpl[] = "/tmp/fedge-footprint-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp");
    e.work = tmpl;
  }
  e.data = e.work + "/data";
  const int examples = absl::GetFlag(FLAGS_examples);
  std::fprintf(stderr, "fedge-bench-device: work dir %s (child logs there)\n", e.work.c_str());
  FEDGE_RETURN_IF_ERROR(WriteSmallDataset(absl::GetFlag(FLAGS_data_dir), e.data, examples));
  const std::set<std::string> parts = absl::StrSplit(absl::GetFlag(FLAGS_parts), ',');
  if (parts.count("train") || parts.count("infer")) FEDGE_RETURN_IF_ERROR(MakeModels(e));

  std::map<std::string, Fields> training, inference;
  std::map<std::string, IdleResult> idle;
  std::vector<SizeRow> sizes;
  if (parts.count("train")) {
    std::fprintf(stderr, "fedge-bench-device: training\n");
    FEDGE_ASSIGN_OR_RETURN(training, MeasureTraining(e));
  }
  if (parts.count("idle")) {
    for (const std::string& m : e.models) {
      std::fprintf(stderr, "fedge-bench-device: idle device, %s\n", m.c_str());
      FEDGE_ASSIGN_OR_RETURN(idle[absl::StrCat("tasks: ", m, ", data: ", examples, " examples")],
                             MeasureIdle(e, m, examples, /*train=*/true));
    }
    if (const int large = absl::GetFlag(FLAGS_large_examples); large > 0) {
      std::fprintf(stderr, "fedge-bench-device: idle device, %d examples\n", large);
      FEDGE_ASSIGN_OR_RETURN(idle[absl::StrCat("no task; data: ", large, " examples")],
                             MeasureIdle(e, e.models.front(), large, /*train=*/false));
    }
  }
  if (parts.count("sizes")) {
    FEDGE_ASSIGN_OR_RETURN(sizes, MeasureSizes(e));
  }
  if (parts.count("infer")) {
    std::fprintf(stderr, "fedge-bench-device: inference\n");
    FEDGE_ASSIGN_OR_RETURN(inference, MeasureInference(e));
  }

  if (!training.empty()) PrintTraining(training, examples);
  if (!idle.empty()) PrintIdle(idle);
  if (!sizes.empty()) PrintSizes(sizes);
  if (!inference.empty()) PrintInference(e, inference);
  return absl::OkStatus();
}

}  // namespace
}  // namespace fedge::bench

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "train" && argc == 5) {
    absl::Status s = fedge::bench::TrainChild(argv[2], argv[3], argv[4]);
    if (!s.ok()) std::fprintf(stderr, "train: %s\n", s.ToString().c_str());
    return s.ok() ? 0 : 1;
  }
  if (argc >= 2 && std::string(argv[1]) == "device" && argc == 6) {
    return fedge::bench::DeviceChild(argv[2], argv[3], argv[4], std::atoll(argv[5]));
  }
  absl::ParseCommandLine(argc, argv);
  absl::Status s = fedge::bench::RunAll();
  if (!s.ok()) {
    std::fprintf(stderr, "fedge-bench-device: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
