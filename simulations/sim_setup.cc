#include "simulations/sim_setup.h"

#include "ops/http_server.h"
#include "simulations/device_profiles.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "base/id_list.h"
#include "base/log.h"
#include "base/process_stats.h"
#include "base/status_macros.h"
#include "client/client_host.h"
#include "client/coordinator_link.h"
#include "coordinator/async_flags.h"
#include "coordinator/evaluation_flags.h"
#include "coordinator/strategy.h"
#include "coordinator/privacy_flags.h"
#include "coordinator/compression_flags.h"
#include "coordinator/coordinator.h"
#include "coordinator/strategy_flags.h"
#include "data/npy.h"
#include "data/source.h"
#include "data/task_flags.h"
#include "simulations/attack_flags.h"
#include "simulations/results.h"
#include "simulations/sim_flags.h"

namespace fedge::sim {
namespace {

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

}  // namespace

absl::StatusOr<SimSetup> Prepare() {
  SimSetup s;
  s.clients = absl::GetFlag(FLAGS_clients);
  s.rounds = absl::GetFlag(FLAGS_rounds);
  const int clients = s.clients;
  if (clients < 1 || s.rounds < 1) {
    return absl::InvalidArgumentError("--clients and --rounds must be >= 1");
  }
  if (const std::string p = absl::GetFlag(FLAGS_progress); p != "auto" && p != "on" && p != "off") {
    return absl::InvalidArgumentError(absl::StrCat("--progress=", p, ": want auto, on or off"));
  }
  if (const std::string c = absl::GetFlag(FLAGS_connections); c != "shared" && c != "per_client") {
    return absl::InvalidArgumentError(
        absl::StrCat("--connections=", c, ": want shared or per_client"));
  }
  if (const std::string http = absl::GetFlag(FLAGS_http_listen); !http.empty()) {
    FEDGE_ASSIGN_OR_RETURN(const ops::HttpEndpoint e, ops::ParseHttpListen(http, "--http_listen"));
    if (!ops::IsLoopbackHost(e.host)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--http_listen=", http, ": fedge-sim serves the status page on loopback only (its "
          "coordinator has no token); run fedge-coordinator with --http_token_file to expose it"));
    }
  }
  s.out = absl::GetFlag(FLAGS_out);
  const std::string& out = s.out;
  FEDGE_RETURN_IF_ERROR(MakeDirs(out));
  FEDGE_ASSIGN_OR_RETURN(s.data, PrepareData());
  const std::vector<int64_t> groups = PartitionGroups(s.data.train, s.data.task);
  Partition partition;
  if (std::string pf = absl::GetFlag(FLAGS_partition_file); !pf.empty()) {
    FEDGE_ASSIGN_OR_RETURN(std::string text, ReadFile(pf));
    FEDGE_ASSIGN_OR_RETURN(partition, ParsePartition(text, clients, s.data.train.size()));
  } else {
    FEDGE_ASSIGN_OR_RETURN(partition, MakePartition(absl::GetFlag(FLAGS_partition), groups, clients,
                                                    absl::GetFlag(FLAGS_seed)));
  }
  FEDGE_ASSIGN_OR_RETURN(s.holdout_path, SplitHoldoutFromFlags(out, &partition, &s.data));
  s.data.train = data::Dataset();  // the client processes load their own
  s.partition_path = absl::StrCat(out, "/partition.txt");
  FEDGE_RETURN_IF_ERROR(WriteFileAtomically(s.partition_path, FormatPartition(partition)));
  FEDGE_ASSIGN_OR_RETURN(s.attack, AttackPlanFromFlags(clients, absl::GetFlag(FLAGS_seed)));
  // Always written, so a rerun into the same --out never shows stale attackers.
  FEDGE_RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(out, "/attackers.txt"),
                                            s.attack ? AttackersFile(*s.attack) : ""));
  // Like attackers.txt: removed when this run has no profiles.
  const std::string devices = absl::StrCat(out, "/devices.txt");
  ::unlink(devices.c_str());
  if (const std::string spec = absl::GetFlag(FLAGS_device_profile); !spec.empty()) {
    FEDGE_ASSIGN_OR_RETURN(s.profiles,
                           DeviceProfilesFromSpec(spec, clients, absl::GetFlag(FLAGS_seed)));
    FEDGE_RETURN_IF_ERROR(WriteFileAtomically(devices, client::FormatDeviceProfiles(s.profiles)));
    s.devices_path = devices;
  }
  s.metrics_path = absl::StrCat(out, "/metrics.jsonl");
  ::unlink(s.metrics_path.c_str());

  FEDGE_ASSIGN_OR_RETURN(s.per_process, ClientsPerProcess(clients));
  // One device (key) per client process, its clients balanced by examples.
  s.devices = BalanceClients(partition, s.per_process);

  ClientFaultOptions fault_options;
  fault_options.kill_fraction = absl::GetFlag(FLAGS_kill_clients);
  fault_options.kill_phase = absl::GetFlag(FLAGS_kill_phase);
  fault_options.kill_round = static_cast<uint64_t>(std::max(1, absl::GetFlag(FLAGS_kill_round)));
  fault_options.straggler_fraction = absl::GetFlag(FLAGS_stragglers);
  fault_options.straggler_delay = absl::GetFlag(FLAGS_straggler_delay);
  fault_options.seed = absl::GetFlag(FLAGS_seed);
  FEDGE_ASSIGN_OR_RETURN(s.faults, PlanClientFaults(s.devices.size(), fault_options));
  int doomed_clients = 0;
  for (size_t d = 0; d < s.devices.size(); ++d) {
    if (s.faults[d].killed) doomed_clients += static_cast<int>(s.devices[d].size());
  }
  if (doomed_clients >= clients) {
    return absl::InvalidArgumentError("--kill_clients would kill every client process");
  }
  // Rounds start with the clients that survive; the quorum, half the cohort,
  // never exceeds them.
  s.min_clients = clients - doomed_clients;
  FEDGE_ASSIGN_OR_RETURN(const int cohort, CohortFromFlags(clients));
  s.quorum = std::min(s.min_clients, std::max(1, (cohort + 1) / 2));
  if (fault_options.kill_phase == "unmasking" && fault_options.kill_fraction > 0 &&
      absl::GetFlag(FLAGS_secure) == "none") {
    return absl::InvalidArgumentError("--kill_phase=unmasking needs --secure");
  }
  if (const int g = absl::GetFlag(FLAGS_gateways); g != 0) {
    FEDGE_RETURN_IF_ERROR(CheckGatewayFlags(g, static_cast<int>(s.devices.size())));
  }
  if (const double t = absl::GetFlag(FLAGS_target_accuracy); !(t >= 0 && t <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("--target_accuracy=", t, ": want 0 to 1"));
  }
  if (absl::GetFlag(FLAGS_kill_coordinator_after_updates) > 0 &&
      absl::GetFlag(FLAGS_kill_coordinator_at_round) <= 0) {
    return absl::InvalidArgumentError(
        "--kill_coordinator_after_updates needs --kill_coordinator_at_round");
  }
  // The coordinator checks the strategy again with the model's size (memory
  // bound); these checks need no model and fail before any process starts.
  const coordinator::StrategyOptions options = coordinator::StrategyOptionsFromFlags();
  FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<coordinator::Strategy> strategy,
                         coordinator::MakeStrategy(options));
  FEDGE_RETURN_IF_ERROR(coordinator::CheckStrategyFits(
      *strategy, options, absl::GetFlag(FLAGS_secure) != "none", /*cohort=*/0, /*dim=*/0));
  FEDGE_ASSIGN_OR_RETURN(const coordinator::PrivacyOptions privacy,
                         coordinator::PrivacyOptionsFromFlags());
  FEDGE_RETURN_IF_ERROR(coordinator::ValidatePrivacyOptions(
      privacy, absl::GetFlag(FLAGS_secure) != "none", strategy->buffers_updates(),
      strategy->uses_control_variates()));
  if (privacy.mode != protocol::PrivacyMode::kOff && absl::GetFlag(FLAGS_over_select) > 0) {
    return absl::InvalidArgumentError("--over_select cannot run with --dp (cohorts are "
                                      "Poisson-sampled)");
  }
  // The same checks the coordinator makes, before any process starts.
  FEDGE_ASSIGN_OR_RETURN(const coordinator::CompressionFlags compress,
                         coordinator::CompressionFlagsFromFlags(absl::GetFlag(FLAGS_rounds)));
  coordinator::CoordinatorConfig probe;
  probe.min_clients = probe.quorum = 2;
  probe.secure.enabled = absl::GetFlag(FLAGS_secure) != "none";
  probe.secure.ring_bits = compress.secagg_bits;
  probe.training.compression = compress.update;
  probe.prune = compress.prune;
  probe.strategy = options;
  probe.privacy = privacy;
  probe.over_select = absl::GetFlag(FLAGS_over_select);
  probe.fraction_evaluate = coordinator::EvaluationFlagsFromFlags().fraction;
  FEDGE_ASSIGN_OR_RETURN(probe.async, coordinator::AsyncOptionsFromFlags());
  FEDGE_RETURN_IF_ERROR(coordinator::ValidateCoordinatorConfig(probe));
  return s;
}

