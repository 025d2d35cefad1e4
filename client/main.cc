// fedge-client: one process hosting one or more logical federated clients.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_system.h"
#include "base/file_util.h"
#include "base/heap_policy.h"
#include "base/id_list.h"
#include "base/log.h"
#include "base/signals.h"
#include "base/status_macros.h"
#include "client/attack.h"
#include "client/client_host.h"
#include "client/device_profile.h"
#include "data/source.h"
#include "client/fault_injection.h"
#include "client/torch_plugin.h"
#include "client/trainer.h"
#include "client/verified_version_store.h"
#include "protocol/model_signature.h"
#include "protocol/wire.h"
#include "secure/key_files.h"

ABSL_FLAG(std::string, coordinator, "tcp://127.0.0.1:7070", "Coordinator endpoint to connect to");
ABSL_FLAG(std::string, data_dir, "/usr/share/datasets/fashion-mnist",
          "Directory with train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] "
          "(used when --train_data is empty)");
ABSL_FLAG(std::string, train_data, "",
          "Training data: a directory of IDX files in the MNIST layout, FEATURES,TARGETS (two "
          ".npy or two IDX files, examples along the first dimension) or FILE.csv (numeric, "
          "with a header); empty: --data_dir");
ABSL_FLAG(std::string, holdout_file, "",
          "Federated evaluation: one line per client (as --partition_file) of the training-data "
          "indices each logical client holds out; a client with a line evaluates models on "
          "them when the coordinator asks (fedge-coordinator --fraction_evaluate)");
ABSL_FLAG(std::string, label_column, "label",
          "CSV training data: the target column (several: comma-separated)");
ABSL_FLAG(std::string, partition_file, "",
          "File with one line per client id of whitespace-separated 0-based training-set "
          "indices (line N is client N). Empty: every client uses the whole training set");
ABSL_FLAG(std::string, client_ids, "0",
          "Logical clients to host in this process: comma-separated ids or ranges (0-4,7)");
ABSL_FLAG(bool, multiplex, false,
          "One connection for all --client_ids, each client talking on a channel of it: one "
          "socket and one CURVE handshake per process instead of one per client (simulations "
          "hosting thousands of clients). The --key_file's key must be enrolled for every id. "
          "Off: one connection per client, as devices do");
ABSL_FLAG(int, threads, 1, "LibTorch intra-op threads for training");
ABSL_FLAG(int, train_threads, 1,
          "Training threads, each with its own model, taking the next queued task of any "
          "client this process hosts: for a process hosting many logical clients "
          "(simulations), whose threads then finish a round together. Combine with "
          "--threads=1");
ABSL_FLAG(absl::Duration, give_up_after, absl::ZeroDuration(),
          "Exit with an error when the coordinator has been silent this long; 0 = never");
ABSL_FLAG(uint64_t, seed, 0, "Seed for reconnect jitter");
ABSL_FLAG(std::string, device_profile_file, "",
          "Simulations only (fedge-sim --device_profile): lines 'CLIENT_ID SLOWDOWN ONLINE'; a "
          "listed client holds each update back for (SLOWDOWN - 1) x its training time and "
          "takes each task with probability ONLINE (the coin seeded by --seed), staying silent "
          "otherwise. Unlisted clients run at this machine's speed, always online");
ABSL_FLAG(std::string, inject_fault, "",
          "Testing only (fault-injected simulations): comma-separated "
          "kill_during_training:ROUND, kill_before_upload:ROUND (SIGKILL this process at that "
          "phase of its first task of round >= ROUND), kill_before_unmasking:ROUND (SIGKILL "
          "when a secure round >= ROUND asks for the unmasking shares), delay_upload:DURATION "
          "(straggle before every upload)");
ABSL_FLAG(absl::Duration, coordinator_timeout, absl::Seconds(10),
          "Reconnect when the coordinator has been silent this long (it answers every "
          "heartbeat)");
