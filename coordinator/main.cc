// fedge-coordinator: serves federated training rounds to fedge clients.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/config_file.h"
#include "base/file_system.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "base/log.h"
#include "base/process_stats.h"
#include "base/signals.h"
#include "data/source.h"
#include "data/task_flags.h"
#include "client/trainer.h"
#include "coordinator/checkpoint.h"
#include "coordinator/coordinator.h"
#include "coordinator/coordinator_server.h"
#include "coordinator/evaluation_flags.h"
#include "coordinator/fault_injection.h"
#include "coordinator/round_outputs.h"
#include "coordinator/privacy_flags.h"
#include "client/model_file.h"
#include "coordinator/compression_flags.h"
#include "coordinator/ops_setup.h"
#include "coordinator/security_setup.h"
#include "coordinator/async_flags.h"
#include "coordinator/strategy_flags.h"
#include "protocol/model_signature.h"
#include "secure/allow_list.h"
#include "secure/key_files.h"

ABSL_FLAG(std::string, listen, "tcp://127.0.0.1:7070",
          "ZeroMQ endpoint to bind: tcp://HOST:PORT (PORT * picks a free one) or ipc://PATH");
ABSL_FLAG(std::string, model, "mlp",
          "Model to train: mlp (784-200-200-10), cnn (FedAvg paper CNN, 1.66M parameters) or "
          "the path of a TorchScript file saved with torch.jit.script(model).save(path)");
ABSL_FLAG(uint64_t, rounds, 10, "Completed rounds to run before telling clients to shut down");
ABSL_FLAG(uint32_t, clients_per_round, 0,
          "Clients selected per round; 0 selects --fraction of the live clients");
ABSL_FLAG(double, fraction, 1.0,
          "Fraction of live clients selected per round (C in the FedAvg paper), when "
          "--clients_per_round is 0; never fewer than --quorum");
ABSL_FLAG(double, over_select, 0,
          "Select this fraction more clients than a round needs (0.3: 30% more) and close the "
          "round as soon as the needed number of updates arrived; later updates are refused "
          "as WRONG_ROUND. Plain FedAvg only: secure rounds tolerate dropouts through "
          "--secagg_dropout");
ABSL_FLAG(std::string, state_dir, "",
          "Directory for crash-safe checkpoints (checkpoint-<round>.ckpt, the newest 3 kept), "
          "written after every round. On start the coordinator resumes from the newest valid "
          "one (a corrupt one is skipped with a log line): same model version, round counter "
          "and --metrics_out lines. Empty: no checkpoints, always start fresh");
ABSL_FLAG(double, client_frame_rate, 20,
          "Frames per second handled from each registered client (bursts of twice that); the "
          "excess is refused as RATE_LIMITED. 0: no limit");
ABSL_FLAG(double, hello_frame_rate, 200,
          "Frames per second handled from all unregistered peers together (their Hellos; "
          "bursts of twice that). 0: no limit");
ABSL_FLAG(std::string, inject_fault, "",
          "Testing only: kill_after_checkpoint:K makes the process SIGKILL itself right after "
          "the checkpoint of round K is durable (before that round's metrics line); "
          "kill_after_updates:K:N as soon as open round K has accepted N updates");
ABSL_FLAG(uint32_t, min_clients, 1, "Live registered clients needed before a round starts");
ABSL_FLAG(uint32_t, quorum, 0,
          "Updates needed to close a round at its deadline; 0 means min_clients");
ABSL_FLAG(absl::Duration, round_timeout, absl::Minutes(5),
          "Deadline of a round; at it the round closes with a quorum or fails");
ABSL_FLAG(absl::Duration, retry_window, absl::Seconds(30),
          "Check-in devices (the SDK's run-once) that are not needed now are told to come back "
          "when the open round should end, at a random point of this window after it");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(1),
          "Interval clients heartbeat at; 10 missed beats drop a client");
