// fedge-gateway: an edge gateway between devices and the root coordinator.
// To its devices it is a coordinator (its own endpoint, CURVE, allow-list,
// rounds over its sub-cohort); to the root it is one client whose update is
// its devices' example-weighted mean and whose weight is their example count
// (gateway/relay_bridge.h). Models flow down as the root signed them: devices
// pin the root's signing key, so a gateway can neither forge nor roll back a
// model. Gateways nest: a gateway's root may be another gateway.

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/signals.h"
#include "base/status_macros.h"
#include "base/file_system.h"
#include "client/client_host.h"
#include "client/model_store.h"
#include "client/signature_model_verifier.h"
#include "coordinator/coordinator.h"
#include "coordinator/coordinator_server.h"
#include "gateway/prediction_service.h"
#include "gateway/relay_bridge.h"
#include "protocol/model_signature.h"
#include "secure/allow_list.h"
#include "secure/key_files.h"

ABSL_FLAG(std::string, listen, "tcp://127.0.0.1:7071",
          "Where devices connect (tcp://HOST:PORT, port * for any, or ipc://PATH)");
ABSL_FLAG(std::string, root, "tcp://127.0.0.1:7070",
          "The root coordinator (or a parent gateway) this gateway is a client of");
ABSL_FLAG(uint64_t, gateway_id, 0,
          "This gateway's client id at the root (the root's allow-list must enrol "
          "--root_key_file's key for it)");
ABSL_FLAG(uint32_t, min_devices, 1,
          "Registered devices needed to run a root round; with fewer when the root's task "
          "comes, the gateway waits until the root's deadline, then leaves the round");
ABSL_FLAG(uint32_t, quorum, 0,
          "Device updates needed to answer the root at the round's deadline; 0 = --min_devices");
ABSL_FLAG(absl::Duration, round_timeout, absl::Minutes(5),
          "Longest a round over the devices may take (the root's deadline, if sooner, wins)");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(1),
          "Devices beat at it; 10 missed beats drop one");
ABSL_FLAG(absl::Duration, root_timeout, absl::Seconds(10),
          "Nothing heard from the root for this long: reconnect to it");
ABSL_FLAG(uint32_t, max_frame_mb, 256, "Largest frame accepted from a device, in MiB");
ABSL_FLAG(int, ready_fd, -1,
          "Write the bound device endpoint and a newline to this descriptor once listening "
          "(for supervisors such as fedge-sim)");
ABSL_FLAG(std::string, key_file, "",
          "This gateway's coordinator key (fedge-keygen coordinator): its CURVE key pair, "
          "which devices pin (its signing half is not used: models stay the root's)");
ABSL_FLAG(std::string, allowlist, "",
          "The devices allowed to connect, and the client ids each may use (fedge-keygen "
          "enrol)");
ABSL_FLAG(std::string, root_key_file, "",
          "This gateway's device key for the root (fedge-keygen device), enrolled at the root "
          "for --gateway_id");
ABSL_FLAG(std::string, root_pub, "",
          "The root's coordinator.pub: pins its CURVE key and its model-signing key (tasks "
          "whose signature does not verify are not relayed)");
ABSL_FLAG(std::string, device_pub_out, "",
          "Write here the identity this gateway's devices pin with fedge-client "
          "--coordinator_pub: this gateway's CURVE key and the root's signing key");
ABSL_FLAG(std::string, secure, "none",
          "Secure aggregation among this gateway's devices: none, secagg or plus (as "
          "fedge-coordinator --secure): the gateway sees only their sum, the root only the "
          "gateway's mean");
ABSL_FLAG(double, secagg_dropout, 0.2, "With --secure: the share of devices a round survives");
ABSL_FLAG(double, secagg_clip, 1.0, "With --secure: each coordinate's clip before fixed point");
ABSL_FLAG(bool, predictions, true,
          "Serve gateway inference: devices' PredictRequests (fedge_gateway_predict) are run "
          "on the newest verified model, batched across devices");
ABSL_FLAG(uint32_t, predict_max_batch, 32,
          "Most examples one batched prediction runs; 1 runs each request alone (the cnn's "
          "cost per example on one thread is lowest at 16-32 and rises again at 64)");