absl::StatusOr<Subprocess> StartCoordinator(const std::vector<std::string>& argv,
                                            std::string* endpoint,
                                            std::unique_ptr<StderrTee>* tee) {
  *tee = std::make_unique<StderrTee>();
  std::string http;
  absl::StatusOr<Subprocess> started = StartWithReadyFd(argv, ChildEnv(), endpoint,
                                                        absl::Seconds(60), (*tee)->write_fd(), &http);
  (*tee)->CloseWriteEnd();
  if (started.ok() && !http.empty()) {
    FEDGE_LOG(kInfo, "status page: %s/ (fedge-ctl --server=%s status|pause|resume|stop)", http,
              http);
  }
  if (!started.ok()) {
    return absl::Status(started.status().code(),
                        absl::StrCat(started.status().message(), "; its last error: ",
                                     (*tee)->last_error()));
  }
  return started;
}

std::vector<std::string> ChildEnv() { return {"OMP_NUM_THREADS=1", "OMP_WAIT_POLICY=PASSIVE"}; }

std::vector<std::string> CoordinatorArgs(const SimSetup& s, const std::string& listen) {
  std::vector<std::string> argv = {
      "--listen=" + listen,
      "--model=" + absl::GetFlag(FLAGS_model), absl::StrCat("--rounds=", s.rounds),
      absl::StrCat("--min_clients=", s.min_clients), absl::StrCat("--quorum=", s.quorum),
      absl::StrCat("--over_select=", absl::GetFlag(FLAGS_over_select)),
      absl::StrCat("--clients_per_round=", absl::GetFlag(FLAGS_clients_per_round)),
      absl::StrCat("--fraction=", absl::GetFlag(FLAGS_fraction)),
      absl::StrCat("--local_epochs=", absl::GetFlag(FLAGS_local_epochs)),
      absl::StrCat("--batch_size=", absl::GetFlag(FLAGS_batch_size)),
      absl::StrCat("--lr=", absl::GetFlag(FLAGS_lr)),
      absl::StrCat("--seed=", absl::GetFlag(FLAGS_seed)),
      "--test_data=" + s.data.test_source, "--metrics_out=" + s.metrics_path,
      // The final signed model, for fedge-export (docs/inference.md).
      "--model_out=" + absl::GetFlag(FLAGS_out) + "/model.fms",
      data::LabelColumnArg(),
      absl::StrCat("--round_timeout=",
                   absl::FormatDuration(absl::GetFlag(FLAGS_round_timeout))),
      absl::StrCat("--heartbeat_interval=",
                   absl::FormatDuration(absl::GetFlag(FLAGS_heartbeat_interval))),
      "--secure=" + absl::GetFlag(FLAGS_secure),
      absl::StrCat("--secagg_dropout=", absl::GetFlag(FLAGS_secagg_dropout)),
      absl::StrCat("--secagg_clip=", absl::GetFlag(FLAGS_secagg_clip)),
      // Registration of thousands of simulated clients at once: the
      // coordinator's default of 200 Hellos a second would take a minute
      // for 10,000 (clients back off and retry; this only shortens it).
      // A connection per client also means a CURVE handshake per client,
      // which a coordinator can take ~1,000 of a second; shared
      // connections have none, so all clients may register in a second.
      absl::StrCat("--hello_frame_rate=",
                   std::max(200, SharedConnections() ? s.clients : s.clients / 10))};
  for (std::string& arg : coordinator::EvaluationFlagArgs()) argv.push_back(std::move(arg));
  for (std::string& arg : coordinator::StrategyFlagArgs()) argv.push_back(std::move(arg));
  for (std::string& arg : coordinator::AsyncFlagArgs()) argv.push_back(std::move(arg));
  for (std::string& arg : coordinator::PrivacyFlagArgs()) argv.push_back(std::move(arg));
  for (std::string& arg : coordinator::CompressionFlagArgs()) argv.push_back(std::move(arg));
  for (std::string& arg : data::TaskFlagArgs(s.data.task)) argv.push_back(std::move(arg));
  if (s.attack && s.attack->options.kind == client::AttackKind::kBackdoor) {
    argv.push_back(absl::StrCat("--backdoor_target=", s.attack->options.backdoor_target));
  }
  if (const std::string http = absl::GetFlag(FLAGS_http_listen); !http.empty()) {
    argv.push_back("--http_listen=" + http);
  }
  // The coordinator shares fedge-sim's stdout: its "auto" asks the same question.
  argv.push_back("--progress=" + absl::GetFlag(FLAGS_progress));
  return argv;
}

