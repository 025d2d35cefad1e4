#include "gateway/prediction_service.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/log.h"

namespace fedge::gateway {
namespace {

using protocol::ErrorCode;

std::shared_ptr<const std::string> EncodeReply(const protocol::PredictReply& reply) {
  return std::make_shared<const std::string>(protocol::Encode(reply));
}

protocol::PredictReply Refusal(uint64_t request_id, ErrorCode code, std::string message) {
  protocol::PredictReply r;
  r.request_id = request_id;
  r.ok = false;
  r.code = code;
  r.message = std::move(message);
  return r;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PredictionService>> PredictionService::Create(
    PredictionOptions options, coordinator::Outbox* outbox, PredictorFactory factory) {
  if (options.max_batch == 0 || options.max_request == 0 || options.threads < 1) {
    return absl::InvalidArgumentError(
        "--predict_max_batch, --predict_max_request and --predict_threads must be at least 1");
  }
  if (options.max_queued < options.max_request) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--predict_queue (", options.max_queued, ") must be at least --predict_max_request (",
        options.max_request, "), or no request of the largest size could ever be queued"));
  }
  if (!factory) {
    factory = [threads = options.threads, dirs = options.plugin_dirs](
                  const protocol::ModelPayload& model) {
      return client::LoadTorchPredictor(model, threads, dirs);
    };
  }
  absl::StatusOr<WakeFd> wake = WakeFd::Create("gateway inference");
  if (!wake.ok()) return wake.status();
  return std::unique_ptr<PredictionService>(
      new PredictionService(std::move(options), outbox, std::move(factory), *std::move(wake)));
}

PredictionService::PredictionService(PredictionOptions options, coordinator::Outbox* outbox,
                                     PredictorFactory factory, WakeFd wake)
    : options_(std::move(options)), outbox_(outbox), factory_(std::move(factory)),
      wake_(std::move(wake)) {
  worker_ = std::thread([this] { Worker(); });
}

PredictionService::~PredictionService() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    work_.SignalAll();
  }
  worker_.join();
}

void PredictionService::SetModel(uint64_t version, protocol::ModelPayload model) {
  auto m = std::make_shared<Model>();
  m->version = version;
  m->payload = std::move(model);
  // The largest request this model can be asked: max_request examples of
  // its input, plus the envelope and the fixed fields. A larger frame is
  // refused before it is decoded (the socket's limit is the model-sized
  // update limit, far larger).
  const int64_t input = m->payload.task.InputSize();
  const size_t limit =
      input > 0 ? 256 + size_t{options_.max_request} * size_t(input) * sizeof(float) : 0;
  absl::MutexLock lock(&mu_);
  if (model_ != nullptr && model_->version >= version) return;
  model_ = std::move(m);
  max_request_bytes_ = limit;
}

PredictionStats PredictionService::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void PredictionService::Refuse(const std::string& peer, uint64_t request_id, ErrorCode code,
                               std::string message) {
  {
    absl::MutexLock lock(&mu_);
    ++stats_.refused;
  }
  LogRefusal(absl::StrCat("prediction request ", request_id, " refused (",
                          protocol::ErrorCodeName(code), "): ", message));
  (void)outbox_->Send(peer, EncodeReply(Refusal(request_id, code, std::move(message))));
}

void PredictionService::LogRefusal(const std::string& line) {
  const absl::Time now = absl::Now();
  if (now - last_refusal_log_ < absl::Seconds(1)) {
    ++refusals_unlogged_;
    return;
  }
  if (refusals_unlogged_ > 0) {
    FEDGE_LOG(kInfo, "%s (and %d more refused in the last second)", line, refusals_unlogged_);
  } else {
    FEDGE_LOG(kInfo, "%s", line);
  }
  last_refusal_log_ = now;
  refusals_unlogged_ = 0;
}

void PredictionService::OnFrame(const coordinator::Sender& from, absl::string_view frame,
                                absl::Time) {
  protocol::DecodeLimits limits = options_.limits;
  {
    absl::MutexLock lock(&mu_);
    if (max_request_bytes_ > 0) {
      limits.max_frame_bytes = std::min(limits.max_frame_bytes, max_request_bytes_);
    }
  }
  absl::StatusOr<protocol::Message> decoded = protocol::Decode(frame, limits);
  auto* request = decoded.ok() ? std::get_if<protocol::PredictRequest>(&*decoded) : nullptr;
  if (request == nullptr) {
    // No request id to answer with: an ErrorReply, as the coordinator sends.
    protocol::ErrorReply error;
    error.code = decoded.ok() ? ErrorCode::kUnknownKind
                              : protocol::ErrorCodeForDecodeFailure(decoded.status());
    error.message = decoded.ok() ? "the prediction service takes PredictRequests only"
                                 : absl::StrCat("prediction request: ", decoded.status().message());
    {
      absl::MutexLock lock(&mu_);
      ++stats_.refused;
    }
    LogRefusal(absl::StrCat("prediction request refused: ", error.message));
    (void)outbox_->Send(from.peer, std::make_shared<const std::string>(protocol::Encode(error)));
    return;
  }
  if (request->count > options_.max_request) {
    Refuse(from.peer, request->request_id, ErrorCode::kTooLarge,
           absl::StrCat("a request of ", request->count, " examples; this gateway takes at most ",
                        options_.max_request, " (--predict_max_request)"));
    return;
  }
  bool no_model = false;
  uint64_t queued = 0;
  {
    absl::MutexLock lock(&mu_);
    no_model = model_ == nullptr;
    queued = queued_examples_;
    if (!no_model && queued + request->count <= options_.max_queued) {
      queued_examples_ += request->count;
      queue_.push_back(Pending{from.peer, std::move(*request)});
      work_.Signal();
      return;
    }
  }
  if (no_model) {
    Refuse(from.peer, request->request_id, ErrorCode::kNoModel,
           "the gateway has no verified model yet (it receives the root's with its first "
           "task); predict on the device");
  } else {
    Refuse(from.peer, request->request_id, ErrorCode::kBusy,
           absl::StrCat(queued, " examples wait already (--predict_queue=", options_.max_queued,
                        "); retry later or predict on the device"));
  }
}