ABSL_FLAG(std::string, key_file, "",
          "This device's key file (fedge-keygen device; mode 0600): its CURVE key pair, whose "
          "public half the coordinator must have enrolled for --client_ids. Required unless "
          "--insecure");
ABSL_FLAG(std::string, coordinator_pub, "",
          "The coordinator's public identity (coordinator.pub from fedge-keygen coordinator): "
          "pins its CURVE key, so no one else can pose as it, and its model-signing key: a task "
          "whose model signature does not verify, or whose model version is older than one "
          "already verified, is refused untrained. Required unless --insecure; with --insecure "
          "it still checks model signatures");
ABSL_FLAG(std::string, state_dir, "",
          "Directory (created if missing) where the highest model version each logical client "
          "verified is kept across restarts (one crash-safe file per client id, "
          "verified-version-<id>), so a restarted device still refuses older signed models as "
          "rollbacks; with several --client_ids the floor at start is the lowest recorded one. "
          "A corrupt or truncated file is an error at start (exit 1; remove the file to accept "
          "any signed version again). Empty: kept in memory only, for the life of the process. "
          "Needs model verification (--coordinator_pub)");
ABSL_FLAG(bool, insecure, false,
          "Plain TCP: no encryption, the coordinator is not authenticated; without "
          "--coordinator_pub unsigned models are accepted unchecked. Testing only");
ABSL_FLAG(std::string, attack, "",
          "Simulation only (fedge-sim --attackers): the clients in --attack_ids poison their "
          "updates, still well-formed. signflip: upload -S x the trained delta; scale: S x "
          "delta; gaussian: N(0, (S x RMS of the trained delta)^2) noise instead; labelflip: "
          "train with labels y -> 9-y, upload S x delta; backdoor: stamp a 4x4 white square "
          "(bottom-right) on --backdoor_fraction of the examples, relabel them "
          "--backdoor_target, upload S x delta. S is --attack_scale. Applied after the "
          "--clip_norm clip. Empty: every client is honest");
ABSL_FLAG(std::string, attack_ids, "",
          "With --attack: which clients attack (ids or ranges as in --client_ids); ids this "
          "process does not host are ignored. Empty: all of --client_ids");
ABSL_FLAG(double, attack_scale, 0,
          "With --attack: the factor S; 0 = the attack's default (signflip 4, scale 10, "
          "gaussian 10, labelflip 1, backdoor 1)");
ABSL_FLAG(double, backdoor_fraction, 0.5,
          "With --attack=backdoor: share of each attacker's examples given the trigger, in (0, 1]");
ABSL_FLAG(int, backdoor_target, 0, "With --attack=backdoor: the class triggered images are "
          "relabelled to, in [0, 9]");

namespace fedge {
namespace {

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
  SharedTrainSet(std::string source, data::SourceOptions options)
      : source_(std::move(source)), options_(std::move(options)) {}
  absl::StatusOr<const client::Dataset*> Get() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!loaded_) {
      data_ = data::LoadDataset(source_, options_);
      loaded_ = true;
    }
    if (!data_.ok()) return data_.status();
    return &*data_;
  }

 private:
  std::mutex mu_;
  std::string source_;
  data::SourceOptions options_;
  bool loaded_ = false;
  absl::StatusOr<client::Dataset> data_;
};

// The --attack flags: which hosted clients attack, and how.
struct AttackSetup {
  client::AttackOptions options;
  std::set<uint64_t> ids;  // empty: none
};