ABSL_FLAG(uint32_t, local_epochs, 1, "Local epochs per round (E)");
ABSL_FLAG(uint32_t, batch_size, 32, "Local minibatch size (B)");
ABSL_FLAG(double, lr, 0.05, "Client SGD learning rate (no momentum)");
ABSL_FLAG(uint32_t, max_examples, 0, "Cap on examples a client trains on per round; 0 = all");
ABSL_FLAG(uint64_t, seed, 0, "Seed for model initialisation, cohort selection and shuffling");
ABSL_FLAG(std::string, test_data, "",
          "Data to evaluate the global model on after each round: a directory with "
          "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz], FEATURES,TARGETS (two "
          ".npy or two IDX files) or FILE.csv (--label_column); empty disables evaluation");
ABSL_FLAG(int, backdoor_target, -1,
          "Simulated backdoor attacks (fedge-sim --attack=backdoor): with --test_data, also "
          "report backdoor_success, the share of test images of other classes the model "
          "classifies as this class once the attack's trigger is stamped on them; in [0, 9]. "
          "-1: not measured");
ABSL_FLAG(std::string, metrics_out, "", "Append one JSON object per round to this file");
ABSL_FLAG(std::string, model_out, "",
          "At the end, write the final global model here as a model-store file "
          "(model-<version>.fms format, signed like every version), which fedge-export "
          "--model_file exports and measures (docs/inference.md)");
ABSL_FLAG(uint32_t, max_frame_mb, 256, "Largest frame accepted from a client, in MiB");
ABSL_FLAG(int, ready_fd, -1,
          "If >= 0, write the bound endpoint and a newline to this file descriptor once "
          "listening (lets a parent process use --listen=tcp://127.0.0.1:*)");
ABSL_FLAG(bool, quiet, false, "Do not print a line per round on stdout");
ABSL_FLAG(std::string, key_file, "",
          "The coordinator's key file (fedge-keygen coordinator; mode 0600): its CURVE key "
          "pair for the transport and its Ed25519 key for signing models. Required unless "
          "--insecure; with --insecure, still signs models if given");
ABSL_FLAG(std::string, allowlist, "",
          "Devices allowed to connect: one line per device, '<64-hex CURVE public key> "
          "<client_id>[,<client_id>...]', '#' comments (fedge-keygen enrol appends). Re-read "
          "when it changes and on SIGHUP; a broken edit keeps the previous list. Required "
          "unless --insecure");
ABSL_FLAG(bool, insecure, false,
          "Plain TCP: no encryption, no client authentication, anyone who can reach --listen "
          "can read models and submit updates as any client. Testing only");
ABSL_FLAG(std::string, secure, "none",
          "Secure aggregation: none (plain FedAvg), secagg (Bonawitz et al. 2017: every client "
          "masks against every other) or plus (SecAgg+, Bell et al. 2020: k neighbours in a "
          "random graph; for large cohorts). The coordinator then sees only the sum of updates");
ABSL_FLAG(double, secagg_dropout, 0.2,
          "With --secure: the fraction of a cohort a round must survive losing; sets the "
          "Shamir threshold (and SecAgg+'s neighbourhood size)");
ABSL_FLAG(double, secagg_clip, 1.0,
          "With --secure: per-coordinate bound on a client's delta before fixed-point encoding");
ABSL_FLAG(absl::Duration, secagg_phase_timeout, absl::Seconds(30),
          "With --secure: deadline of each key-exchange and unmasking phase (the masked-input "
          "phase, which waits for training, ends at --round_timeout)");