ABSL_FLAG(uint32_t, predict_queue, 4096,
          "Most examples waiting for prediction; more are refused BUSY (devices fall back to "
          "their own model)");
ABSL_FLAG(uint32_t, predict_max_request, 1024, "Most examples one prediction request may carry");
ABSL_FLAG(int, predict_threads, 1, "LibTorch threads of the gateway's predictor");
ABSL_FLAG(std::string, model_dir, "",
          "Keep the root's verified models here (created if missing; verified with --root_pub "
          "when loaded): a restarted gateway serves predictions with the newest at once and "
          "refuses older ones from the root as rollbacks. Empty: models are kept in memory");
ABSL_FLAG(bool, insecure, false,
          "Plain TCP on both sides, nobody authenticated (testing only); with --root_pub the "
          "root's model signatures are still checked");

namespace fedge {
namespace {

struct Security {
  std::optional<coordinator::ServerSecurity> server;  // devices side; nullopt: --insecure
  std::unique_ptr<secure::AllowListFile> allow_list;
  std::shared_ptr<const protocol::CurveClientKeys> upstream;  // nullopt: --insecure
  std::shared_ptr<const protocol::ModelVerifier> verifier;    // the root's signatures
  std::optional<secure::CoordinatorIdentity> device_identity;  // what devices pin
};

absl::StatusOr<Security> LoadSecurity() {
  const bool insecure = absl::GetFlag(FLAGS_insecure);
  const std::string key_file = absl::GetFlag(FLAGS_key_file);
  const std::string allowlist = absl::GetFlag(FLAGS_allowlist);
  const std::string root_key = absl::GetFlag(FLAGS_root_key_file);
  const std::string root_pub = absl::GetFlag(FLAGS_root_pub);
  if (!insecure && (key_file.empty() || allowlist.empty() || root_key.empty() ||
                    root_pub.empty())) {
    return absl::InvalidArgumentError(
        "--key_file, --allowlist, --root_key_file and --root_pub are required: both links are "
        "encrypted and authenticated with CURVE (or pass --insecure, testing only)");
  }
  if (insecure && (!key_file.empty() || !allowlist.empty() || !root_key.empty())) {
    return absl::InvalidArgumentError(
        "--key_file, --allowlist and --root_key_file have no effect with --insecure; drop "
        "them");
  }
  Security sec;
  std::optional<secure::CoordinatorIdentity> root;
  if (!root_pub.empty()) {
    absl::StatusOr<secure::CoordinatorIdentity> id = secure::ReadCoordinatorIdentityFile(root_pub);
    if (!id.ok()) return AnnotateStatus(id.status(), "--root_pub: ");
    FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<protocol::ModelVerifier> verifier,
                           protocol::ModelVerifier::Create(id->signing_public));
    sec.verifier = std::move(verifier);
    root = *id;
  }
  if (insecure) return sec;
  absl::StatusOr<secure::CoordinatorKey> key = secure::ReadCoordinatorKeyFile(key_file);
  if (!key.ok()) return AnnotateStatus(key.status(), "--key_file: ");
  absl::StatusOr<secure::DeviceKey> device = secure::ReadDeviceKeyFile(root_key);
  if (!device.ok()) return AnnotateStatus(device.status(), "--root_key_file: ");
  absl::StatusOr<std::unique_ptr<secure::AllowListFile>> list =
      secure::AllowListFile::Open(allowlist);
  if (!list.ok()) return AnnotateStatus(list.status(), "--allowlist: ");
  sec.allow_list = *std::move(list);
  sec.device_identity = secure::CoordinatorIdentity{key->curve_public, root->signing_public};
  auto server_keys = std::make_shared<protocol::CurveServerKeys>();
  server_keys->public_key = key->curve_public;
  server_keys->secret_key = std::move(key->curve_secret);
  sec.server = coordinator::ServerSecurity{std::move(server_keys), sec.allow_list.get()};
  auto up = std::make_shared<protocol::CurveClientKeys>();
  up->public_key = device->curve_public;
  up->secret_key = std::move(device->curve_secret);
  up->server_public_key = root->curve_public;
  sec.upstream = std::move(up);
  return sec;
}

// The gateway as one client of the root: it announces one example (its
// weight each round is its devices' count, in the update) and "trains" by
// relaying.
client::LogicalClientSpec GatewaySpec(uint64_t id) {
  client::LogicalClientSpec spec;
  spec.client_id = id;
  spec.num_examples = 1;
  spec.data = []() -> absl::StatusOr<client::Dataset> {
    client::Dataset placeholder;  // never read: the devices hold the data
    placeholder.targets = {0.0f};
    return placeholder;
  };
  return spec;
}

// Gateway inference and the gateway's model store.
struct Inference {
  std::shared_ptr<const client::ModelVerifier> verifier;  // outlives store
  std::unique_ptr<client::ModelStore> store;              // null: no --model_dir
  std::unique_ptr<gateway::PredictionService> service;    // null: --nopredictions
};

absl::StatusOr<Inference> SetUpInference(
    const std::shared_ptr<const protocol::ModelVerifier>& root_verifier,
    coordinator::Outbox* outbox, const protocol::DecodeLimits& limits) {
  Inference inf;
  if (const std::string dir = absl::GetFlag(FLAGS_model_dir); !dir.empty()) {
    if (root_verifier != nullptr) {
      inf.verifier = std::make_shared<client::SignatureModelVerifier>(root_verifier);
    }
    absl::StatusOr<std::unique_ptr<client::ModelStore>> store =
        client::ModelStore::Open(dir, PosixFileSystem::Default(), inf.verifier.get());
    if (!store.ok()) return AnnotateStatus(store.status(), "--model_dir: ");
    inf.store = *std::move(store);
  }
  gateway::PredictionOptions options;
  options.max_batch = absl::GetFlag(FLAGS_predict_max_batch);
  options.max_queued = absl::GetFlag(FLAGS_predict_queue);
  options.max_request = absl::GetFlag(FLAGS_predict_max_request);
  options.threads = absl::GetFlag(FLAGS_predict_threads);
  options.limits = limits;
  if (!absl::GetFlag(FLAGS_predictions)) {
    const gateway::PredictionOptions d;
    const char* set = options.max_batch != d.max_batch       ? "--predict_max_batch"
                      : options.max_queued != d.max_queued   ? "--predict_queue"
                      : options.max_request != d.max_request ? "--predict_max_request"
                      : options.threads != d.threads         ? "--predict_threads"
                                                             : nullptr;
    if (set != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(set, " has no effect with --nopredictions; drop one of them"));
    }
    return inf;
  }
  FEDGE_ASSIGN_OR_RETURN(inf.service, gateway::PredictionService::Create(options, outbox));
  if (inf.store != nullptr) {
    if (auto m = inf.store->Current(); m.ok()) {
      inf.service->SetModel((*m)->version, (*m)->payload);
      FEDGE_LOG(kInfo, "model %d from --model_dir serves predictions", (*m)->version);
    }
  }
  return inf;
}

