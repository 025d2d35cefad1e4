// fedge-bench-floor: the compute floor of a simulated round (issue 11): the
// same tasks a round gives its clients, trained back to back in one process
// with the trainer a client process uses (LibTorch, one intra-op thread, the
// model and the freed heap kept between tasks), divided by the cores used. A
// round cannot be faster than that; fedge-sim's mean round time over it is
// the framework's overhead factor.
//
//   fedge-bench-floor [--clients=200] [--examples=150] [--model=mlp] [--cores=2]
//                     [--data_dir=/usr/share/datasets/fashion-mnist]

#include <chrono>
#include <cstdio>
#include <numeric>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "base/heap_policy.h"
#include "base/status_macros.h"
#include "client/trainer.h"
#include "data/source.h"
#include "protocol/task_spec.h"

ABSL_FLAG(int, clients, 200, "Clients in the round (tasks trained)");
ABSL_FLAG(int, examples, 150, "Examples per client (the first clients x examples of the data)");
ABSL_FLAG(std::string, model, "mlp", "mlp, cnn or a TorchScript path (Fashion-MNIST task)");
ABSL_FLAG(int, cores, 2, "Cores a simulation uses (its client processes)");
ABSL_FLAG(std::string, data_dir, "/usr/share/datasets/fashion-mnist", "IDX directory");
ABSL_FLAG(int, repeats, 3, "Passes over the tasks; the fastest is reported");

namespace fedge {
namespace {

absl::Status Run() {
  const int clients = absl::GetFlag(FLAGS_clients), per = absl::GetFlag(FLAGS_examples);
  FEDGE_ASSIGN_OR_RETURN(data::Dataset all, data::LoadDataset(absl::GetFlag(FLAGS_data_dir),
                                                              data::SourceOptions{"train"}));
  if (static_cast<int64_t>(clients) * per > all.size()) {
    return absl::InvalidArgumentError("--clients x --examples exceeds the data");
  }
  std::vector<data::Dataset> shards;
  for (int c = 0; c < clients; ++c) {
    std::vector<int64_t> idx(static_cast<size_t>(per));
    std::iota(idx.begin(), idx.end(), static_cast<int64_t>(c) * per);
    FEDGE_ASSIGN_OR_RETURN(data::Dataset d, data::Subset(all, idx));
    shards.push_back(std::move(d));
  }
  FEDGE_ASSIGN_OR_RETURN(protocol::ModelPayload model,
                         client::MakeInitialModel(absl::GetFlag(FLAGS_model), 0,
                                                  protocol::FashionMnistTask()));
  // As a client process hosting many clients trains (client/main.cc).
  KeepFreedHeap();
  client::TorchTrainerOptions options;
  options.threads = 1;
  options.keep_models = true;
  std::unique_ptr<client::Trainer> trainer = client::MakeTorchTrainer(options);
  protocol::Task task;
  task.model = model;
  task.config.local_epochs = 1;
  task.config.batch_size = 32;
  task.config.learning_rate = 0.05f;
  client::TrainOutcome out;
  FEDGE_RETURN_IF_ERROR(trainer->Train(task, shards[0], nullptr, &out));  // warm-up
  double best = 1e30;
  for (int r = 0; r < absl::GetFlag(FLAGS_repeats); ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (int c = 0; c < clients; ++c) {
      task.config.seed = static_cast<uint64_t>(c);
      FEDGE_RETURN_IF_ERROR(trainer->Train(task, shards[c], nullptr, &out));
    }
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                              .count());
  }
  const int cores = absl::GetFlag(FLAGS_cores);
  std::printf("%d tasks of %d examples (%s): %.3f s back to back, %.2f ms per task; "
              "floor per round on %d cores: %.3f s\n",
              clients, per, absl::GetFlag(FLAGS_model).c_str(), best, 1e3 * best / clients, cores,
              best / cores);
  return absl::OkStatus();
}

}  // namespace
}  // namespace fedge

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::Status s = fedge::Run();
  if (!s.ok()) {
    std::fprintf(stderr, "fedge-bench-floor: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