namespace fedge {
namespace {

// Clean test metrics, and with `backdoor` (--backdoor_target) the backdoor
// attack's success rate too. Runs on the BackgroundEvaluator's thread.
absl::StatusOr<coordinator::EvalMetrics> EvaluateModel(client::ModelEvaluator& e,
                                                       client::ModelEvaluator* backdoor,
                                                       absl::Span<const float> w) {
  absl::StatusOr<client::EvalResult> r = e.Evaluate(w);
  if (!r.ok()) return r.status();
  coordinator::EvalMetrics m;
  m.loss = r->loss;
  m.has_accuracy = r->has_accuracy;
  m.accuracy = r->accuracy;
  if (!r->has_accuracy) {
    m.mse = r->mse;
    m.mae = r->mae;
  }
  m.examples = r->examples;
  if (backdoor != nullptr) {
    absl::StatusOr<client::EvalResult> b = backdoor->Evaluate(w);
    if (!b.ok()) return b.status();
    m.backdoor_success = b->accuracy;
  }
  return m;
}

// --test_data, loaded; nullopt when empty.
absl::StatusOr<std::optional<data::Dataset>> LoadTestData() {
  const std::string source = absl::GetFlag(FLAGS_test_data);
  if (source.empty()) return std::optional<data::Dataset>();
  FEDGE_ASSIGN_OR_RETURN(data::Dataset d,
                         data::LoadDataset(source, data::SourceOptionsFromFlags("t10k")));
  return std::optional<data::Dataset>(std::move(d));
}

// The server-side evaluation of each round's model on `test`, with the
// backdoor's success when --backdoor_target is set.
absl::StatusOr<std::unique_ptr<coordinator::BackgroundEvaluator>> MakeEvaluator(
    const protocol::ModelPayload& model, data::Dataset test) {
  std::shared_ptr<client::ModelEvaluator> backdoor;
  if (const int target = absl::GetFlag(FLAGS_backdoor_target); target != -1) {
    if (target < 0 || target > 9) {
      return absl::InvalidArgumentError(
          absl::StrCat("--backdoor_target=", target, ": want a class in [0, 9]"));
    }
    FEDGE_ASSIGN_OR_RETURN(backdoor,
                           client::MakeBackdoorEvaluator(model.architecture_id, model.architecture,
                                                         model.task, test,
                                                         static_cast<uint8_t>(target)));
  }
  FEDGE_ASSIGN_OR_RETURN(std::shared_ptr<client::ModelEvaluator> e,
                         client::MakeTorchEvaluator(model.architecture_id, model.architecture,
                                                    model.task, std::move(test)));
  return coordinator::BackgroundEvaluator::Create(
      [e, backdoor](absl::Span<const float> w) { return EvaluateModel(*e, backdoor.get(), w); });
}

// The transport security and model signing the flags ask for; nullopt
// after a message on stderr (Main then exits 2).
std::optional<coordinator::Security> LoadSecurity() {
  return coordinator::LoadSecurity({absl::GetFlag(FLAGS_insecure),
                                    absl::GetFlag(FLAGS_key_file),
                                    absl::GetFlag(FLAGS_allowlist),
                                    absl::GetFlag(FLAGS_listen)});
}

// Restores the coordinator from `resume` (if any) and brings --metrics_out in
// line with it, or counts the lines already there for a fresh start.
absl::Status ResumeOrStartMetrics(coordinator::Coordinator* coord,
                                  const std::optional<coordinator::Checkpoint>& resume,
                                  coordinator::CheckpointStore* store,
                                  coordinator::ReportPrinter* printer) {
  const std::string metrics = absl::GetFlag(FLAGS_metrics_out);
  FileSystem* fs = PosixFileSystem::Default();
  if (!resume.has_value()) {
    if (store != nullptr) FEDGE_LOG(kInfo, "no checkpoint: starting fresh");
    if (!metrics.empty()) {
      FEDGE_ASSIGN_OR_RETURN(uint64_t lines, coordinator::CountLines(fs, metrics));
      printer->set_lines_written(lines);
    }
    return absl::OkStatus();
  }
  FEDGE_RETURN_IF_ERROR(coord->Restore(resume->coordinator));
  if (!metrics.empty()) {
    FEDGE_ASSIGN_OR_RETURN(uint64_t lines, coordinator::ResumeMetricsLog(fs, metrics, *resume));
    printer->set_lines_written(lines);
  }
  return absl::OkStatus();
}

// The final model as a device stores it (client/model_file.h), written
// crash-safely: a reader finds the old file or the whole new one.
absl::Status WriteModelOut(coordinator::Coordinator& coord, const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(auto model, coord.SignedModel());
  FEDGE_ASSIGN_OR_RETURN(const std::string file,
                         client::EncodeModelFile(coord.model_version(), model.first,
                                                 model.second.signature));
  FEDGE_RETURN_IF_ERROR(WriteFileAtomically(path, file));
  FEDGE_LOG(kInfo, "wrote model version %d to %s (%d bytes)", coord.model_version(), path,
            file.size());
  return absl::OkStatus();
}

// The model to start from, and its evaluator on --test_data (null without).
struct InitialModel {
  protocol::ModelPayload model;
  std::unique_ptr<coordinator::BackgroundEvaluator> evaluator;
};

absl::StatusOr<InitialModel> LoadInitialModel() {
  absl::StatusOr<std::optional<data::Dataset>> test = LoadTestData();
  if (!test.ok()) return AnnotateStatus(test.status(), "--test_data: ");
  FEDGE_ASSIGN_OR_RETURN(
      const protocol::TaskSpec task,
      data::TaskFromFlags(test->has_value() ? (*test)->example_shape : std::vector<int64_t>{}));
  InitialModel out;
  FEDGE_ASSIGN_OR_RETURN(out.model, client::MakeInitialModel(absl::GetFlag(FLAGS_model),
                                                             absl::GetFlag(FLAGS_seed), task));
  FEDGE_LOG(kInfo, "task: %s", protocol::DescribeTask(out.model.task));
  if (test->has_value()) {
    absl::StatusOr<std::unique_ptr<coordinator::BackgroundEvaluator>> e =
        MakeEvaluator(out.model, *std::move(*test));
    if (!e.ok()) return AnnotateStatus(e.status(), "--test_data: ");
    out.evaluator = *std::move(e);
  }
  return out;
}

// After Serve: the security and refusal summaries, --model_out, and the
// exit code (0 for a run that ended as configured, budgeted or stopped).
int EndOfRun(coordinator::CoordinatorServer& server, coordinator::Coordinator& coord,
             absl::Status s, uint64_t rounds) {
  if (server.secure()) {
    const coordinator::ServerSecurityStats sec = server.security_stats();
    const coordinator::CoordinatorStats& cst = coord.stats();
    auto refused = cst.rejected_by_code.find(protocol::ErrorCode::kNotEnrolled);
    FEDGE_LOG(kInfo,
              "security: %d connections accepted, %d refused by the allow-list, %d handshakes "
              "failed; %d Hellos/updates refused as NOT_ENROLLED; %d tasks refused by clients "
              "(bad signature or rollback)",
              sec.handshakes_accepted, sec.handshakes_refused, sec.handshakes_failed,
              refused == cst.rejected_by_code.end() ? 0 : refused->second,
              cst.models_refused_by_clients);
  }
  if (const std::string out = absl::GetFlag(FLAGS_model_out); !out.empty()) {
    if (absl::Status w = WriteModelOut(coord, out); !w.ok()) {
      FEDGE_LOG(kError, "--model_out=%s: %s", out, w.ToString());
      if (s.ok()) s = w;
    }
  }
  if (absl::IsCancelled(s)) {
    FEDGE_LOG(kInfo, "stopped after %d completed rounds", coord.completed_rounds());
    return 0;
  }
  const coordinator::CoordinatorStats& st = coord.stats();
  std::string by_code;
  for (const auto& [code, count] : st.rejected_by_code) {
    absl::StrAppend(&by_code, by_code.empty() ? " (" : ", ", protocol::ErrorCodeName(code), " ",
                    count);
  }
  if (!by_code.empty()) by_code += ")";
  FEDGE_LOG(kInfo, "done: %s; %d rounds completed, %d failed, %d messages refused%s",
            coord.finish_reason(), coord.completed_rounds(), st.rounds_failed,
            st.rejected_total, by_code);
  if (!s.ok()) {
    FEDGE_LOG(kError, "%s", s.ToString());
    return 1;
  }
  return coord.completed_rounds() >= rounds || coord.privacy_budget_spent() ||
                 coord.stopped_by_operator()
             ? 0
             : 1;
}

// The round settings the flags ask for (not the security or outputs);
// InvalidArgument naming the flag for a usage error.
absl::StatusOr<coordinator::CoordinatorConfig> ConfigFromFlags() {
  coordinator::CoordinatorConfig cfg;
  cfg.rounds = absl::GetFlag(FLAGS_rounds);
  cfg.clients_per_round = absl::GetFlag(FLAGS_clients_per_round);
  cfg.fraction = absl::GetFlag(FLAGS_fraction);
  cfg.min_clients = absl::GetFlag(FLAGS_min_clients);
  cfg.quorum = absl::GetFlag(FLAGS_quorum) ? absl::GetFlag(FLAGS_quorum) : cfg.min_clients;
  cfg.over_select = absl::GetFlag(FLAGS_over_select);
  for (auto [flag, limit] : {std::pair{absl::GetFlag(FLAGS_client_frame_rate),
                                      &cfg.client_frame_limit},
                            std::pair{absl::GetFlag(FLAGS_hello_frame_rate),
                                      &cfg.unregistered_frame_limit}}) {
    limit->frames_per_second = flag;
    limit->burst = std::max(1.0, 2 * flag);
  }
  cfg.round_timeout = absl::GetFlag(FLAGS_round_timeout);
  const coordinator::EvaluationFlags evaluation = coordinator::EvaluationFlagsFromFlags();
  cfg.fraction_evaluate = evaluation.fraction;
  cfg.evaluate_timeout = evaluation.timeout;
  cfg.retry_window = absl::GetFlag(FLAGS_retry_window);
  cfg.heartbeat_interval = absl::GetFlag(FLAGS_heartbeat_interval);
  cfg.training.local_epochs = absl::GetFlag(FLAGS_local_epochs);
  cfg.training.batch_size = absl::GetFlag(FLAGS_batch_size);
  cfg.training.learning_rate = static_cast<float>(absl::GetFlag(FLAGS_lr));
  cfg.training.max_examples = absl::GetFlag(FLAGS_max_examples);
  cfg.strategy = fedge::coordinator::StrategyOptionsFromFlags();
  FEDGE_ASSIGN_OR_RETURN(cfg.privacy, coordinator::PrivacyOptionsFromFlags());
  FEDGE_ASSIGN_OR_RETURN(cfg.async, coordinator::AsyncOptionsFromFlags());
  FEDGE_ASSIGN_OR_RETURN(const coordinator::CompressionFlags compress,
                         coordinator::CompressionFlagsFromFlags(cfg.rounds));
  cfg.training.compression = compress.update;
  cfg.secure.ring_bits = compress.secagg_bits;
  cfg.prune = compress.prune;
  cfg.seed = absl::GetFlag(FLAGS_seed);
  cfg.strategy.seed = cfg.seed;
  cfg.limits.max_frame_bytes = size_t{absl::GetFlag(FLAGS_max_frame_mb)} << 20;
  FEDGE_RETURN_IF_ERROR(coordinator::ApplySecureMode(
      absl::GetFlag(FLAGS_secure), absl::GetFlag(FLAGS_secagg_dropout),
      absl::GetFlag(FLAGS_secagg_clip), &cfg.secure));
  cfg.secure.phase_timeout = absl::GetFlag(FLAGS_secagg_phase_timeout);
  return cfg;
}

// What a signal acts on: the server to stop, the allow-list to re-read.
// Set while they exist; the signal thread outlives Main.
std::atomic<coordinator::CoordinatorServer*> stop_target{nullptr};
std::atomic<secure::AllowListFile*> reload_target{nullptr};

// Before any thread exists (ZeroMQ starts some), so all inherit the mask.
void InstallSignalHandlers() {
  HandleSignals({SIGINT, SIGTERM, SIGHUP}, [](int sig) {
    if (sig == SIGHUP) {
      if (auto* list = reload_target.load()) {
        FEDGE_LOG(kInfo, "SIGHUP: re-reading the allow-list %s", list->path());
        list->ReloadIfChanged(/*force=*/true).IgnoreError();  // logs its own failure
      }
      return;
    }
    FEDGE_LOG(kWarning, "signal %d: stopping (clients keep retrying)", sig);
    if (auto* server = stop_target.load()) {
      server->Stop();
    } else {
      std::_Exit(1);  // still starting up: nothing to save
    }
  });
}

// --state_dir: the store, the newest checkpoint to resume from, and the
// writer the coordinator hands each round to (all empty without the flag).
struct Checkpointing {
  std::unique_ptr<coordinator::CheckpointStore> store;
  std::optional<coordinator::Checkpoint> resume;
  std::optional<coordinator::CheckpointWriter> writer;
};

// Fills *out in place (the writer points at the store and the printer).
absl::Status OpenCheckpoints(coordinator::ReportPrinter* printer,
                             const coordinator::CoordinatorFaultPlan& faults,
                             Checkpointing* out) {
  const std::string dir = absl::GetFlag(FLAGS_state_dir);
  if (dir.empty()) return absl::OkStatus();
  auto opened = coordinator::CheckpointStore::Open(dir, PosixFileSystem::Default());
  absl::StatusOr<std::optional<coordinator::Checkpoint>> newest =
      opened.ok() ? (*opened)->LoadNewest() : opened.status();
  if (!newest.ok()) {
    return AnnotateStatus(newest.status(), absl::StrCat("--state_dir=", dir, ": "));
  }
  out->store = *std::move(opened);
  out->resume = *std::move(newest);
  out->writer.emplace(out->store.get(), printer, faults.kill_after_checkpoint_round);
  return absl::OkStatus();
}

// --ready_fd: the endpoint, and the HTTP interface's address on a second
// line for parents that asked for a free port.
bool AnnounceReady(const coordinator::CoordinatorServer& server,
                   const coordinator::Operations& operations) {
  const int fd = absl::GetFlag(FLAGS_ready_fd);
  if (fd < 0) return true;
  std::string line = server.endpoint() + "\n";
  if (operations.http != nullptr) line += operations.http->url() + "\n";
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    FEDGE_LOG(kError, "cannot write to --ready_fd %d", fd);
    return false;
  }
  ::close(fd);
  return true;
}

void LogListening(const coordinator::CoordinatorServer& server,
                  const coordinator::Security& security, const coordinator::Coordinator& coord,
                  const coordinator::CoordinatorConfig& cfg) {
  FEDGE_LOG(kInfo, "listening on %s (%s), model %s (%d parameters, %s), %d rounds",
            server.endpoint(),
            server.secure() ? absl::StrCat("CURVE, ", security.allow_list->Current()->size(),
                                           " devices in the allow-list")
                            : std::string("plain TCP, INSECURE"),
            absl::GetFlag(FLAGS_model), coord.weights().size(),
            cfg.model_signer ? "signed" : "unsigned", cfg.rounds);
}

int Main(const std::function<bool(absl::string_view)>& is_own_flag) {
  SetLogTag("coordinator");
  InstallSignalHandlers();
  std::optional<coordinator::Security> security = LoadSecurity();
  if (!security.has_value()) return 2;
  reload_target.store(security->allow_list.get());
  auto forget_list = absl::MakeCleanup([] { reload_target.store(nullptr); });
  absl::StatusOr<InitialModel> initial = LoadInitialModel();
  if (!initial.ok()) {
    FEDGE_LOG(kError, "%s", initial.status().ToString());
    return 2;
  }
  std::unique_ptr<coordinator::BackgroundEvaluator> evaluator = std::move(initial->evaluator);
  absl::StatusOr<coordinator::CoordinatorConfig> config = ConfigFromFlags();
  if (!config.ok()) {
    std::fprintf(stderr, "fedge-coordinator: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  coordinator::CoordinatorConfig& cfg = *config;
  cfg.model_signer = security->signer;
  if (security->allow_list != nullptr) {
    cfg.enrolment =
        std::make_shared<coordinator::AllowListEnrolment>(security->allow_list.get());
  }
  auto server = coordinator::CoordinatorServer::Create(
      absl::GetFlag(FLAGS_listen), cfg.limits.max_frame_bytes, std::move(security->server));
  if (!server.ok()) {
    FEDGE_LOG(kError, "%s", server.status().ToString());
    return 2;
  }
  // From here a signal stops the server (at once if it comes before Serve):
  // a parent that saw the ready line may signal right away.
  stop_target.store(server->get());
  auto forget_server = absl::MakeCleanup([] { stop_target.store(nullptr); });
  coordinator::ReportPrinter printer(absl::GetFlag(FLAGS_metrics_out), cfg.rounds,
                                     absl::GetFlag(FLAGS_quiet));
  std::optional<coordinator::Operations> operations =
      coordinator::StartOperations(**server, printer, security->allow_list.get(), cfg.rounds,
                                   absl::GetFlag(FLAGS_quiet), is_own_flag);
  if (!operations.has_value()) return 2;
  absl::StatusOr<coordinator::CoordinatorFaultPlan> faults =
      coordinator::ParseCoordinatorFaultPlan(absl::GetFlag(FLAGS_inject_fault));
  if (!faults.ok()) {
    FEDGE_LOG(kError, "%s", faults.status().ToString());
    return 2;
  }
  const absl::Time resume_start = absl::Now();
  Checkpointing checkpoints;
  if (absl::Status s = OpenCheckpoints(&printer, *faults, &checkpoints); !s.ok()) {
    FEDGE_LOG(kError, "%s", s.ToString());
    return 2;
  }
  if (checkpoints.writer.has_value()) cfg.checkpoint_sink = &*checkpoints.writer;
  auto coord = coordinator::Coordinator::Create(cfg, std::move(initial->model),
                                                (*server)->outbox(), evaluator.get(),
                                                operations->observer, absl::Now());
  if (!coord.ok()) {
    FEDGE_LOG(kError, "%s", coord.status().ToString());
    return 2;
  }
  if (absl::Status s = ResumeOrStartMetrics(coord->get(), checkpoints.resume,
                                            checkpoints.store.get(), &printer);
      !s.ok()) {
    FEDGE_LOG(kError, "--state_dir=%s: %s", absl::GetFlag(FLAGS_state_dir), s.ToString());
    return 2;
  }
  if (checkpoints.resume.has_value()) {
    FEDGE_LOG(kInfo, "resumed from %s in %.0f ms",
              checkpoints.store->PathOf(checkpoints.resume->coordinator.round),
              absl::ToDoubleMilliseconds(absl::Now() - resume_start));
  }
  LogListening(**server, *security, **coord, cfg);
  // /status and /metrics answer from the moment the address is announced.
  if (operations->bridge != nullptr) operations->bridge->OnLoop(**coord, absl::Now());
  if (!AnnounceReady(**server, *operations)) return 2;
  if (faults->kill_after_updates.has_value()) {
    (*server)->set_after_frame([plan = *faults](const coordinator::Coordinator& c) {
      if (!coordinator::ReachedMidRoundFault(plan, c)) return;
      FEDGE_LOG(kWarning, "--inject_fault: SIGKILL in round %d after %d accepted inputs",
                c.round(), c.inputs_accepted());
      ::raise(SIGKILL);
    });
  }
  absl::Status s = (*server)->Serve(coord->get(), evaluator.get());
  if (operations->control != nullptr) operations->control->Close();
  return EndOfRun(**server, **coord, std::move(s), cfg.rounds);
}

}  // namespace
}  // namespace fedge

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Coordinates federated training: waits for fedge clients, sends each round's model, "
      "aggregates their updates with FedAvg and evaluates the result.\n"
      "Example: fedge-coordinator --listen=tcp://0.0.0.0:7070 --model=cnn --rounds=50 "
      "--min_clients=10 --test_data=/usr/share/datasets/fashion-mnist "
      "--key_file=keys/coordinator.key --allowlist=keys/allowlist.txt\n"
      "Security: connections use CURVE (encrypted; clients authenticated by the keys in "
      "--allowlist) unless --insecure; every model version is signed with the key in "
      "--key_file. SIGHUP re-reads the allow-list.");
  // --help lists this binary's own flags (those defined in its main.cc).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "/main.cc") || absl::EndsWith(file, "/strategy_flags.cc") ||
           absl::EndsWith(file, "/async_flags.cc") ||
           absl::EndsWith(file, "/task_flags.cc") || absl::EndsWith(file, "/evaluation_flags.cc") ||
           absl::EndsWith(file, "/privacy_flags.cc") ||
           absl::EndsWith(file, "/compression_flags.cc") ||
           absl::EndsWith(file, "/ops_setup.cc") ||
           absl::EndsWith(file, "/config_file.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  // --config=FILE first, so that the command line below overrides the file.
  if (absl::Status c = fedge::LoadConfigFromArgs(argc, argv, usage.contains_help_flags);
      !c.ok()) {
    std::fprintf(stderr, "fedge-coordinator: --config: %s\n", std::string(c.message()).c_str());
    return 2;
  }
  absl::ParseCommandLine(argc, argv);
  // One descriptor per connected client and then some: as many as allowed.
  fedge::RaiseOpenFileLimit(1u << 20);
  return fedge::Main(usage.contains_help_flags);
}
