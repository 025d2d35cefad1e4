// fedge-sim: a real multi-process federated simulation on (Fashion-)MNIST.
// Starts fedge-coordinator and fedge-client processes that talk over ZeroMQ
// (tcp loopback or ipc), then collects their results.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/file_util.h"
#include "base/id_list.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "data/npy.h"
#include "data/source.h"
#include "data/task_flags.h"
#include "coordinator/evaluation_flags.h"
#include "coordinator/strategy.h"
#include "coordinator/strategy_flags.h"
#include "simulations/attack_flags.h"
#include "simulations/fault_plan.h"
#include "simulations/partition.h"
#include "simulations/results.h"
#include "simulations/sim_keys.h"
#include "simulations/subprocess.h"
#include "simulations/supervisor.h"

ABSL_FLAG(std::string, model, "mlp", "mlp, cnn, or the path of a TorchScript file");
ABSL_FLAG(int, clients, 10, "Number of simulated clients");
ABSL_FLAG(int, rounds, 20, "Federated rounds");
ABSL_FLAG(int, local_epochs, 1, "Local epochs per round (E)");
ABSL_FLAG(int, batch_size, 32, "Local minibatch size (B)");
ABSL_FLAG(double, lr, 0.05, "Client SGD learning rate (no momentum)");
ABSL_FLAG(std::string, partition, "dirichlet:0.5",
          "How to split the training set: iid, dirichlet:ALPHA (label skew) or shards:K "
          "(K label-sorted shards per client)");
ABSL_FLAG(std::string, partition_file, "",
          "Use this partition instead: one line per client of whitespace-separated 0-based "
          "training-set indices");
ABSL_FLAG(uint64_t, seed, 0, "Seed for partitioning, initialisation and shuffling");
ABSL_FLAG(std::string, out, "sim-out", "Directory for metrics.jsonl, results.csv, partition.txt");
ABSL_FLAG(int, clients_per_process, 0,
          "Logical clients hosted by each client process; 0 spreads them over one process "
          "per core");
ABSL_FLAG(int, clients_per_round, 0,
          "Cohort size per round; 0 = --fraction of the clients. A round closes at its deadline "
          "with at least half its cohort (the quorum), else fails");
ABSL_FLAG(double, fraction, 1.0, "Fraction of clients selected per round (FedAvg's C)");
ABSL_FLAG(std::string, transport, "tcp", "tcp (loopback, free port) or ipc (socket in --out)");
ABSL_FLAG(std::string, data_dir, "/usr/share/datasets/fashion-mnist",
          "Directory with the train- and t10k- IDX files; used when --train_data is empty");
ABSL_FLAG(std::string, train_data, "",
          "Training data, split over the clients: a directory of IDX files in the MNIST layout, "
          "FEATURES,TARGETS (two .npy or two IDX files, examples along the first dimension) or "
          "FILE.csv (numeric, with a header; targets: --label_column). Empty: --data_dir");
ABSL_FLAG(std::string, test_data, "",
          "Data the coordinator evaluates each round's model on (same forms as --train_data), "
          "or 'holdout': the union of the clients' held-out splits (--holdout), written to "
          "OUT/holdout_x.npy,holdout_y.npy. Empty: --data_dir's t10k files when --train_data is "
          "empty too, else no server-side evaluation");
ABSL_FLAG(double, holdout, 0,
          "Share of each client's examples held out of training for federated evaluation "
          "(OUT/holdout.txt); in [0, 1)");
ABSL_FLAG(int, max_examples, 0, "Use only the first N training examples (0 = all); for quick runs");
ABSL_FLAG(absl::Duration, round_timeout, absl::Minutes(10), "Round deadline");
ABSL_FLAG(absl::Duration, timeout, absl::Hours(2), "Abort the whole simulation after this long");
ABSL_FLAG(bool, insecure, false,
          "Plain TCP between the processes, unsigned models. By default the run's keys are "
          "generated in --out/keys (a coordinator key, one device key per client process, an "
          "allow-list) and every connection uses CURVE");
