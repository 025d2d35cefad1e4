// fedge::Client (fedge/client.h): one device's federated client over
// ClientHost, with data from the device's callbacks, an eligibility gate, and
// the model store for offline inference, and the device's strategy state
// across check-ins (client/sdk/device_state.h). LibTorch comes from the torch
// plugin (client/torch_plugin.h), so this library does not link it.

#include "fedge/client.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/file_system.h"
#include "base/log.h"
#include "client/client_host.h"
#include "client/model_store.h"
#include "libtorch/model_export.h"
#include "client/sdk/device_data.h"
#include "client/sdk/device_state.h"
#include "client/sdk/device_trainer.h"
#include "client/sdk/gateway_link.h"
#include "client/sdk/status_map.h"
#include "client/signature_model_verifier.h"
#include "client/torch_plugin.h"
#include "protocol/model_signature.h"
#include "secure/key_files.h"

namespace fedge {
namespace {

using client::Dataset;

// fedge_target mirrors protocol::TargetKind.
static_assert(FEDGE_TARGET_CLASS == int(protocol::TargetKind::kClass) &&
              FEDGE_TARGET_BINARY == int(protocol::TargetKind::kBinary) &&
              FEDGE_TARGET_MULTILABEL == int(protocol::TargetKind::kMultiLabel) &&
              FEDGE_TARGET_REAL == int(protocol::TargetKind::kReal));

// This library's directory: the installed torch plugin is in <it>/fedge.
std::string LibraryDir() {
  Dl_info info;
  if (::dladdr(reinterpret_cast<void*>(&fedge_version), &info) == 0 || info.dli_fname == nullptr) {
    return ".";
  }
  std::string path = info.dli_fname;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

struct Security {
  std::shared_ptr<const protocol::CurveClientKeys> curve;  // null: insecure
  std::shared_ptr<const protocol::ModelVerifier> verifier;  // null: unsigned accepted
};

absl::StatusOr<Security> LoadSecurity(const ClientConfig& config) {
  if (!config.insecure && (config.key_file.empty() || config.coordinator_pub.empty())) {
    return absl::InvalidArgumentError(
        "key_file and coordinator_pub are required (fedge-keygen device / the coordinator's "
        "coordinator.pub), or set insecure for plain TCP (testing only)");
  }
  if (config.insecure && !config.key_file.empty()) {
    return absl::InvalidArgumentError("key_file has no effect with insecure; drop one of them");
  }
  Security sec;
  if (config.coordinator_pub.empty()) return sec;
  absl::StatusOr<secure::CoordinatorIdentity> id =
      secure::ReadCoordinatorIdentityFile(config.coordinator_pub);
  if (!id.ok()) return id.status();
  absl::StatusOr<std::unique_ptr<protocol::ModelVerifier>> verifier =
      protocol::ModelVerifier::Create(id->signing_public);
  if (!verifier.ok()) return verifier.status();
  sec.verifier = *std::move(verifier);
  if (config.insecure) return sec;
  absl::StatusOr<secure::DeviceKey> key = secure::ReadDeviceKeyFile(config.key_file);
  if (!key.ok()) return key.status();
  auto curve = std::make_shared<protocol::CurveClientKeys>();
  curve->public_key = key->curve_public;
  curve->secret_key = std::move(key->curve_secret);
  curve->server_public_key = id->curve_public;
  sec.curve = std::move(curve);
  return sec;
}

static_assert(FEDGE_DP_OFF == static_cast<int>(protocol::PrivacyMode::kOff) &&
                  FEDGE_DP_CENTRAL == static_cast<int>(protocol::PrivacyMode::kCentral) &&
                  FEDGE_DP_DISTRIBUTED == static_cast<int>(protocol::PrivacyMode::kDistributed) &&
                  FEDGE_DP_LOCAL == static_cast<int>(protocol::PrivacyMode::kLocal),
              "fedge_run_report.dp_mode mirrors protocol::PrivacyMode");

}  // namespace

using sdk::DeviceTrainer;
using sdk::TaskRecord;
using sdk::TrainerLoader;

class Client::Impl {
 public:
  Impl(ClientConfig config, Security security,
       std::shared_ptr<const client::ModelVerifier> store_verifier,
       std::unique_ptr<client::ModelStore> store)
      : config_(std::move(config)), security_(std::move(security)),
        store_verifier_(std::move(store_verifier)), store_(std::move(store)),
        state_(store_->dir(), config_.client_id, PosixFileSystem::Default()) {
    if (!config_.plugin_dir.empty()) plugin_dirs_.push_back(config_.plugin_dir);
    const std::string lib = LibraryDir();
    plugin_dirs_.push_back(lib + "/fedge");
    plugin_dirs_.push_back(lib);
    plugin_dirs_.push_back(lib + "/../bin");  // the build tree
  }