std::vector<std::string> ClientArgs(const SimSetup& s, size_t d, const std::string& endpoint,
                                    const std::string& partition_path,
                                    const std::string& holdout_path) {
  std::vector<std::string> argv = {"--coordinator=" + endpoint,
                                   "--train_data=" + s.data.train_source,
                                   data::LabelColumnArg(),
                                   "--partition_file=" + partition_path,
                                   "--holdout_file=" + holdout_path,
                                   "--client_ids=" + FormatIdList(s.devices[d]),
                                   "--give_up_after=60s",
                                   absl::StrCat("--seed=", absl::GetFlag(FLAGS_seed))};
  if (s.attack) {
    for (std::string& a : AttackClientArgs(*s.attack, s.devices[d])) argv.push_back(std::move(a));
  }
  if (!s.faults[d].inject_fault.empty()) {
    argv.push_back("--inject_fault=" + s.faults[d].inject_fault);
  }
  if (!s.devices_path.empty()) argv.push_back("--device_profile_file=" + s.devices_path);
  if (SharedConnections()) argv.push_back("--multiplex");
  if (const int t = absl::GetFlag(FLAGS_train_threads); t != 1) {
    argv.push_back(absl::StrCat("--train_threads=", t));
  }
  return argv;
}

bool SharedConnections() { return absl::GetFlag(FLAGS_connections) == "shared"; }