ABSL_FLAG(std::string, secure, "none",
          "Secure aggregation: none, secagg (`--secure` alone) or plus (SecAgg+); passed to "
          "fedge-coordinator, which then sees only the sum of each cohort's updates");
ABSL_FLAG(double, secagg_dropout, 0.2, "With --secure: dropout fraction each round must survive");
ABSL_FLAG(double, secagg_clip, 1.0, "With --secure: per-coordinate delta bound before encoding");
ABSL_FLAG(double, over_select, 0,
          "Select this fraction more clients than a round needs; the round closes when the "
          "needed updates arrived (fedge-coordinator --over_select)");
ABSL_FLAG(double, kill_clients, 0,
          "Fault injection: SIGKILL this fraction of the client processes at --kill_phase of "
          "round --kill_round (their first task of a round >= it). The coordinator then needs "
          "only the survivors to start rounds");
ABSL_FLAG(std::string, kill_phase, "training",
          "training (while training), upload (trained, before sending the update), random "
          "(either, per process) or unmasking (with --secure: masked input sent, on the "
          "coordinator's request for the unmasking shares)");
ABSL_FLAG(int, kill_round, 2, "Round at which --kill_clients strikes");
ABSL_FLAG(double, stragglers, 0,
          "Fault injection: this fraction of the surviving client processes waits "
          "--straggler_delay before every upload");
ABSL_FLAG(absl::Duration, straggler_delay, absl::Seconds(5), "Delay of each --stragglers upload");
ABSL_FLAG(int, kill_coordinator_at_round, 0,
          "Fault injection: SIGKILL the coordinator right after round K's checkpoint (in "
          "--out/state), then restart it with the same state directory and endpoint; clients "
          "reconnect by themselves. 0: never");
ABSL_FLAG(int, kill_coordinator_after_updates, 0,
          "With --kill_coordinator_at_round=K: kill it mid-round instead, as soon as round K "
          "has accepted this many updates (masked inputs with --secure; fewer than close the "
          "round)");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(1),
          "fedge-coordinator --heartbeat_interval: clients beat at it, 10 missed beats drop one");