  Error RunOnce(int64_t timeout_ms, fedge_run_report* report) {
    fedge_run_report rep{};
    rep.retry_after_ms = -1;
    rep.retry_window_ms = -1;
    Error e = RunOnceImpl(timeout_ms, &rep);
    if (absl::StatusOr<std::shared_ptr<const client::StoredModel>> m = store_->Current(); m.ok()) {
      rep.stored_model_version = (*m)->version;
    }
    if (report != nullptr) *report = rep;
    return e;
  }

  void Cancel() {
    std::lock_guard<std::mutex> lock(mu_);
    if (host_ != nullptr) {
      host_->Stop();
    } else {
      cancel_pending_ = true;
    }
  }

  // `rep`, when given, gets the version and output size of the model that
  // predicted (under the same lock, so a model stored meanwhile cannot be
  // reported in its place).
  Error Predict(int n, const float* inputs, size_t inputs_len, float* outputs,
                size_t outputs_len, fedge_predict_report* rep = nullptr) {
    if (inputs == nullptr || outputs == nullptr || n <= 0) {
      return Error(FEDGE_ERR_INVALID_ARGUMENT, "inputs and outputs must be non-null and n > 0");
    }
    std::lock_guard<std::mutex> lock(predict_mu_);
    if (Error e = EnsurePredictor(); !e.ok()) return e;
    const size_t in = size_t(n) * predictor_->input_size();
    const size_t out = size_t(n) * predictor_->output_size();
    if (inputs_len < in) {
      return Error(FEDGE_ERR_INVALID_ARGUMENT,
                   absl::StrCat("inputs holds ", inputs_len, " floats; ", n, " examples of model ",
                                predictor_version_, "'s input [",
                                protocol::ShapeString(predictor_task_.input_shape), "] need ", in,
                                " (", predictor_->input_size(), " each)"));
    }
    if (outputs_len < out) {
      return Error(FEDGE_ERR_INVALID_ARGUMENT,
                   absl::StrCat("outputs has room for ", outputs_len, " floats; ", n,
                                " examples of model ", predictor_version_, " (target ",
                                protocol::TargetName(predictor_task_), ") need ", out, " (",
                                predictor_->output_size(), " each)"));
    }
    if (rep != nullptr) {
      rep->model_version = predictor_version_;
      rep->output_size = int64_t(predictor_->output_size());
    }
    return sdk::ToError(predictor_->Predict(absl::MakeConstSpan(inputs, in), size_t(n),
                                            absl::MakeSpan(outputs, out)));
  }

  Error GatewayPredict(int n, const float* inputs, size_t inputs_len, float* outputs,
                       size_t outputs_len, int64_t timeout_ms, fedge_predict_report* report) {
    fedge_predict_report rep{};
    Error e = GatewayPredictImpl(n, inputs, inputs_len, outputs, outputs_len, timeout_ms, &rep);
    if (report != nullptr) *report = rep;
    return e;
  }