absl::StatusOr<AttackSetup> AttackFromFlags(const std::vector<uint64_t>& hosted) {
  AttackSetup setup;
  const std::string kind = absl::GetFlag(FLAGS_attack);
  const std::string ids = absl::GetFlag(FLAGS_attack_ids);
  if (kind.empty()) {
    if (!ids.empty() || absl::GetFlag(FLAGS_attack_scale) != 0) {
      return absl::InvalidArgumentError("--attack_ids and --attack_scale need --attack");
    }
    return setup;
  }
  FEDGE_ASSIGN_OR_RETURN(setup.options.kind, client::ParseAttackKind(kind, "--attack"));
  setup.options.scale = absl::GetFlag(FLAGS_attack_scale);
  setup.options.backdoor_fraction = absl::GetFlag(FLAGS_backdoor_fraction);
  setup.options.backdoor_target = absl::GetFlag(FLAGS_backdoor_target);
  setup.options.seed = absl::GetFlag(FLAGS_seed);
  FEDGE_RETURN_IF_ERROR(client::ValidateAttackOptions(setup.options));
  std::vector<uint64_t> listed = hosted;
  if (!ids.empty()) {
    FEDGE_ASSIGN_OR_RETURN(listed, ParseIdList(ids, "--attack_ids"));
  }
  const std::set<uint64_t> here(hosted.begin(), hosted.end());
  for (uint64_t id : listed) {
    if (here.count(id) > 0) setup.ids.insert(id);
  }
  return setup;
}

// Transport keys and model verification, as the flags ask.
struct Security {
  std::shared_ptr<const protocol::CurveClientKeys> curve;  // null: --insecure
  std::shared_ptr<const protocol::ModelVerifier> verifier;
};

// nullopt after a message on stderr when the flags are missing or wrong.
std::optional<Security> LoadSecurity() {
  const bool insecure = absl::GetFlag(FLAGS_insecure);
  const std::string key_file = absl::GetFlag(FLAGS_key_file);
  const std::string pub_file = absl::GetFlag(FLAGS_coordinator_pub);
  if (!insecure && (key_file.empty() || pub_file.empty())) {
    std::fprintf(stderr,
                 "fedge-client: --key_file and --coordinator_pub are required: the connection "
                 "is encrypted and authenticated with CURVE and models are signed.\n"
                 "  Create them with: fedge-keygen device --out DIR --name NAME (and have the "
                 "coordinator enrol NAME.pub); coordinator.pub comes from the coordinator.\n"
                 "  Or pass --insecure for plain TCP (testing only). See --help.\n");
    return std::nullopt;
  }
  if (insecure && !key_file.empty()) {
    std::fprintf(stderr,
                 "fedge-client: --key_file has no effect with --insecure (plain TCP); drop one "
                 "of them\n");
    return std::nullopt;
  }
  if (!absl::GetFlag(FLAGS_state_dir).empty() && pub_file.empty()) {
    std::fprintf(stderr,
                 "fedge-client: --state_dir keeps the highest verified model version, but "
                 "without --coordinator_pub no model is verified; add --coordinator_pub\n");
    return std::nullopt;
  }
  Security sec;
  std::optional<secure::CoordinatorIdentity> coordinator;
  if (!pub_file.empty()) {
    absl::StatusOr<secure::CoordinatorIdentity> id =
        secure::ReadCoordinatorIdentityFile(pub_file);
    if (!id.ok()) {
      std::fprintf(stderr, "fedge-client: --coordinator_pub: %s\n",
                   id.status().ToString().c_str());
      return std::nullopt;
    }
    absl::StatusOr<std::unique_ptr<protocol::ModelVerifier>> verifier =
        protocol::ModelVerifier::Create(id->signing_public);
    if (!verifier.ok()) {
      std::fprintf(stderr, "fedge-client: %s\n", verifier.status().ToString().c_str());
      return std::nullopt;
    }
    sec.verifier = *std::move(verifier);
    coordinator = *id;
  }
  if (insecure) {
    std::fprintf(stderr,
                 "WARNING: fedge-client --insecure: plain TCP, nothing encrypted, the "
                 "coordinator not authenticated; %s\n",
                 sec.verifier ? "model signatures are still checked"
                              : "models are NOT checked (unsigned models accepted)");
    return sec;
  }
  absl::StatusOr<secure::DeviceKey> key = secure::ReadDeviceKeyFile(key_file);
  if (!key.ok()) {
    std::fprintf(stderr, "fedge-client: --key_file: %s\n", key.status().ToString().c_str());
    return std::nullopt;
  }
  auto curve = std::make_shared<protocol::CurveClientKeys>();
  curve->public_key = key->curve_public;
  curve->secret_key = std::move(key->curve_secret);
  curve->server_public_key = coordinator->curve_public;
  sec.curve = std::move(curve);
  return sec;
}