// On the upstream I/O thread, for every model that passed the root-signature
// and rollback checks.
void KeepModel(Inference& inf, uint64_t version, const protocol::ModelPayload& model,
               const protocol::ModelSignature& signature) {
  if (inf.service != nullptr) inf.service->SetModel(version, model);
  if (inf.store == nullptr) return;
  if (absl::StatusOr<std::shared_ptr<const client::StoredModel>> m = inf.store->Current();
      m.ok() && (*m)->version >= version) {
    return;
  }
  if (absl::Status s = inf.store->Commit(version, model, signature.signature); !s.ok()) {
    // Not fatal: predictions go on from memory; the next model retries.
    FEDGE_LOG(kError, "--model_dir: keeping model %d: %s", version, s.ToString());
  }
}

// A usage error (a flag, a key file): said on stderr, exit code 2.
int UsageError(const absl::Status& s) {
  std::fprintf(stderr, "fedge-gateway: %s\n", std::string(s.message()).c_str());
  return 2;
}

// --device_pub_out: what this gateway's devices pin.
absl::Status WriteDevicePub(const Security& security) {
  const std::string out = absl::GetFlag(FLAGS_device_pub_out);
  if (out.empty()) return absl::OkStatus();
  if (!security.device_identity.has_value()) {
    return absl::InvalidArgumentError("--device_pub_out needs CURVE (not --insecure)");
  }
  return AnnotateStatus(secure::WriteCoordinatorIdentityFile(out, *security.device_identity),
                        "--device_pub_out: ");
}