absl::StatusOr<int> ClientsPerProcess(int clients) {
  // The most logical clients one process can host within its descriptor
  // limit (ClientHost needs a few per client, sockets and a connection,
  // unless they share one connection).
  const uint64_t hard = OpenFileHardLimit();
  const int fit =
      SharedConnections() || hard == 0 || hard == UINT64_MAX
          ? std::numeric_limits<int>::max()
          : static_cast<int>(std::clamp<uint64_t>(client::ClientsForDescriptors(hard), 1,
                                                  std::numeric_limits<int>::max()));
  const int asked = absl::GetFlag(FLAGS_clients_per_process);
  if (asked > fit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--clients_per_process=", asked, " needs ~", client::DescriptorsForClients(asked),
        " open descriptors per process; this machine allows ", hard,
        " (ulimit -Hn): use at most ", fit));
  }
  const int threads = absl::GetFlag(FLAGS_train_threads);
  FEDGE_RETURN_IF_ERROR(client::CheckTrainThreadsFlag(threads));
  if (asked > 0) return asked;
  const int procs =
      std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / threads);
  int per = (clients + procs - 1) / procs;
  if (per > fit) {
    FEDGE_LOG(kInfo, "%d clients per process would need ~%d descriptors each (limit %d): "
              "hosting at most %d per process, %d processes", per,
              client::DescriptorsForClients(per), hard, fit, (clients + fit - 1) / fit);
    per = fit;
  }
  return per;
}