namespace fedge::sim {
namespace {

// The simulation's data and task, loaded and checked against each other
// before any process starts, so bad data is a clear error naming the flag.
struct SimData {
  std::string train_source, test_source;  // as passed on ("" test: none; "holdout")
  data::Dataset train;
  protocol::TaskSpec task;
};

absl::StatusOr<SimData> PrepareData() {
  SimData d;
  d.train_source = absl::GetFlag(FLAGS_train_data);
  d.test_source = absl::GetFlag(FLAGS_test_data);
  if (d.train_source.empty()) {
    d.train_source = absl::GetFlag(FLAGS_data_dir);
    if (d.test_source.empty()) d.test_source = d.train_source;
  }
  absl::StatusOr<data::Dataset> train =
      data::LoadDataset(d.train_source, data::SourceOptionsFromFlags("train"));
  if (!train.ok()) {
    return absl::Status(train.status().code(),
                        absl::StrCat("--train_data: ", train.status().message()));
  }
  if (int m = absl::GetFlag(FLAGS_max_examples); m > 0 && m < train->size()) {
    std::vector<int64_t> first(static_cast<size_t>(m));
    std::iota(first.begin(), first.end(), 0);
    FEDGE_ASSIGN_OR_RETURN(*train, data::Subset(*train, first));
  }
  FEDGE_ASSIGN_OR_RETURN(d.task, data::TaskFromFlags(train->example_shape));
  FEDGE_RETURN_IF_ERROR(data::CheckFitsTask(*train, d.task, "--train_data " + d.train_source));
  if (!d.test_source.empty() && d.test_source != "holdout") {
    absl::StatusOr<data::Dataset> test =
        data::LoadDataset(d.test_source, data::SourceOptionsFromFlags("t10k"));
    if (!test.ok()) {
      return absl::Status(test.status().code(),
                          absl::StrCat("--test_data: ", test.status().message()));
    }
    FEDGE_RETURN_IF_ERROR(data::CheckFitsTask(*test, d.task, "--test_data " + d.test_source));
  }
  d.train = *std::move(train);
  FEDGE_LOG(kInfo, "task: %s; %d training examples", protocol::DescribeTask(d.task),
            d.train.size());
  return d;
}

// --holdout: moves each client's held-out share out of `partition` and
// writes OUT/holdout.txt (empty lines when --holdout is 0); with
// --test_data=holdout also their union as .npy files the coordinator
// evaluates on. Returns holdout.txt's path.
absl::StatusOr<std::string> SplitHoldoutFromFlags(const std::string& out, Partition* partition,
                                                  SimData* data) {
  const double holdout = absl::GetFlag(FLAGS_holdout);
  const double fraction_evaluate = fedge::coordinator::EvaluationFlagsFromFlags().fraction;
  if (!(holdout >= 0 && holdout < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("--holdout=", holdout, ": want [0, 1)"));
  }
  if (!(fraction_evaluate >= 0 && fraction_evaluate <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--fraction_evaluate=", fraction_evaluate, ": want [0, 1]"));
  }
  if ((fraction_evaluate > 0 || data->test_source == "holdout") && holdout == 0) {
    return absl::InvalidArgumentError(
        "--fraction_evaluate and --test_data=holdout need --holdout > 0 (the share of each "
        "client's examples kept for evaluation)");
  }
  if (fraction_evaluate > 0 && absl::GetFlag(FLAGS_secure) != "none") {
    return absl::InvalidArgumentError(
        "--fraction_evaluate with --secure: clients' evaluation metrics would reach the "
        "coordinator one by one; use server-side --test_data with SecAgg");
  }
  const Partition held = SplitHoldout(partition, holdout, absl::GetFlag(FLAGS_seed));
  const std::string path = absl::StrCat(out, "/holdout.txt");
  FEDGE_RETURN_IF_ERROR(WriteFileAtomically(path, FormatPartition(held)));
  if (data->test_source != "holdout") return path;
  std::vector<int64_t> all;
  for (const std::vector<int64_t>& c : held) all.insert(all.end(), c.begin(), c.end());
  FEDGE_ASSIGN_OR_RETURN(data::Dataset u, data::Subset(data->train, all));
  std::vector<float> x(static_cast<size_t>(u.size() * u.ExampleSize()));
  for (int64_t i = 0; i < u.size(); ++i) {
    for (int64_t k = 0; k < u.ExampleSize(); ++k) x[i * u.ExampleSize() + k] = u.Feature(i, k);
  }
  std::vector<int64_t> xshape{u.size()}, yshape{u.size()};
  xshape.insert(xshape.end(), u.example_shape.begin(), u.example_shape.end());
  yshape.insert(yshape.end(), u.target_shape.begin(), u.target_shape.end());
  const std::string xp = absl::StrCat(out, "/holdout_x.npy"), yp = absl::StrCat(out, "/holdout_y.npy");
  FEDGE_RETURN_IF_ERROR(WriteFileAtomically(xp, data::FormatNpy(xshape, x)));
  FEDGE_RETURN_IF_ERROR(WriteFileAtomically(yp, data::FormatNpy(yshape, u.targets)));
  data->test_source = xp + "," + yp;
  return path;
}

// The cohort size --clients_per_round or --fraction asks for; InvalidArgument
// naming the flags when it cannot work.
absl::StatusOr<int> CohortFromFlags(int clients) {
  const int per_round = absl::GetFlag(FLAGS_clients_per_round);
  const double fraction = absl::GetFlag(FLAGS_fraction);
  if (per_round < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--clients_per_round=", per_round, " < 0"));
  }
  if (per_round > 0 && fraction != 1.0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--clients_per_round=", per_round, " and --fraction=", fraction,
        " both set the cohort size; give one"));
  }
  if (per_round > clients) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--clients_per_round=", per_round, " exceeds --clients=", clients));
  }
  if (!(fraction > 0 && fraction <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("--fraction=", fraction, ": want (0, 1]"));
  }
  if (per_round > 0) return per_round;
  return std::max(1, static_cast<int>(std::ceil(fraction * clients)));
}