  // From the store: no LibTorch needed.
  Error GetModelInfo(fedge_model_info* out) {
    if (out == nullptr) return Error(FEDGE_ERR_INVALID_ARGUMENT, "out is null");
    absl::StatusOr<std::shared_ptr<const client::StoredModel>> m = store_->Current();
    if (!m.ok()) {
      return Error(FEDGE_ERR_NO_MODEL,
                   absl::StrCat("no verified model in ", store_->dir(), " yet"));
    }
    const protocol::TaskSpec& task = (*m)->payload.task;
    fedge_model_info info{};
    info.version = (*m)->version;
    info.input_rank = static_cast<int32_t>(task.input_shape.size());
    std::copy_n(task.input_shape.begin(), std::min<size_t>(task.input_shape.size(), FEDGE_MAX_RANK),
                info.input_shape);
    info.input_size = task.InputSize();
    info.output_size = client::OutputSize(task);
    info.target = static_cast<int32_t>(task.target);
    info.num_classes = static_cast<int32_t>(task.num_classes);
    info.target_size = static_cast<int32_t>(task.TargetSize());
    *out = info;
    return Error();
  }

 private:
  Error RunOnceImpl(int64_t timeout_ms, fedge_run_report* rep) {
    if (timeout_ms <= 0) return Error(FEDGE_ERR_INVALID_ARGUMENT, "timeout_ms must be > 0");
    if (!config_.data.next_batch) {
      return Error(FEDGE_ERR_INVALID_ARGUMENT, "no data source (data.next_batch) configured");
    }
    if (running_.exchange(true)) {
      return Error(FEDGE_ERR_FAILED_PRECONDITION, "run_once is already running on this client");
    }
    absl::Cleanup not_running = [this] { running_.store(false); };
    if (config_.eligible && !config_.eligible()) {
      return Error(FEDGE_ERR_NOT_ELIGIBLE, "device not eligible: not connecting");
    }
    // Counted now (the Hello announces it), loaded only if a task comes.
    absl::StatusOr<int64_t> examples = sdk::ReadAll(config_.data, config_.max_examples, nullptr);
    if (!examples.ok()) return sdk::ToError(examples.status());
    rep->examples = *examples;

    client::ClientHostOptions options;
    options.coordinator_endpoint = config_.coordinator_endpoint;
    options.curve = security_.curve;
    options.model_verifier = security_.verifier;
    options.stop_after_tasks = 1;
    if (absl::StatusOr<std::shared_ptr<const client::StoredModel>> m = store_->Current(); m.ok()) {
      options.held_model_version = (*m)->version;
    }
    options.on_model = [this](uint64_t version, const protocol::ModelPayload& model,
                              const protocol::ModelSignature& signature) {
      StoreModel(version, model, signature);
    };
    client::LogicalClientSpec spec;
    spec.client_id = config_.client_id;
    spec.num_examples = static_cast<uint64_t>(*examples);
    // Trained from the kept state; kept only if the update is not refused.
    client::LocalState local_state = state_.Current();
    spec.local_state = &local_state;
    TaskRecord record;
    spec.data = [this, &record, expected = *examples]() -> absl::StatusOr<Dataset> {
      const std::optional<protocol::TaskSpec> task = TaskHint();
      absl::StatusOr<Dataset> d = sdk::LoadDeviceData(config_.data, config_.max_examples,
                                                      expected, task ? &*task : nullptr);
      if (!d.ok()) record.data_status = d.status();
      return d;
    };
    auto factory = [this, &record]() -> absl::StatusOr<std::unique_ptr<client::Trainer>> {
      std::shared_ptr<client::Trainer> loaded;
      {
        std::lock_guard<std::mutex> lock(trainer_mu_);
        loaded = trainer_;
      }
      return std::make_unique<DeviceTrainer>(
          std::move(loaded), [this] { return SharedTrainer(); }, config_.eligible,
          absl::Milliseconds(config_.max_train_ms), &config_.data, &record);
    };
    std::vector<client::LogicalClientSpec> specs;
    specs.push_back(std::move(spec));
    client::ClientHost host(options, factory, std::move(specs));

    bool done = false, timed_out = false;
    std::condition_variable cv;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cancel_pending_) {
        cancel_pending_ = false;
        return Error(FEDGE_ERR_CANCELLED, "cancelled");
      }
      host_ = &host;
    }
    std::thread watchdog([&] {
      std::unique_lock<std::mutex> lock(mu_);
      if (!cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return done; })) {
        timed_out = true;
        host.Stop();
      }
    });
    absl::Status s = host.Run();
    {
      std::lock_guard<std::mutex> lock(mu_);
      host_ = nullptr;
      done = true;
    }
    cv.notify_all();
    watchdog.join();

    const client::ClientHostStats& st = host.stats();
    state_.Finish(local_state, record.trained && st.updates_sent > 0 && st.updates_refused == 0);
    rep->task_received = record.received;
    rep->trained = record.trained;
    rep->uploaded = st.updates_sent > 0;
    rep->round = record.round;
    rep->task_model_version = record.model_version;
    rep->dp_mode = static_cast<int>(record.privacy.mode);
    rep->dp_clip = record.privacy.clip;
    rep->dp_noise_stddev = record.privacy.noise_stddev;
    if (st.retry_later.has_value()) {
      rep->retry_after_ms = st.retry_later->after_ms;
      rep->retry_window_ms = st.retry_later->window_ms;
    }
    if (st.updates_sent > 0) return Error();
    if (record.ineligible) return sdk::ToError(record.status, FEDGE_ERR_NOT_ELIGIBLE);
    if (absl::IsCancelled(s)) {
      if (timed_out) {
        return Error(FEDGE_ERR_TIMEOUT,
                     absl::StrCat("no task ended within ", timeout_ms, " ms",
                                  record.received ? " (training did not finish)" : ""));
      }
      return Error(FEDGE_ERR_CANCELLED, "cancelled");
    }
    if (!s.ok()) return sdk::ToError(s);
    if (st.tasks_refused + st.models_refused > 0) {
      return Error(FEDGE_ERR_UNAUTHENTICATED,
                   "a model from the coordinator was refused: its signature did not verify "
                   "or it was a rollback");
    }
    if (!record.data_status.ok()) return sdk::ToError(record.data_status);
    if (record.received && !record.status.ok()) return sdk::ToError(record.status);
    if (st.retry_later.has_value()) {
      return Error(FEDGE_ERR_RETRY_LATER,
                   absl::StrCat("no task for this device now (", st.retry_later->reason,
                                "); come back in ", st.retry_later->after_ms, " ms + up to ",
                                st.retry_later->window_ms, " ms"));
    }
    return Error(FEDGE_ERR_UNAVAILABLE, "the coordinator ended the federation without a task");
  }

  // Called on the client host's I/O thread with each verified model. The
  // store verifies again before the model becomes current. A task may omit
  // the architecture bytes the device has cached: they are the stored
  // model's when its id matches (an id names its bytes).
  void StoreModel(uint64_t version, const protocol::ModelPayload& model,
                  const protocol::ModelSignature& signature) {
    {
      std::lock_guard<std::mutex> lock(hint_mu_);
      task_hint_ = model.task;
    }
    absl::Status stored;
    absl::StatusOr<std::shared_ptr<const client::StoredModel>> current = store_->Current();
    if (model.architecture.empty() && current.ok() &&
        (*current)->payload.architecture_id == model.architecture_id &&
        !(*current)->payload.architecture.empty()) {
      protocol::ModelPayload full = model;
      full.architecture = (*current)->payload.architecture;
      stored = store_->Commit(version, full, signature.signature);
    } else {
      stored = store_->Commit(version, model, signature.signature);
    }
    // FailedPrecondition: a newer version is already current.
    if (!stored.ok() && !absl::IsFailedPrecondition(stored)) {
      FEDGE_LOG(kWarning, "model %d not stored: %s", version, stored.ToString());
    }
  }

  // The LibTorch trainer, loaded once (~1 s) on the first task and kept.
  absl::StatusOr<std::shared_ptr<client::Trainer>> SharedTrainer() {
    std::lock_guard<std::mutex> lock(trainer_mu_);
    if (trainer_ == nullptr) {
      client::TorchTrainerOptions options;
      options.threads = std::max(1, config_.threads);
      absl::StatusOr<std::unique_ptr<client::Trainer>> t =
          client::LoadTorchTrainer(options, plugin_dirs_);
      if (!t.ok()) return t.status();
      trainer_ = *std::move(t);
    }
    return trainer_;
  }

  Error GatewayPredictImpl(int n, const float* inputs, size_t inputs_len, float* outputs,
                           size_t outputs_len, int64_t timeout_ms, fedge_predict_report* rep) {
    if (inputs == nullptr || outputs == nullptr || n <= 0 || timeout_ms <= 0) {
      return Error(FEDGE_ERR_INVALID_ARGUMENT,
                   "inputs and outputs must be non-null, n > 0 and timeout_ms > 0");
    }
    if (inputs_len == 0 || inputs_len % size_t(n) != 0) {
      return Error(FEDGE_ERR_INVALID_ARGUMENT,
                   absl::StrCat("inputs_len ", inputs_len, " is not ", n,
                                " whole examples (it must be n x the model's input size)"));
    }
    std::lock_guard<std::mutex> lock(gateway_mu_);
    if (gateway_ == nullptr) {
      gateway_ = std::make_unique<sdk::GatewayPredictor>(config_.coordinator_endpoint,
                                                         security_.curve, config_.client_id);
    }
    absl::StatusOr<protocol::PredictReply> reply = gateway_->Predict(
        uint32_t(n), absl::MakeConstSpan(inputs, inputs_len), absl::Milliseconds(timeout_ms));
    if (reply.ok()) {
      const size_t out = size_t(n) * reply->output_size;
      if (outputs_len < out) {
        return Error(FEDGE_ERR_INVALID_ARGUMENT,
                     absl::StrCat("outputs has room for ", outputs_len, " floats; ", n,
                                  " examples of the gateway's model ", reply->model_version,
                                  " need ", out, " (", reply->output_size, " each)"));
      }
      std::copy(reply->outputs.begin(), reply->outputs.end(), outputs);
      rep->source = FEDGE_PREDICTED_BY_GATEWAY;
      rep->model_version = reply->model_version;
      rep->output_size = reply->output_size;
      return Error();
    }
    const Error gateway = sdk::ToError(reply.status());
    NoteGateway(gateway, rep);
    // The inputs themselves were refused: no use predicting them elsewhere.
    if (gateway.code() == FEDGE_ERR_INVALID_ARGUMENT) return gateway;
    Error local = Predict(n, inputs, inputs_len, outputs, outputs_len, rep);
    if (local.code() == FEDGE_ERR_NO_MODEL) {
      return Error(gateway.code(), absl::StrCat(gateway.message(),
                                                "; no stored model to fall back on: ",
                                                local.message()));
    }
    if (!local.ok()) return local;
    rep->source = FEDGE_PREDICTED_ON_DEVICE;
    return Error();
  }

  static void NoteGateway(const Error& e, fedge_predict_report* rep) {
    rep->gateway_status = e.code();
    const size_t n = e.message().copy(rep->gateway_message, sizeof(rep->gateway_message) - 1);
    rep->gateway_message[n] = '\0';
  }

  // REQUIRES: predict_mu_ held.
  Error EnsurePredictor() {
    absl::StatusOr<std::shared_ptr<const client::StoredModel>> m = store_->Current();
    if (!m.ok()) {
      return Error(FEDGE_ERR_NO_MODEL,
                   absl::StrCat("no verified model in ", store_->dir(), " yet"));
    }
    if (predictor_ != nullptr && predictor_version_ == (*m)->version &&
        predictor_state_ == state_.generation()) {
      return Error();
    }
    // FedBN: the device's own normalisation layers, not the global ones.
    uint64_t generation = 0;
    const std::optional<protocol::ModelPayload> own = state_.OwnModel((*m)->payload, &generation);
    absl::StatusOr<std::unique_ptr<client::PluginPredictor>> p = client::LoadTorchPredictor(
        own ? *own : (*m)->payload, std::max(1, config_.threads), plugin_dirs_);
    if (!p.ok()) return sdk::ToError(p.status());
    predictor_ = *std::move(p);
    predictor_version_ = (*m)->version;
    predictor_state_ = generation;
    predictor_task_ = (*m)->payload.task;
    return Error();
  }

  // The task of the newest model received, which the task being trained
  // has (a coordinator's models all share its task; the host stores a
  // task's model before it hands the task to the training thread): the
  // layout the loaded targets get. Checked against the task itself before
  // training.
  std::optional<protocol::TaskSpec> TaskHint() {
    std::lock_guard<std::mutex> lock(hint_mu_);
    return task_hint_;
  }

  // Constant after construction.
  const ClientConfig config_;
  const Security security_;
  const std::shared_ptr<const client::ModelVerifier> store_verifier_;  // outlives store_
  const std::unique_ptr<client::ModelStore> store_;
  std::vector<std::string> plugin_dirs_;

  sdk::DeviceState state_;  // thread-safe

  std::atomic<bool> running_{false};
  std::mutex mu_;  // guards host_, cancel_pending_ (and the watchdog's wait)
  client::ClientHost* host_ = nullptr;
  bool cancel_pending_ = false;

  std::mutex trainer_mu_;
  std::shared_ptr<client::Trainer> trainer_;

  std::mutex predict_mu_;  // guards the predictor_* members
  std::unique_ptr<client::PluginPredictor> predictor_;
  uint64_t predictor_version_ = 0;
  uint64_t predictor_state_ = 0;  // state_.generation() it was loaded with
  protocol::TaskSpec predictor_task_;

  std::mutex hint_mu_;
  std::optional<protocol::TaskSpec> task_hint_;  // GUARDED_BY(hint_mu_)

  // Gateway inference (fedge_gateway_predict).
  std::mutex gateway_mu_;
  std::unique_ptr<sdk::GatewayPredictor> gateway_;  // GUARDED_BY(gateway_mu_)
};