namespace {
// Time spent in rounds, failed ones included.
double RoundsSeconds(const std::vector<RoundRow>& rows) {
  double total = 0;
  for (const RoundRow& r : rows) total += r.round_seconds;
  return total;
}
}  // namespace

absl::Status CheckGatewayFlags(int gateways, int client_processes) {
  const auto no = [](absl::string_view flag, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("--gateways with ", flag, ": ", why));
  };
  if (gateways < 0 || gateways > client_processes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--gateways=", gateways, ": want 0 to the number of client processes (",
        client_processes, "; see --clients_per_process)"));
  }
  if (absl::GetFlag(FLAGS_launcher) != "local") {
    return no("--launcher=mpi", "gateways run on rank 0's host only; not supported yet");
  }
  if (absl::GetFlag(FLAGS_clients_per_round) != 0 || absl::GetFlag(FLAGS_fraction) != 1 ||
      absl::GetFlag(FLAGS_over_select) > 0) {
    return no("--clients_per_round, --fraction or --over_select",
              "every root round runs over every gateway's devices");
  }
  if (absl::StatusOr<coordinator::AsyncOptions> async = coordinator::AsyncOptionsFromFlags();
      async.ok() && async->enabled) {
    return no("--mode=async", "gateways relay synchronous rounds");
  }
  if (absl::StatusOr<coordinator::PrivacyOptions> dp = coordinator::PrivacyOptionsFromFlags();
      dp.ok() && dp->mode != protocol::PrivacyMode::kOff) {
    return no("--dp", "the root would clip and count each gateway, not each device");
  }
  if (coordinator::StrategyOptionsFromFlags().name == "scaffold") {
    return no("--strategy=scaffold", "its control variates are per device, not per gateway");
  }
  if (coordinator::EvaluationFlagsFromFlags().fraction > 0) {
    return no("--fraction_evaluate", "federated evaluation through gateways is not built");
  }
  return absl::OkStatus();
}