absl::Status Run() {
  const absl::Time start = absl::Now();
  SetLogTag("sim");
  const int clients = absl::GetFlag(FLAGS_clients);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  if (clients < 1 || rounds < 1) return absl::InvalidArgumentError("--clients and --rounds must be >= 1");
  const std::string out = absl::GetFlag(FLAGS_out);
  FEDGE_RETURN_IF_ERROR(MakeDirs(out));
  FEDGE_ASSIGN_OR_RETURN(SimData data, PrepareData());
  const std::vector<int64_t> groups = PartitionGroups(data.train, data.task);
  Partition partition;
  if (std::string pf = absl::GetFlag(FLAGS_partition_file); !pf.empty()) {
    FEDGE_ASSIGN_OR_RETURN(std::string text, ReadFile(pf));
    FEDGE_ASSIGN_OR_RETURN(partition, ParsePartition(text, clients, data.train.size()));
  } else {
    FEDGE_ASSIGN_OR_RETURN(partition, MakePartition(absl::GetFlag(FLAGS_partition), groups, clients,
                                                    absl::GetFlag(FLAGS_seed)));
  }
  FEDGE_ASSIGN_OR_RETURN(std::string holdout_path, SplitHoldoutFromFlags(out, &partition, &data));
  data.train = data::Dataset();  // the client processes load their own
  const std::string partition_path = absl::StrCat(out, "/partition.txt");
  FEDGE_RETURN_IF_ERROR(WriteFileAtomically(partition_path, FormatPartition(partition)));
  FEDGE_ASSIGN_OR_RETURN(std::optional<AttackPlan> attack,
                         AttackPlanFromFlags(clients, absl::GetFlag(FLAGS_seed)));
  // Always written, so a rerun into the same --out never shows stale attackers.
  FEDGE_RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(out, "/attackers.txt"),
                                            attack ? AttackersFile(*attack) : ""));
  const std::string metrics_path = absl::StrCat(out, "/metrics.jsonl");
  ::unlink(metrics_path.c_str());

  const std::string bin = ExecutableDir();
  std::string listen = "tcp://127.0.0.1:*";
  if (absl::GetFlag(FLAGS_transport) == "ipc") {
    listen = absl::StrCat("ipc://", out, "/coordinator.sock");
  } else if (absl::GetFlag(FLAGS_transport) != "tcp") {
    return absl::InvalidArgumentError("--transport must be tcp or ipc");
  }
  int per_process = absl::GetFlag(FLAGS_clients_per_process);
  if (per_process <= 0) {
    int procs = std::max(1u, std::thread::hardware_concurrency());
    per_process = (clients + procs - 1) / procs;
  }
  // One device (key) per client process, its clients balanced by examples.
  const std::vector<std::vector<uint64_t>> devices = BalanceClients(partition, per_process);
  std::vector<std::string> coordinator_security = {"--insecure"};
  std::vector<std::vector<std::string>> client_security(devices.size(), {"--insecure"});
  if (!absl::GetFlag(FLAGS_insecure)) {
    FEDGE_ASSIGN_OR_RETURN(SimKeys keys, MakeSimKeys(out + "/keys", devices));
    coordinator_security = {"--key_file=" + keys.coordinator_key,
                            "--allowlist=" + keys.allowlist};
    for (size_t i = 0; i < devices.size(); ++i) {
      client_security[i] = {"--key_file=" + keys.device_keys[i],
                            "--coordinator_pub=" + keys.coordinator_pub};
    }
  }

  ClientFaultOptions fault_options;
  fault_options.kill_fraction = absl::GetFlag(FLAGS_kill_clients);
  fault_options.kill_phase = absl::GetFlag(FLAGS_kill_phase);
  fault_options.kill_round = static_cast<uint64_t>(std::max(1, absl::GetFlag(FLAGS_kill_round)));
  fault_options.straggler_fraction = absl::GetFlag(FLAGS_stragglers);
  fault_options.straggler_delay = absl::GetFlag(FLAGS_straggler_delay);
  fault_options.seed = absl::GetFlag(FLAGS_seed);
  FEDGE_ASSIGN_OR_RETURN(std::vector<ProcessFaults> faults,
                         PlanClientFaults(devices.size(), fault_options));
  int doomed_clients = 0;
  for (size_t d = 0; d < devices.size(); ++d) {
    if (faults[d].killed) doomed_clients += static_cast<int>(devices[d].size());
  }
  if (doomed_clients >= clients) {
    return absl::InvalidArgumentError("--kill_clients would kill every client process");
  }
  // Rounds start with the clients that survive; the quorum, half the cohort,
  // never exceeds them.
  const int min_clients = clients - doomed_clients;
  FEDGE_ASSIGN_OR_RETURN(const int cohort, CohortFromFlags(clients));
  const int quorum = std::min(min_clients, std::max(1, (cohort + 1) / 2));
  const int kill_coordinator_at = absl::GetFlag(FLAGS_kill_coordinator_at_round);
  const int kill_after_updates = absl::GetFlag(FLAGS_kill_coordinator_after_updates);
  if (fault_options.kill_phase == "unmasking" && fault_options.kill_fraction > 0 &&
      absl::GetFlag(FLAGS_secure) == "none") {
    return absl::InvalidArgumentError("--kill_phase=unmasking needs --secure");
  }
  if (kill_after_updates > 0 && kill_coordinator_at <= 0) {
    return absl::InvalidArgumentError(
        "--kill_coordinator_after_updates needs --kill_coordinator_at_round");
  }

  // The coordinator checks the strategy again with the model's size (memory
  // bound); these checks need no model and fail before any process starts.
  {
    const fedge::coordinator::StrategyOptions options =
        fedge::coordinator::StrategyOptionsFromFlags();
    absl::StatusOr<std::unique_ptr<fedge::coordinator::Strategy>> strategy =
        fedge::coordinator::MakeStrategy(options);
    if (!strategy.ok()) return strategy.status();
    FEDGE_RETURN_IF_ERROR(fedge::coordinator::CheckStrategyFits(
        **strategy, options,
        absl::GetFlag(FLAGS_secure) != "none", /*cohort=*/0, /*dim=*/0));
  }

  // One intra-op thread per process: more threads fight over 2 cores.
  const std::vector<std::string> env = {"OMP_NUM_THREADS=1", "OMP_WAIT_POLICY=PASSIVE"};
  const std::string seed = absl::StrCat(absl::GetFlag(FLAGS_seed));
  std::vector<std::string> coordinator_argv = {
      bin + "/fedge-coordinator", "--listen=" + listen,
      "--model=" + absl::GetFlag(FLAGS_model), absl::StrCat("--rounds=", rounds),
      absl::StrCat("--min_clients=", min_clients), absl::StrCat("--quorum=", quorum),
      absl::StrCat("--over_select=", absl::GetFlag(FLAGS_over_select)),
      absl::StrCat("--clients_per_round=", absl::GetFlag(FLAGS_clients_per_round)),
      absl::StrCat("--fraction=", absl::GetFlag(FLAGS_fraction)),
      absl::StrCat("--local_epochs=", absl::GetFlag(FLAGS_local_epochs)),
      absl::StrCat("--batch_size=", absl::GetFlag(FLAGS_batch_size)),
      absl::StrCat("--lr=", absl::GetFlag(FLAGS_lr)), "--seed=" + seed,
      "--test_data=" + data.test_source, "--metrics_out=" + metrics_path,
      data::LabelColumnArg(),
      absl::StrCat("--round_timeout=",
                   absl::FormatDuration(absl::GetFlag(FLAGS_round_timeout))),
      absl::StrCat("--heartbeat_interval=",
                   absl::FormatDuration(absl::GetFlag(FLAGS_heartbeat_interval))),
      "--secure=" + absl::GetFlag(FLAGS_secure),
      absl::StrCat("--secagg_dropout=", absl::GetFlag(FLAGS_secagg_dropout)),
      absl::StrCat("--secagg_clip=", absl::GetFlag(FLAGS_secagg_clip))};
  for (std::string& arg : fedge::coordinator::EvaluationFlagArgs()) {
    coordinator_argv.push_back(std::move(arg));
  }
  for (std::string& arg : fedge::coordinator::StrategyFlagArgs()) {
    coordinator_argv.push_back(std::move(arg));
  }
  for (std::string& arg : data::TaskFlagArgs(data.task)) coordinator_argv.push_back(std::move(arg));
  coordinator_argv.insert(coordinator_argv.end(), coordinator_security.begin(),
                          coordinator_security.end());
  if (kill_coordinator_at > 0) {
    coordinator_argv.push_back("--state_dir=" + out + "/state");
  }
  if (attack && attack->options.kind == client::AttackKind::kBackdoor) {
    coordinator_argv.push_back(
        absl::StrCat("--backdoor_target=", attack->options.backdoor_target));
  }
  std::vector<std::string> first_argv = coordinator_argv;
  if (kill_coordinator_at > 0) {
    first_argv.push_back(
        kill_after_updates > 0
            ? absl::StrCat("--inject_fault=kill_after_updates:", kill_coordinator_at, ":",
                           kill_after_updates)
            : absl::StrCat("--inject_fault=kill_after_checkpoint:", kill_coordinator_at));
  }
  std::string endpoint;
  auto coordinator_tee = std::make_unique<StderrTee>();
  absl::StatusOr<Subprocess> started =
      StartWithReadyFd(first_argv, env, &endpoint, absl::Seconds(60), coordinator_tee->write_fd());
  coordinator_tee->CloseWriteEnd();
  if (!started.ok()) {
    return absl::Status(started.status().code(),
                        absl::StrCat(started.status().message(), "; its last error: ",
                                     coordinator_tee->last_error()));
  }
  Subprocess coordinator = *std::move(started);
  FEDGE_LOG(kInfo, "coordinator listening on %s", endpoint);

  std::vector<ProcessRole> client_procs;
  for (size_t d = 0; d < devices.size(); ++d) {
    const std::string ids = FormatIdList(devices[d]);
    std::vector<std::string> argv = {bin + "/fedge-client", "--coordinator=" + endpoint,
                                     "--train_data=" + data.train_source,
                                     data::LabelColumnArg(),
                                     "--partition_file=" + partition_path,
                                     "--holdout_file=" + holdout_path,
                                     "--client_ids=" + ids, "--give_up_after=60s",
                                     "--seed=" + seed};
    argv.insert(argv.end(), client_security[d].begin(), client_security[d].end());
    if (attack) {
      for (std::string& a : AttackClientArgs(*attack, devices[d])) argv.push_back(std::move(a));
    }
    if (!faults[d].inject_fault.empty()) {
      argv.push_back("--inject_fault=" + faults[d].inject_fault);
      FEDGE_LOG(kInfo, "clients %s: --inject_fault=%s", ids, faults[d].inject_fault);
    }
    auto tee = std::make_unique<StderrTee>();
    FEDGE_ASSIGN_OR_RETURN(Subprocess p, Subprocess::Start(argv, env, -1, -1, tee->write_fd()));
    tee->CloseWriteEnd();
    client_procs.push_back({"clients " + ids, std::move(p), faults[d].killed, std::move(tee)});
  }
  FEDGE_LOG(kInfo, "%d clients in %d processes; %d rounds of %s; %s", clients,
            client_procs.size(), rounds, absl::GetFlag(FLAGS_model),
            absl::GetFlag(FLAGS_insecure)
                ? "plain TCP, unsigned models (--insecure)"
                : absl::StrCat("CURVE + signed models, keys in ", out, "/keys"));

  const absl::Time deadline = start + absl::GetFlag(FLAGS_timeout);
  FEDGE_ASSIGN_OR_RETURN(std::optional<ExitInfo> coord_exit,
                         Supervise(coordinator, client_procs, deadline));
  if (coord_exit && kill_coordinator_at > 0 && coord_exit->signal == SIGKILL) {
    // Same state directory, same endpoint: the clients find it by themselves.
    const absl::Time killed = absl::Now();
    std::vector<std::string> argv = coordinator_argv;
    for (std::string& a : argv) {
      if (absl::StartsWith(a, "--listen=")) a = "--listen=" + endpoint;
    }
    std::string again;
    coordinator_tee = std::make_unique<StderrTee>();
    FEDGE_ASSIGN_OR_RETURN(coordinator, StartWithReadyFd(argv, env, &again, absl::Seconds(60),
                                                         coordinator_tee->write_fd()));
    coordinator_tee->CloseWriteEnd();
    FEDGE_LOG(kInfo, "coordinator killed %s; restarted on %s in %.2f s",
              kill_after_updates > 0
                  ? absl::StrCat("in round ", kill_coordinator_at, " after ", kill_after_updates,
                                 " updates")
                  : absl::StrCat("after round ", kill_coordinator_at, "'s checkpoint"),
              again, absl::ToDoubleSeconds(absl::Now() - killed));
    FEDGE_ASSIGN_OR_RETURN(coord_exit, Supervise(coordinator, client_procs, deadline));
  }
  if (!coord_exit) {
    coordinator.Kill(SIGKILL);
    for (auto& c : client_procs) c.process.Kill(SIGKILL);
    return absl::DeadlineExceededError("simulation exceeded --timeout");
  }
  if (!coord_exit->ok()) {
    // Its clients would retry until --give_up_after: stop them now.
    for (auto& c : client_procs) c.process.Kill(SIGKILL);
    for (auto& c : client_procs) c.process.Wait();
    return absl::InternalError(absl::StrCat("the coordinator exited (", coord_exit->ToString(),
                                            ") before the simulation ended; its last error: ",
                                            coordinator_tee->last_error()));
  }
  long client_peak_kb = 0;
  int client_failures = 0;
  int client_kills = 0;
  for (auto& c : client_procs) {
    std::optional<ExitInfo> e = c.process.Wait(absl::Seconds(30));
    if (!e) {
      c.process.Kill(SIGKILL);
      e = c.process.Wait();
      FEDGE_LOG(kWarning, "%s did not exit after the coordinator finished; killed", c.name);
    }
    if (c.killed_by_design && e->signal == SIGKILL) {
      ++client_kills;
    } else if (!e->ok()) {
      ++client_failures;
    }
    client_peak_kb = std::max(client_peak_kb, e->max_rss_kb);
  }
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);

  FEDGE_ASSIGN_OR_RETURN(std::vector<RoundRow> rows, ReadMetrics(metrics_path));
  FEDGE_RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(out, "/results.csv"), ResultsCsv(rows)));
  Summary sum = Summarize(rows);
  const std::string quality =
      !std::isfinite(sum.final_loss)
          ? std::string("  no server-side evaluation (no --test_data)\n")
      : std::isfinite(sum.final_mse)
          ? absl::StrFormat("  final test MSE %.4f, MAE %.4f (loss %.4f)\n", sum.final_mse,
                            sum.final_mae, sum.final_loss)
          : absl::StrFormat("  final test accuracy %.4f (loss %.4f), best %.4f (round %d)\n",
                            sum.final_accuracy, sum.final_loss, sum.best_accuracy, sum.best_round);
  std::string fed;
  if (std::isfinite(sum.final_fed_loss)) {
    fed = std::isfinite(sum.final_fed_mse)
              ? absl::StrFormat("  federated evaluation: MSE %.4f (loss %.4f)\n",
                                sum.final_fed_mse, sum.final_fed_loss)
              : absl::StrFormat("  federated evaluation: accuracy %.4f (loss %.4f)\n",
                                sum.final_fed_accuracy, sum.final_fed_loss);
  }
  std::printf(
      "\nsummary: model %s, %d clients, partition %s, %d/%d rounds completed\n"
      "%s"
      "%s"
      "  wall time %.1f s including start-up; mean round %.2f s\n"
      "  bytes per round: up %.2f MB, down %.2f MB\n"
      "  peak RSS: coordinator %.0f MB, largest client process %.0f MB (%d clients each)\n"
      "  results: %s/results.csv, %s\n",
      absl::GetFlag(FLAGS_model).c_str(), clients,
      absl::GetFlag(FLAGS_partition_file).empty() ? absl::GetFlag(FLAGS_partition).c_str() : "file",
      sum.completed_rounds, rounds, quality.c_str(), fed.c_str(), wall,
      sum.mean_round_seconds, sum.mean_bytes_up / 1e6, sum.mean_bytes_down / 1e6,
      coord_exit->max_rss_kb / 1024.0, client_peak_kb / 1024.0, per_process, out.c_str(),
      metrics_path.c_str());
  if (client_kills > 0) std::printf("  client processes killed as injected: %d\n", client_kills);
  if (attack) {
    std::printf("  %s\n", AttackSummary(*attack, clients).c_str());
    if (attack->options.kind == client::AttackKind::kBackdoor) {
      std::printf("  backdoor success %.4f (final round)\n", sum.final_backdoor_success);
    }
  }
  std::fflush(stdout);
  if (client_failures > 0) {
    return absl::InternalError(absl::StrCat(client_failures, " client processes failed"));
  }
  if (sum.completed_rounds != rounds) {
    return absl::InternalError(absl::StrCat("only ", sum.completed_rounds, " rounds completed"));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace fedge::sim

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs a federated simulation with real processes: one fedge-coordinator and client "
      "processes hosting --clients logical clients over ZeroMQ, on Fashion-MNIST (the "
      "default) or any data (--train_data, --task; docs/data.md) split by --partition. Prints "
      "a line per round and a summary; writes metrics.jsonl and results.csv to --out. Exit "
      "code 2 for flags that cannot work together, 1 when the run fails (a child process "
      "that dies stops it at once, naming the child and its last error).\n"
      "Example: fedge-sim --model=cnn --clients=10 --rounds=10 --partition=dirichlet:0.5\n"
      "Attacks: --attackers=0.2 --attack=signflip makes a --seed-chosen fifth of the clients "
      "malicious (listed in --out/attackers.txt); see --attack.");
  // `--secure` alone means SecAgg; absl wants a value for a string flag.
  std::vector<char*> args(argv, argv + argc);
  char secure_default[] = "--secure=secagg";
  for (char*& a : args) {
    if (std::string(a) == "--secure") a = secure_default;
  }
  // --help lists this binary's own flags (those defined in its main.cc).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "/main.cc") || absl::EndsWith(file, "/strategy_flags.cc") ||
           absl::EndsWith(file, "/attack_flags.cc") || absl::EndsWith(file, "/task_flags.cc") ||
           absl::EndsWith(file, "/evaluation_flags.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  absl::Status s = fedge::sim::Run();
  if (!s.ok()) {
    FEDGE_LOG(kError, "%s", s.ToString());
    return absl::IsInvalidArgument(s) ? 2 : 1;
  }
  return 0;
}