size_t PredictionService::SendFinished() {
  wake_.Drain();
  std::vector<Finished> out;
  {
    absl::MutexLock lock(&mu_);
    out.swap(finished_);
  }
  for (Finished& f : out) (void)outbox_->Send(f.peer, std::move(f.frame));
  return out.size();
}

void PredictionService::Post(std::vector<Finished> replies) {
  {
    absl::MutexLock lock(&mu_);
    for (Finished& f : replies) finished_.push_back(std::move(f));
  }
  if (!wake_.Signal()) {
    FEDGE_LOG(kError, "gateway inference: cannot wake the serving loop: %s",
              std::strerror(errno));
  }
}

void PredictionService::Worker() {
  while (true) {
    std::vector<Pending> batch;
    {
      absl::MutexLock lock(&mu_);
      while (!stop_ && queue_.empty()) work_.Wait(&mu_);
      if (stop_) return;
      // Everything that queued while the last batch ran, up to max_batch
      // examples. A request is never split: one larger than max_batch
      // (max_request may exceed it) runs alone.
      uint64_t examples = 0;
      while (!queue_.empty() &&
             (batch.empty() || examples + queue_.front().request.count <= options_.max_batch)) {
        examples += queue_.front().request.count;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_examples_ -= examples;
    }
    RunBatch(std::move(batch));
  }
}

absl::Status PredictionService::EnsurePredictor() {
  std::shared_ptr<const Model> model;
  {
    absl::MutexLock lock(&mu_);
    model = model_;
  }
  if (model == nullptr) {
    return absl::FailedPreconditionError("the gateway has no verified model yet");
  }
  if (predictor_ != nullptr && predictor_version_ == model->version) return absl::OkStatus();
  // load_error_ tells a failed version 0 from the initial failed_version_.
  if (!load_error_.ok() && failed_version_ == model->version) return load_error_;
  absl::StatusOr<std::unique_ptr<client::PluginPredictor>> p = factory_(model->payload);
  if (!p.ok()) {
    // Not retried for this version: the same bytes fail the same way.
    failed_version_ = model->version;
    load_error_ = absl::InternalError(
        absl::StrCat("the gateway cannot run model ", model->version, ": ", p.status().message()));
    FEDGE_LOG(kError, "%s", load_error_.message());
    return load_error_;
  }
  predictor_ = *std::move(p);
  predictor_version_ = model->version;
  FEDGE_LOG(kInfo, "serving predictions with model %d (%d floats in, %d out per example)",
            model->version, predictor_->input_size(), predictor_->output_size());
  return absl::OkStatus();
}

void PredictionService::RunBatch(std::vector<Pending> batch) {
  std::vector<Finished> replies;
  replies.reserve(batch.size());
  uint64_t refused = 0;
  auto refuse = [&](const Pending& p, ErrorCode code, std::string message) {
    replies.push_back({p.peer, EncodeReply(Refusal(p.request.request_id, code, std::move(message)))});
    ++refused;
  };
  const absl::Status ready = EnsurePredictor();
  // The requests that fit the model, run as one call.
  std::vector<const Pending*> run;
  size_t n = 0;
  for (const Pending& p : batch) {
    if (!ready.ok()) {
      refuse(p, ErrorCode::kInternal, std::string(ready.message()));
    } else if (p.request.inputs.size() != size_t{p.request.count} * predictor_->input_size()) {
      refuse(p, ErrorCode::kWrongLength,
             absl::StrCat(p.request.inputs.size(), " inputs for ", p.request.count,
                          " examples; model ", predictor_version_, " takes ",
                          predictor_->input_size(), " floats per example"));
    } else {
      run.push_back(&p);
      n += p.request.count;
    }
  }
  if (n > 0) {
    const size_t in_size = predictor_->input_size();
    const size_t out_size = predictor_->output_size();
    std::vector<float> inputs;
    inputs.reserve(n * in_size);
    for (const Pending* p : run) {
      inputs.insert(inputs.end(), p->request.inputs.begin(), p->request.inputs.end());
    }
    std::vector<float> outputs(n * out_size);
    const absl::Status s = predictor_->Predict(inputs, n, absl::MakeSpan(outputs));
    size_t at = 0;
    for (const Pending* p : run) {
      if (!s.ok()) {
        refuse(*p, ErrorCode::kInternal, absl::StrCat("prediction failed: ", s.message()));
        continue;
      }
      protocol::PredictReply reply;
      reply.request_id = p->request.request_id;
      reply.ok = true;
      reply.model_version = predictor_version_;
      reply.count = p->request.count;
      reply.output_size = static_cast<uint32_t>(out_size);
      reply.outputs.assign(outputs.begin() + at, outputs.begin() + at + p->request.count * out_size);
      at += p->request.count * out_size;
      replies.push_back({p->peer, EncodeReply(reply)});
    }
    if (!s.ok()) FEDGE_LOG(kError, "gateway inference: %s", s.message());
    absl::MutexLock lock(&mu_);
    if (s.ok()) {
      stats_.requests += run.size();
      stats_.examples += n;
      stats_.largest_batch = std::max<uint64_t>(stats_.largest_batch, n);
    }
    ++stats_.batches;
  }
  if (refused > 0) {
    absl::MutexLock lock(&mu_);
    stats_.refused += refused;
  }
  Post(std::move(replies));
}

}  // namespace fedge::gateway