absl::Status Report(const SimSetup& s, const ExitInfo& coordinator, const ClientTally& clients,
                    absl::Time start) {
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  FEDGE_ASSIGN_OR_RETURN(std::vector<RoundRow> rows, ReadMetrics(s.metrics_path));
  FEDGE_RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(s.out, "/results.csv"), ResultsCsv(rows)));
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
      "  wall time %.1f s, %.1f s of it outside rounds (start-up, registration, shut-down); "
      "mean round %.2f s\n"
      "  bytes per round: up %.2f MB, down %.2f MB; one client's update %.1f KB (--compress=%s%s)\n"
      "  peak RSS: coordinator %.0f MB, largest client process %.0f MB (%d clients each)\n"
      "  results: %s/results.csv, %s\n",
      absl::GetFlag(FLAGS_model).c_str(), s.clients,
      absl::GetFlag(FLAGS_partition_file).empty() ? absl::GetFlag(FLAGS_partition).c_str() : "file",
      sum.completed_rounds, s.rounds, quality.c_str(), fed.c_str(), wall,
      std::max(0.0, wall - RoundsSeconds(rows)), sum.mean_round_seconds, sum.mean_bytes_up / 1e6, sum.mean_bytes_down / 1e6,
      sum.mean_update_bytes_per_client / 1e3, absl::GetFlag(FLAGS_compress).c_str(),
      absl::GetFlag(FLAGS_secure) != "none"
          ? absl::StrCat(", --secagg_bits=", absl::GetFlag(FLAGS_secagg_bits)).c_str()
          : "",
      coordinator.max_rss_kb / 1024.0, clients.peak_rss_kb / 1024.0, s.per_process,
      s.out.c_str(), s.metrics_path.c_str());
  if (const double target = absl::GetFlag(FLAGS_target_accuracy); target > 0) {
    const RoundRow* reached = FirstReaching(rows, target);
    if (reached != nullptr) {
      std::printf("  test accuracy %.4f first reached in round %d (%.4f), %.2f s after the "
                  "first task, %.2f s of it waiting for evaluation between rounds\n",
                  target, static_cast<int>(reached->round), reached->test_accuracy,
                  reached->elapsed_seconds, reached->eval_wait_seconds);
    } else {
      std::printf("  test accuracy %.4f not reached in %d rounds\n", target,
                  sum.completed_rounds);
    }
  }
  if (clients.kills > 0) {
    std::printf("  client processes killed as injected: %d\n", clients.kills);
  }
  if (!s.profiles.empty()) {
    std::printf("  devices (--device_profile, %s/devices.txt): %s\n", s.out.c_str(),
                DescribeDeviceProfiles(s.profiles).c_str());
  }
  if (s.attack) {
    std::printf("  %s\n", AttackSummary(*s.attack, s.clients).c_str());
    if (s.attack->options.kind == client::AttackKind::kBackdoor) {
      std::printf("  backdoor success %.4f (final round)\n", sum.final_backdoor_success);
    }
  }
  const double target_epsilon = absl::GetFlag(FLAGS_dp_target_epsilon);
  const bool budget_stop = std::isfinite(sum.final_epsilon) && target_epsilon > 0 &&
                           sum.completed_rounds < s.rounds && coordinator.exit_code == 0;
  if (std::isfinite(sum.final_epsilon)) {
    std::printf("  privacy (--dp=%s): epsilon %.4f at delta %g for readers of the models",
                absl::GetFlag(FLAGS_dp).c_str(), sum.final_epsilon, absl::GetFlag(FLAGS_dp_delta));
    if (std::isfinite(sum.final_epsilon_coordinator)) {
      std::printf("; %.4f against the coordinator (it knows the cohorts)",
                  sum.final_epsilon_coordinator);
    }
    std::printf("\n");
    if (budget_stop) {
      std::printf("  stopped after %d of %d rounds: one more would exceed --dp_target_epsilon=%g\n",
                  sum.completed_rounds, s.rounds, target_epsilon);
    }
  }
  // Only the operator interface can end a run early with exit code 0 (fedge-ctl
  // stop); the run is then as complete as the operator wanted.
  const bool operator_stop = !budget_stop && sum.completed_rounds < s.rounds &&
                             coordinator.exit_code == 0 &&
                             !absl::GetFlag(FLAGS_http_listen).empty();
  if (operator_stop) {
    std::printf("  stopped by the operator after %d of %d rounds (fedge-ctl stop)\n",
                sum.completed_rounds, s.rounds);
  }
  std::fflush(stdout);
  if (clients.failures > 0) {
    return absl::InternalError(absl::StrCat(clients.failures, " client processes failed"));
  }
  if (sum.completed_rounds != s.rounds && !budget_stop && !operator_stop) {
    return absl::InternalError(absl::StrCat("only ", sum.completed_rounds, " rounds completed"));
  }
  return absl::OkStatus();
}

}  // namespace fedge::sim
