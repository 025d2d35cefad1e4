// fedge-client: one process hosting one or more logical federated clients.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/log.h"
#include "base/signals.h"
#include "base/status_macros.h"
#include "client/client_host.h"
#include "client/dataset.h"
#include "client/torch_plugin.h"
#include "client/trainer.h"

ABSL_FLAG(std::string, coordinator, "tcp://127.0.0.1:7070", "Coordinator endpoint to connect to");
ABSL_FLAG(std::string, data_dir, "/usr/share/datasets/fashion-mnist",
          "Directory with train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]");
ABSL_FLAG(std::string, partition_file, "",
          "File with one line per client id of whitespace-separated 0-based training-set "
          "indices (line N is client N). Empty: every client uses the whole training set");
ABSL_FLAG(std::string, client_ids, "0",
          "Logical clients to host in this process: comma-separated ids or ranges (0-4,7)");
ABSL_FLAG(int, threads, 1, "LibTorch intra-op threads for training");
ABSL_FLAG(absl::Duration, give_up_after, absl::ZeroDuration(),
          "Exit with an error when the coordinator has been silent this long; 0 = never");
ABSL_FLAG(uint64_t, seed, 0, "Seed for reconnect jitter");

namespace fedge {
namespace {

absl::StatusOr<std::vector<uint64_t>> ParseIds(const std::string& spec) {
  std::vector<uint64_t> ids;
  for (absl::string_view part : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    std::vector<absl::string_view> range = absl::StrSplit(part, '-');
    uint64_t lo = 0, hi = 0;
    if (range.size() == 1 && absl::SimpleAtoi(range[0], &lo)) {
      hi = lo;
    } else if (range.size() != 2 || !absl::SimpleAtoi(range[0], &lo) ||
               !absl::SimpleAtoi(range[1], &hi) || hi < lo || hi - lo > 100000) {
      return absl::InvalidArgumentError(absl::StrCat("--client_ids: bad item '", part, "'"));
    }
    for (uint64_t id = lo; id <= hi; ++id) ids.push_back(id);
  }
  if (ids.empty()) return absl::InvalidArgumentError("--client_ids names no client");
  return ids;
}

absl::StatusOr<std::vector<int64_t>> ReadPartitionLine(const std::string& path, uint64_t id) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open partition file ", path));
  std::string line;
  for (uint64_t i = 0; i <= id; ++i) {
    if (!std::getline(in, line)) {
      return absl::OutOfRangeError(absl::StrCat(path, " has no line for client ", id));
    }
  }
  std::vector<int64_t> indices;
  for (absl::string_view tok : absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty())) {
    int64_t v;
    if (!absl::SimpleAtoi(tok, &v)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " line ", id + 1, ": '", tok, "' is not an index"));
    }
    indices.push_back(v);
  }
  return indices;
}

// The training set, read once per process on first use and shared by the
// logical clients hosted here.
class SharedTrainSet {
 public:
  explicit SharedTrainSet(std::string dir) : dir_(std::move(dir)) {}
  absl::StatusOr<const client::Dataset*> Get() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!loaded_) {
      data_ = client::LoadIdxDataset(dir_, "train");
      loaded_ = true;
    }
    if (!data_.ok()) return data_.status();
    return &*data_;
  }

 private:
  std::mutex mu_;
  std::string dir_;
  bool loaded_ = false;
  absl::StatusOr<client::Dataset> data_;
};

absl::Status Run() {
  // Before any thread exists, so all inherit the signal mask.
  static std::atomic<client::ClientHost*> stop_target{nullptr};
  HandleTerminationSignals([](int sig) {
    FEDGE_LOG(kInfo, "signal %d: stopping", sig);
    if (auto* host = stop_target.load()) {
      host->Stop();
    } else {
      std::_Exit(1);
    }
  });
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint64_t> ids, ParseIds(absl::GetFlag(FLAGS_client_ids)));
  SetLogTag(ids.size() == 1 ? absl::StrCat("client ", ids[0])
                            : absl::StrCat("clients ", absl::GetFlag(FLAGS_client_ids)));
  auto train = std::make_shared<SharedTrainSet>(absl::GetFlag(FLAGS_data_dir));
  std::vector<client::LogicalClientSpec> specs;
  const std::string partition = absl::GetFlag(FLAGS_partition_file);
  uint64_t full_size = 0;
  if (partition.empty()) {
    // Without a partition every client holds the whole set; its size is in
    // the labels file header, but reading the labels is cheap enough.
    FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> labels,
                           client::LoadIdxLabels(absl::GetFlag(FLAGS_data_dir), "train"));
    full_size = labels.size();
  }
  for (uint64_t id : ids) {
    client::LogicalClientSpec spec;
    spec.client_id = id;
    if (partition.empty()) {
      spec.num_examples = full_size;
      spec.data = [train]() -> absl::StatusOr<client::Dataset> {
        FEDGE_ASSIGN_OR_RETURN(const client::Dataset* all, train->Get());
        return *all;
      };
    } else {
      // Only the indices are read now; images load when the first task comes.
      FEDGE_ASSIGN_OR_RETURN(std::vector<int64_t> idx, ReadPartitionLine(partition, id));
      spec.num_examples = idx.size();
      spec.data = [train, idx = std::move(idx), partition, id]() -> absl::StatusOr<client::Dataset> {
        FEDGE_ASSIGN_OR_RETURN(const client::Dataset* all, train->Get());
        absl::StatusOr<client::Dataset> sub = client::Subset(*all, idx);
        if (!sub.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(partition, " line ", id + 1, ": ",
                                                         sub.status().message()));
        }
        return sub;
      };
    }
    if (spec.num_examples == 0) {
      FEDGE_LOG(kWarning, "client %d has no examples and will be refused", id);
    }
    specs.push_back(std::move(spec));
  }

  client::ClientHostOptions opts;
  opts.coordinator_endpoint = absl::GetFlag(FLAGS_coordinator);
  opts.give_up_after = absl::GetFlag(FLAGS_give_up_after);
  opts.seed = absl::GetFlag(FLAGS_seed);
  client::TorchTrainerOptions topts;
  topts.threads = absl::GetFlag(FLAGS_threads);
  client::ClientHost host(opts, [topts] { return client::LoadTorchTrainer(topts); },
                          std::move(specs));
  stop_target.store(&host);
  absl::Status s = host.Run();
  stop_target.store(nullptr);
  if (absl::IsCancelled(s)) return absl::OkStatus();
  const client::ClientHostStats& st = host.stats();
  FEDGE_LOG(kDebug, "updates sent %d, tasks %d, reconnects %d, bytes up %d down %d",
            st.updates_sent, st.tasks_received, st.reconnects, st.bytes_sent, st.bytes_received);
  return s;
}

}  // namespace
}  // namespace fedge

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Hosts federated clients: registers each with the coordinator, trains on its local "
      "data when given a task and sends back the weight delta.\n"
      "Example: fedge-client --coordinator=tcp://10.0.0.5:7070 --client_ids=0-4 "
      "--partition_file=parts.txt");
  absl::ParseCommandLine(argc, argv);
  absl::Status s = fedge::Run();
  if (!s.ok()) {
    FEDGE_LOG(kError, "%s", s.ToString());
    return 1;
  }
  return 0;
}