// The devices' coordinator: relay mode, the root's settings relayed.
absl::StatusOr<coordinator::CoordinatorConfig> DeviceSideConfig(const Security& security,
                                                                coordinator::RelaySink* relay) {
  coordinator::CoordinatorConfig cfg;
  cfg.rounds = ~uint64_t{0} >> 1;  // the root decides when the run ends
  cfg.min_clients = absl::GetFlag(FLAGS_min_devices);
  cfg.quorum = absl::GetFlag(FLAGS_quorum) ? absl::GetFlag(FLAGS_quorum) : cfg.min_clients;
  cfg.round_timeout = absl::GetFlag(FLAGS_round_timeout);
  cfg.heartbeat_interval = absl::GetFlag(FLAGS_heartbeat_interval);
  cfg.max_failed_rounds = ~uint32_t{0};  // a failed round is the root's to judge
  cfg.training.batch_size = 1;           // placeholders: the root's settings are relayed
  cfg.limits.max_frame_bytes = size_t{absl::GetFlag(FLAGS_max_frame_mb)} << 20;
  cfg.client_frame_limit = {20, 40};
  cfg.unregistered_frame_limit = {200, 400};
  cfg.relay = relay;
  FEDGE_RETURN_IF_ERROR(coordinator::ApplySecureMode(absl::GetFlag(FLAGS_secure),
                                                     absl::GetFlag(FLAGS_secagg_dropout),
                                                     absl::GetFlag(FLAGS_secagg_clip), &cfg.secure));
  if (security.allow_list != nullptr) {
    cfg.enrolment = std::make_shared<coordinator::AllowListEnrolment>(security.allow_list.get());
  }
  return cfg;
}

// The gateway as one client of the root; every model it verifies goes to
// gateway inference (and --model_dir).
client::ClientHostOptions UpstreamOptions(const Security& security, Inference* inference) {
  client::ClientHostOptions opts;
  opts.coordinator_endpoint = absl::GetFlag(FLAGS_root);
  opts.coordinator_timeout = absl::GetFlag(FLAGS_root_timeout);
  opts.curve = security.upstream;
  opts.model_verifier = security.verifier;
  opts.seed = absl::GetFlag(FLAGS_gateway_id);
  if (inference->store != nullptr) {
    if (auto m = inference->store->Current(); m.ok()) opts.held_model_version = (*m)->version;
  }
  opts.on_model = [inference](uint64_t version, const protocol::ModelPayload& model,
                              const protocol::ModelSignature& signature) {
    KeepModel(*inference, version, model, signature);
  };
  return opts;
}

// --ready_fd: the bound device endpoint and a newline.
absl::Status AnnounceReady(const std::string& endpoint) {
  const int fd = absl::GetFlag(FLAGS_ready_fd);
  if (fd < 0) return absl::OkStatus();
  const std::string line = endpoint + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  return written ? absl::OkStatus()
                 : absl::InternalError(absl::StrCat("cannot write to --ready_fd ", fd));
}

void LogSummary(const Inference& inference, const client::ClientHost& host,
                const coordinator::Coordinator& coord) {
  if (inference.service != nullptr) {
    const gateway::PredictionStats p = inference.service->stats();
    FEDGE_LOG(kInfo, "predictions: %d requests (%d examples) in %d batches (largest %d), %d "
              "refused", p.requests, p.examples, p.batches, p.largest_batch, p.refused);
  }
  const client::ClientHostStats& st = host.stats();
  FEDGE_LOG(kInfo, "relayed %d root rounds (%d tasks); devices: %d registrations, %d rounds "
            "completed, %d failed",
            st.updates_sent, st.tasks_received, coord.stats().registrations,
            coord.completed_rounds(), coord.stats().rounds_failed);
}