Error Client::Create(ClientConfig config, std::unique_ptr<Client>* out) {
  if (out == nullptr) return Error(FEDGE_ERR_INVALID_ARGUMENT, "out is null");
  if (config.storage_dir.empty()) {
    return Error(FEDGE_ERR_INVALID_ARGUMENT, "storage_dir is required (the model store)");
  }
  if (config.threads < 0 || config.max_train_ms < 0 || config.max_examples < 0) {
    return Error(FEDGE_ERR_INVALID_ARGUMENT, "threads, max_train_ms, max_examples must be >= 0");
  }
  if (config.data.next_batch) {
    if (absl::Status s = sdk::ValidateDeclaration(config.data); !s.ok()) return sdk::ToError(s);
  }
  absl::StatusOr<Security> security = LoadSecurity(config);
  if (!security.ok()) return sdk::ToError(security.status());
  std::shared_ptr<const client::ModelVerifier> verifier;
  if (security->verifier != nullptr) {
    verifier = std::make_shared<client::SignatureModelVerifier>(security->verifier);
  }
  absl::StatusOr<std::unique_ptr<client::ModelStore>> store = client::ModelStore::Open(
      config.storage_dir, PosixFileSystem::Default(), verifier.get());
  if (!store.ok()) return sdk::ToError(store.status());
  auto impl = std::make_unique<Impl>(std::move(config), *std::move(security),
                                     std::move(verifier), *std::move(store));
  out->reset(new Client(std::move(impl)));
  return Error();
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;
Error Client::RunOnce(int64_t timeout_ms, fedge_run_report* report) {
  return impl_->RunOnce(timeout_ms, report);
}
void Client::Cancel() { impl_->Cancel(); }
Error Client::GetModelInfo(fedge_model_info* out) { return impl_->GetModelInfo(out); }
Error Client::Predict(int n, const float* inputs, size_t inputs_len, float* outputs,
                      size_t outputs_len) {
  return impl_->Predict(n, inputs, inputs_len, outputs, outputs_len);
}
Error Client::GatewayPredict(int n, const float* inputs, size_t inputs_len, float* outputs,
                             size_t outputs_len, int64_t timeout_ms,
                             fedge_predict_report* report) {
  return impl_->GatewayPredict(n, inputs, inputs_len, outputs, outputs_len, timeout_ms, report);
}

}  // namespace fedge