absl::Status Run(const Security& security) {
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
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint64_t> ids, ParseIdList(absl::GetFlag(FLAGS_client_ids), "--client_ids"));
  SetLogTag(ids.size() == 1 ? absl::StrCat("client ", ids[0])
                            : absl::StrCat("clients ", ShortIdList(ids)));
  FEDGE_ASSIGN_OR_RETURN(AttackSetup attack, AttackFromFlags(ids));
  const std::string source = absl::GetFlag(FLAGS_train_data).empty()
                                 ? absl::GetFlag(FLAGS_data_dir)
                                 : absl::GetFlag(FLAGS_train_data);
  data::SourceOptions source_options;
  source_options.target_columns = absl::StrSplit(absl::GetFlag(FLAGS_label_column), ',');
  auto train = std::make_shared<SharedTrainSet>(source, source_options);
  std::vector<client::LogicalClientSpec> specs;
  std::map<uint64_t, client::DeviceProfile> profiles;
  if (const std::string file = absl::GetFlag(FLAGS_device_profile_file); !file.empty()) {
    FEDGE_ASSIGN_OR_RETURN(const std::string text, ReadFile(file));
    FEDGE_ASSIGN_OR_RETURN(profiles, client::ParseDeviceProfiles(text, file));
  }
  const std::string partition = absl::GetFlag(FLAGS_partition_file);
  uint64_t full_size = 0;
  if (partition.empty()) {
    // Without a partition every client holds the whole set; reading the
    // targets alone tells its size.
    FEDGE_ASSIGN_OR_RETURN(data::Dataset targets, data::LoadTargets(source, source_options));
    full_size = static_cast<uint64_t>(targets.size());
  }
  for (uint64_t id : ids) {
    client::LogicalClientSpec spec;
    spec.client_id = id;
    if (auto p = profiles.find(id); p != profiles.end()) spec.profile = p->second;
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
        absl::StatusOr<client::Dataset> sub = data::Subset(*all, idx);
        if (!sub.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(partition, " line ", id + 1, ": ",
                                                         sub.status().message()));
        }
        return sub;
      };
    }
    if (const std::string holdout = absl::GetFlag(FLAGS_holdout_file); !holdout.empty()) {
      FEDGE_ASSIGN_OR_RETURN(std::vector<int64_t> held, ReadPartitionLine(holdout, id));
      spec.eval_examples = held.size();
      if (!held.empty()) {
        spec.eval_data = [train, held = std::move(held), holdout,
                          id]() -> absl::StatusOr<client::Dataset> {
          FEDGE_ASSIGN_OR_RETURN(const client::Dataset* all, train->Get());
          absl::StatusOr<client::Dataset> sub = data::Subset(*all, held);
          if (!sub.ok()) {
            return absl::InvalidArgumentError(absl::StrCat(holdout, " line ", id + 1, ": ",
                                                           sub.status().message()));
          }
          return sub;
        };
      }
    }
    if (spec.num_examples == 0) {
      FEDGE_LOG(kWarning, "client %d has no examples and will be refused", id);
    }
    if (attack.ids.count(id) > 0) {
      FEDGE_LOG(kWarning, "client %d attacks: --attack=%s", id,
                client::DescribeAttack(attack.options));
      spec.decorate = client::AttackDecorator(attack.options, id);
    }
    specs.push_back(std::move(spec));
  }

  client::ClientHostOptions opts;
  std::unique_ptr<client::VerifiedVersionStore> verified_versions;
  if (const std::string dir = absl::GetFlag(FLAGS_state_dir); !dir.empty()) {
    absl::StatusOr<std::unique_ptr<client::VerifiedVersionStore>> store =
        client::VerifiedVersionStore::Open(dir, ids, PosixFileSystem::Default());
    if (!store.ok()) {
      return absl::Status(store.status().code(),
                          absl::StrCat("--state_dir: ", store.status().message()));
    }
    verified_versions = *std::move(store);
    client::PersistVerifiedVersions(verified_versions.get(), &opts);
    if (std::optional<uint64_t> floor = verified_versions->Floor()) {
      FEDGE_LOG(kInfo, "--state_dir %s: refusing model versions below %d (verified before)", dir,
                *floor);
    }
  }
  opts.coordinator_endpoint = absl::GetFlag(FLAGS_coordinator);
  opts.give_up_after = absl::GetFlag(FLAGS_give_up_after);
  opts.coordinator_timeout = absl::GetFlag(FLAGS_coordinator_timeout);
  opts.seed = absl::GetFlag(FLAGS_seed);
  opts.multiplex = absl::GetFlag(FLAGS_multiplex);
  opts.train_threads = absl::GetFlag(FLAGS_train_threads);
  FEDGE_RETURN_IF_ERROR(client::CheckTrainThreadsFlag(opts.train_threads));
  opts.curve = security.curve;
  opts.model_verifier = security.verifier;
  client::TorchTrainerOptions topts;
  topts.threads = absl::GetFlag(FLAGS_threads);
  // A process hosting several logical clients (simulations) keeps the model
  // and its freed heap between their tasks; a single device keeps nothing.
  topts.keep_models = ids.size() > 1;
  if (topts.keep_models) KeepFreedHeap();
  FEDGE_ASSIGN_OR_RETURN(client::FaultPlan faults,
                         client::ParseFaultPlan(absl::GetFlag(FLAGS_inject_fault)));
  if (!faults.empty()) {
    FEDGE_LOG(kWarning, "--inject_fault=%s: test faults enabled", absl::GetFlag(FLAGS_inject_fault));
  }
  client::ArmProcessFaults(faults);
  auto make_trainer = [topts, faults]() -> absl::StatusOr<std::unique_ptr<client::Trainer>> {
    FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<client::Trainer> t, client::LoadTorchTrainer(topts));
    return client::WithFaults(std::move(t), faults);
  };
  client::ClientHost host(opts, make_trainer,
                          std::move(specs));
  stop_target.store(&host);
  absl::Status s = host.Run();
  stop_target.store(nullptr);
  if (absl::IsCancelled(s)) return absl::OkStatus();
  const client::ClientHostStats& st = host.stats();
  FEDGE_LOG(kInfo,
            "updates sent %d, evaluations %d, tasks %d (%d of them with the model by "
            "reference; %d more refused, their model not held), reconnects %d, Hellos re-sent "
            "%d, bytes up %d down %d",
            st.updates_sent, st.evaluations_sent, st.tasks_received, st.tasks_by_reference,
            st.tasks_unresolved, st.reconnects, st.hello_resends, st.bytes_sent,
            st.bytes_received);
  return s;
}

}  // namespace
}  // namespace fedge

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Hosts federated clients: registers each with the coordinator, trains on its local "
      "data when given a task and sends back the weight delta.\n"
      "Example: fedge-client --coordinator=tcp://10.0.0.5:7070 --client_ids=0-4 "
      "--partition_file=parts.txt --key_file=keys/dev0.key --coordinator_pub=keys/coordinator.pub\n"
      "Security: the connection uses CURVE (encrypted; the coordinator authenticated by the "
      "key pinned in --coordinator_pub, this device by --key_file) unless --insecure. A task "
      "is trained only if its model signature verifies with the pinned key and its model "
      "version is not older than one already verified (kept for the life of the process, or "
      "across restarts with --state_dir).");
  // --help lists this binary's own flags (those defined in its main.cc).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "/main.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  std::optional<fedge::Security> security = fedge::LoadSecurity();
  if (!security.has_value()) return 2;
  absl::Status s = fedge::Run(*security);
  if (!s.ok()) {
    FEDGE_LOG(kError, "%s", s.ToString());
    return 1;
  }
  return 0;
}