int Main() {
  SetLogTag(absl::StrCat("gateway ", absl::GetFlag(FLAGS_gateway_id)));
  static std::atomic<coordinator::CoordinatorServer*> stop_server{nullptr};
  static std::atomic<client::ClientHost*> stop_host{nullptr};
  HandleTerminationSignals([](int sig) {
    FEDGE_LOG(kWarning, "signal %d: stopping (devices keep retrying)", sig);
    if (auto* h = stop_host.load()) h->Stop();
    if (auto* s = stop_server.load()) {
      s->Stop();
    } else {
      std::_Exit(1);
    }
  });
  absl::StatusOr<Security> security = LoadSecurity();
  if (!security.ok()) return UsageError(security.status());
  if (absl::Status s = WriteDevicePub(*security); !s.ok()) return UsageError(s);
  absl::StatusOr<std::unique_ptr<gateway::RelayBridge>> bridge = gateway::RelayBridge::Create();
  if (!bridge.ok()) {
    FEDGE_LOG(kError, "%s", bridge.status().ToString());
    return 1;
  }
  gateway::RelayBridge* relay = bridge->get();
  absl::StatusOr<coordinator::CoordinatorConfig> cfg = DeviceSideConfig(*security, relay);
  if (!cfg.ok()) return UsageError(cfg.status());
  auto server = coordinator::CoordinatorServer::Create(
      absl::GetFlag(FLAGS_listen), cfg->limits.max_frame_bytes, std::move(security->server));
  if (!server.ok()) {
    FEDGE_LOG(kError, "%s", server.status().ToString());
    return 2;
  }
  auto coord = coordinator::Coordinator::Create(*cfg, protocol::ModelPayload(),
                                                (*server)->outbox(), nullptr, nullptr, absl::Now());
  if (!coord.ok()) return UsageError(coord.status());
  (*server)->add_loop_hook(relay);
  absl::StatusOr<Inference> inference =
      SetUpInference(security->verifier, (*server)->outbox(), cfg->limits);
  if (!inference.ok()) return UsageError(inference.status());
  if (inference->service != nullptr) {
    (*server)->Route(protocol::MessageKind::kPredictRequest, inference->service.get());
    (*server)->add_loop_hook(inference->service.get());
  }
  stop_server.store(server->get());

  const client::ClientHostOptions opts = UpstreamOptions(*security, &*inference);
  auto make_trainer = [relay]() -> absl::StatusOr<std::unique_ptr<client::Trainer>> {
    return relay->MakeTrainer();
  };
  client::ClientHost host(opts, make_trainer, {GatewaySpec(absl::GetFlag(FLAGS_gateway_id))});
  stop_host.store(&host);
  FEDGE_LOG(kInfo, "gateway %d: devices connect to %s (%s); root %s", absl::GetFlag(FLAGS_gateway_id),
            (*server)->endpoint(),
            (*server)->secure() ? "CURVE" : "plain TCP, INSECURE", opts.coordinator_endpoint);
  if (absl::Status s = AnnounceReady((*server)->endpoint()); !s.ok()) {
    FEDGE_LOG(kError, "%s", s.message());
    return 2;
  }
  // Upstream on a thread of its own; when the root ends the run, the devices
  // are told, and the serving loop ends with them.
  absl::Status upstream;
  std::thread up([&] {
    upstream = host.Run();
    relay->EndRun(upstream.ok() ? "the root ended the run"
                                : absl::StrCat("lost the root: ", upstream.message()));
  });
  absl::Status served = (*server)->Serve(coord->get());
  host.Stop();
  up.join();
  stop_host.store(nullptr);
  stop_server.store(nullptr);
  LogSummary(*inference, host, **coord);
  // Cancelled: a signal stopped the gateway, a normal end.
  if (!served.ok() && !absl::IsCancelled(served)) {
    FEDGE_LOG(kError, "serving devices: %s", served.ToString());
    return 1;
  }
  if (!upstream.ok() && !absl::IsCancelled(upstream)) {
    FEDGE_LOG(kError, "root link: %s", upstream.ToString());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace fedge

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "An edge gateway: a coordinator to its devices, one client to the root.\n"
      "Each root round is run over the gateway's devices with the root's task unchanged "
      "(model, version, signature, settings); the gateway answers the root with their "
      "example-weighted mean update and their example count, so the root's FedAvg over "
      "gateways equals FedAvg over all devices. Devices pin --device_pub_out (this gateway's "
      "CURVE key, the root's signing key).\n"
      "Example: fedge-gateway --listen=tcp://0.0.0.0:7071 --root=tcp://root:7070 "
      "--gateway_id=1000 --key_file=gw.key --allowlist=devices.txt --root_key_file=gw-dev.key "
      "--root_pub=coordinator.pub --device_pub_out=gateway.pub");
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "gateway/main.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  return fedge::Main();
}
