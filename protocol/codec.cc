#include "protocol/codec.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "compression/pruning.h"
#include "protocol/body_archive.h"
#include "protocol/envelope.h"
#include "protocol/secagg_codec.h"

namespace fedge::protocol {
namespace {

using internal::BodyReader;
using internal::BodyWriter;
using internal::WireFormatError;
// SecAggToServer, SecAggToClient and Task.secure live in secagg_codec.cc.
using internal::Read;
using internal::Write;

// ---- Writing ---------------------------------------------------------------

void Write(BodyWriter& w, const Hello& m) {
  w.Scalar(m.client_id);
  w.Scalar(m.num_examples);
  w.Scalar(m.capabilities);
  w.String(m.software_version);
  w.Scalar(static_cast<uint64_t>(m.cached_architectures.size()));
  for (const std::string& a : m.cached_architectures) w.String(a);
  w.Scalar(static_cast<uint8_t>(m.has_model ? 1 : 0));
  w.Scalar(m.model_version);
  w.Scalar(m.registration);
}

void Write(BodyWriter& w, const Welcome& m) {
  w.Scalar(m.client_id);
  w.Scalar(m.heartbeat_interval_ms);
  w.Scalar(m.model_version);
}

void Write(BodyWriter& w, const ModelPayload& m) {
  w.Scalar(static_cast<uint64_t>(m.manifest.tensors.size()));
  for (const TensorSpec& t : m.manifest.tensors) {
    w.String(t.name);
    w.Vector(t.shape);
    w.Scalar(t.dtype);
    w.Scalar(t.role);
    w.Scalar(static_cast<uint8_t>(t.normalization ? 1 : 0));
  }
  w.String(m.architecture_id);
  w.String(m.architecture);
  w.Vector(m.weights);
  w.String(m.mask);
  w.Vector(m.task.input_shape);
  w.Scalar(m.task.input_dtype);
  w.Scalar(m.task.target);
  w.Scalar(m.task.num_classes);
  w.Vector(m.task.target_shape);
  w.Scalar(m.task.loss);
}

void Write(BodyWriter& w, const Task& m) {
  w.Scalar(m.round);
  w.Scalar(m.model_version);
  w.Scalar(m.config.local_epochs);
  w.Scalar(m.config.batch_size);
  w.Scalar(m.config.learning_rate);
  w.Scalar(m.config.seed);
  w.Scalar(m.config.max_examples);
  w.Scalar(m.config.proximal_mu);
  w.Scalar(m.config.clip_norm);
  w.Scalar(static_cast<uint8_t>(m.config.local_normalization ? 1 : 0));
  w.Scalar(static_cast<uint8_t>(m.config.evaluate_only ? 1 : 0));
  w.Scalar(static_cast<uint8_t>(m.config.privacy.mode));
  w.Scalar(m.config.privacy.clip);
  w.Scalar(m.config.privacy.noise_stddev);
  w.Scalar(m.config.compression.method);
  w.Scalar(m.config.compression.block);
  w.Scalar(m.config.compression.fraction);
  w.Scalar(m.deadline_ms);
  w.Scalar(static_cast<uint8_t>(m.model_by_reference ? 1 : 0));
  Write(w, m.model);
  w.String(m.signature.signature);
  Write(w, m.secure);
  w.Vector(m.control);
}

void Write(BodyWriter& w, const Update& m) {
  w.Scalar(m.round);
  w.Scalar(m.model_version);
  w.Scalar(m.client_id);
  w.Scalar(m.num_examples);
  w.Scalar(m.encoding);
  w.Scalar(m.metrics.loss);
  w.Scalar(m.metrics.accuracy);
  w.Scalar(m.metrics.train_seconds);
  w.Scalar(m.metrics.mse);
  w.Scalar(m.metrics.mae);
  w.Vector(m.delta);
  w.String(m.packed);
  w.Vector(m.control_delta);
}

void Write(BodyWriter& w, const ErrorReply& m) {
  w.Scalar(m.code);
  w.Scalar(m.round);
  w.String(m.message);
}

void Write(BodyWriter& w, const Heartbeat& m) {
  w.Scalar(m.client_id);
  w.Scalar(m.round);
  w.Scalar(m.state);
}

void Write(BodyWriter& w, const Shutdown& m) { w.String(m.reason); }

void Write(BodyWriter& w, const Leave& m) {
  w.Scalar(m.client_id);
  w.String(m.reason);
}

void Write(BodyWriter& w, const RetryLater& m) {
  w.Scalar(m.after_ms);
  w.Scalar(m.window_ms);
  w.String(m.reason);
}

void Write(BodyWriter& w, const GlobalModel& m) {
  w.Scalar(m.model_version);
  Write(w, m.model);
  w.String(m.signature.signature);
}

void Write(BodyWriter& w, const PredictRequest& m) {
  w.Scalar(m.request_id);
  w.Scalar(m.client_id);
  w.Scalar(m.count);
  w.Vector(m.inputs);
}

void Write(BodyWriter& w, const PredictReply& m) {
  w.Scalar(m.request_id);
  w.Scalar(static_cast<uint8_t>(m.ok ? 1 : 0));
  w.Scalar(m.code);
  w.String(m.message);
  w.Scalar(m.model_version);
  w.Scalar(m.count);
  w.Scalar(m.output_size);
  w.Vector(m.outputs);
}

// ---- Reading ---------------------------------------------------------------
// Each Read fills a message of the right type; WireFormatError on bad bytes.

void Read(BodyReader& r, const DecodeLimits& lim, Hello& m) {
  r.Scalar(m.client_id, "Hello.client_id");
  r.Scalar(m.num_examples, "Hello.num_examples");
  r.Scalar(m.capabilities, "Hello.capabilities");
  r.String(m.software_version, lim.max_name_bytes, "Hello.software_version");
  // Each string costs at least its 8-byte length prefix.
  uint64_t n = r.Length(8, lim.max_list_items, "Hello.cached_architectures");
  m.cached_architectures.resize(n);
  for (std::string& a : m.cached_architectures) {
    r.String(a, lim.max_name_bytes, "Hello.cached_architectures[]");
  }
  uint8_t has_model = 0;
  r.Scalar(has_model, "Hello.has_model");
  if (has_model > 1) throw WireFormatError("Hello.has_model is not 0 or 1");
  m.has_model = has_model == 1;
  r.Scalar(m.model_version, "Hello.model_version");
  r.Scalar(m.registration, "Hello.registration");
}

void Read(BodyReader& r, const DecodeLimits&, Welcome& m) {
  r.Scalar(m.client_id, "Welcome.client_id");
  r.Scalar(m.heartbeat_interval_ms, "Welcome.heartbeat_interval_ms");
  r.Scalar(m.model_version, "Welcome.model_version");
}

void Read(BodyReader& r, const DecodeLimits& lim, ModelPayload& m) {
  // A tensor costs at least two length prefixes, dtype, role and flag bytes.
  uint64_t n = r.Length(19, lim.max_tensors, "ModelPayload.manifest");
  m.manifest.tensors.resize(n);
  for (TensorSpec& t : m.manifest.tensors) {
    r.String(t.name, lim.max_name_bytes, "ModelPayload.manifest.name");
    r.Vector(t.shape, lim.max_rank, "ModelPayload.manifest.shape");
    r.Scalar(t.dtype, "ModelPayload.manifest.dtype");
    r.Scalar(t.role, "ModelPayload.manifest.role");
    uint8_t normalization = 0;
    r.Scalar(normalization, "ModelPayload.manifest.normalization");
    if (normalization > 1) throw WireFormatError("ModelPayload.manifest.normalization is not 0 or 1");
    t.normalization = normalization == 1;
  }
  r.String(m.architecture_id, lim.max_name_bytes, "ModelPayload.architecture_id");
  r.String(m.architecture, lim.max_frame_bytes, "ModelPayload.architecture");
  r.Vector(m.weights, lim.max_frame_bytes / sizeof(float), "ModelPayload.weights");
  r.String(m.mask, lim.max_frame_bytes, "ModelPayload.mask");
  r.Vector(m.task.input_shape, kMaxTaskRank, "ModelPayload.task.input_shape");
  r.Scalar(m.task.input_dtype, "ModelPayload.task.input_dtype");
  r.Scalar(m.task.target, "ModelPayload.task.target");
  r.Scalar(m.task.num_classes, "ModelPayload.task.num_classes");
  r.Vector(m.task.target_shape, kMaxTaskRank, "ModelPayload.task.target_shape");
  r.Scalar(m.task.loss, "ModelPayload.task.loss");
}

// Range checks here, so a device never acts on a privacy setting it cannot
// honour: an unknown mode, or a clip or noise that is negative or not finite.
void ReadPrivacy(BodyReader& r, PrivacyConfig& p) {
  uint8_t mode = 0;
  r.Scalar(mode, "Task.config.privacy.mode");
  if (mode > static_cast<uint8_t>(PrivacyMode::kLocal)) {
    throw WireFormatError("Task.config.privacy.mode is not 0-3");
  }
  p.mode = static_cast<PrivacyMode>(mode);
  r.Scalar(p.clip, "Task.config.privacy.clip");
  r.Scalar(p.noise_stddev, "Task.config.privacy.noise_stddev");
  if (!std::isfinite(p.clip) || p.clip < 0 || !std::isfinite(p.noise_stddev) ||
      p.noise_stddev < 0) {
    throw WireFormatError("Task.config.privacy: clip or noise_stddev negative or not finite");
  }
  const bool on_device = p.mode == PrivacyMode::kLocal || p.mode == PrivacyMode::kDistributed;
  if (on_device && !(p.clip > 0)) {
    throw WireFormatError("Task.config.privacy: local or distributed mode without a clip");
  }
}

// A device never compresses with settings it cannot honour.
void ReadCompression(BodyReader& r, compression::Config& c) {
  uint8_t method = 0;
  r.Scalar(method, "Task.config.compression.method");
  if (method == 0 || method > compression::kMaxMethod) {
    throw WireFormatError(absl::StrCat("Task.config.compression.method ", method,
                                       " is unknown"));
  }
  c.method = static_cast<compression::Method>(method);
  r.Scalar(c.block, "Task.config.compression.block");
  r.Scalar(c.fraction, "Task.config.compression.fraction");
  if (absl::Status s = compression::ValidateConfig(c); !s.ok()) {
    throw WireFormatError(absl::StrCat("Task.config.", s.message()));
  }
}

void Read(BodyReader& r, const DecodeLimits& lim, Task& m) {
  r.Scalar(m.round, "Task.round");
  r.Scalar(m.model_version, "Task.model_version");
  r.Scalar(m.config.local_epochs, "Task.config.local_epochs");
  r.Scalar(m.config.batch_size, "Task.config.batch_size");
  r.Scalar(m.config.learning_rate, "Task.config.learning_rate");
  r.Scalar(m.config.seed, "Task.config.seed");
  r.Scalar(m.config.max_examples, "Task.config.max_examples");
  r.Scalar(m.config.proximal_mu, "Task.config.proximal_mu");
  r.Scalar(m.config.clip_norm, "Task.config.clip_norm");
  uint8_t local_normalization = 0;
  r.Scalar(local_normalization, "Task.config.local_normalization");
  if (local_normalization > 1) {
    throw WireFormatError("Task.config.local_normalization is not 0 or 1");
  }
  m.config.local_normalization = local_normalization == 1;
  uint8_t evaluate_only = 0;
  r.Scalar(evaluate_only, "Task.config.evaluate_only");
  if (evaluate_only > 1) throw WireFormatError("Task.config.evaluate_only is not 0 or 1");
  m.config.evaluate_only = evaluate_only == 1;
  ReadPrivacy(r, m.config.privacy);
  ReadCompression(r, m.config.compression);
  r.Scalar(m.deadline_ms, "Task.deadline_ms");
  uint8_t by_reference = 0;
  r.Scalar(by_reference, "Task.model_by_reference");
  if (by_reference > 1) throw WireFormatError("Task.model_by_reference is not 0 or 1");
  m.model_by_reference = by_reference == 1;
  Read(r, lim, m.model);
  if (m.model_by_reference &&
      (!m.model.weights.empty() || !m.model.manifest.tensors.empty() || !m.model.mask.empty())) {
    throw WireFormatError("Task.model is not empty although the task names its model by reference");
  }
  r.String(m.signature.signature, kModelSignatureSize, "Task.signature");
  Read(r, lim, m.secure);
  r.Vector(m.control, lim.max_frame_bytes / sizeof(float), "Task.control");
}

void Read(BodyReader& r, const DecodeLimits& lim, Update& m) {
  r.Scalar(m.round, "Update.round");
  r.Scalar(m.model_version, "Update.model_version");
  r.Scalar(m.client_id, "Update.client_id");
  r.Scalar(m.num_examples, "Update.num_examples");
  r.Scalar(m.encoding, "Update.encoding");
  r.Scalar(m.metrics.loss, "Update.metrics.loss");
  r.Scalar(m.metrics.accuracy, "Update.metrics.accuracy");
  r.Scalar(m.metrics.train_seconds, "Update.metrics.train_seconds");
  r.Scalar(m.metrics.mse, "Update.metrics.mse");
  r.Scalar(m.metrics.mae, "Update.metrics.mae");
  r.Vector(m.delta, lim.max_frame_bytes / sizeof(float), "Update.delta");
  r.String(m.packed, lim.max_frame_bytes, "Update.packed");
  r.Vector(m.control_delta, lim.max_frame_bytes / sizeof(float), "Update.control_delta");
}

void Read(BodyReader& r, const DecodeLimits& lim, ErrorReply& m) {
  r.Scalar(m.code, "Error.code");
  r.Scalar(m.round, "Error.round");
  r.String(m.message, lim.max_name_bytes * 16, "Error.message");
}

void Read(BodyReader& r, const DecodeLimits&, Heartbeat& m) {
  r.Scalar(m.client_id, "Heartbeat.client_id");
  r.Scalar(m.round, "Heartbeat.round");
  r.Scalar(m.state, "Heartbeat.state");
}

void Read(BodyReader& r, const DecodeLimits& lim, Shutdown& m) {
  r.String(m.reason, lim.max_name_bytes * 16, "Shutdown.reason");
}

void Read(BodyReader& r, const DecodeLimits& lim, Leave& m) {
  r.Scalar(m.client_id, "Leave.client_id");
  r.String(m.reason, lim.max_name_bytes * 16, "Leave.reason");
}

void Read(BodyReader& r, const DecodeLimits& lim, RetryLater& m) {
  r.Scalar(m.after_ms, "RetryLater.after_ms");
  r.Scalar(m.window_ms, "RetryLater.window_ms");
  r.String(m.reason, lim.max_name_bytes * 16, "RetryLater.reason");
}

void Read(BodyReader& r, const DecodeLimits& lim, GlobalModel& m) {
  r.Scalar(m.model_version, "GlobalModel.model_version");
  Read(r, lim, m.model);
  r.String(m.signature.signature, kModelSignatureSize, "GlobalModel.signature");
}

void Read(BodyReader& r, const DecodeLimits& lim, PredictRequest& m) {
  r.Scalar(m.request_id, "PredictRequest.request_id");
  r.Scalar(m.client_id, "PredictRequest.client_id");
  r.Scalar(m.count, "PredictRequest.count");
  r.Vector(m.inputs, lim.max_frame_bytes / sizeof(float), "PredictRequest.inputs");
}

void Read(BodyReader& r, const DecodeLimits& lim, PredictReply& m) {
  r.Scalar(m.request_id, "PredictReply.request_id");
  uint8_t ok = 0;
  r.Scalar(ok, "PredictReply.ok");
  if (ok > 1) throw WireFormatError("PredictReply.ok is not 0 or 1");
  m.ok = ok == 1;
  r.Scalar(m.code, "PredictReply.code");
  r.String(m.message, lim.max_name_bytes * 16, "PredictReply.message");
  r.Scalar(m.model_version, "PredictReply.model_version");
  r.Scalar(m.count, "PredictReply.count");
  r.Scalar(m.output_size, "PredictReply.output_size");
  r.Vector(m.outputs, lim.max_frame_bytes / sizeof(float), "PredictReply.outputs");
}

absl::Status ValidateSignedModel(const ModelPayload& model, const ModelSignature& signature,
                                 const char* field) {
  FEDGE_RETURN_IF_ERROR(ValidateManifest(model.manifest, model.weights.size()));
  FEDGE_RETURN_IF_ERROR(ValidateTaskSpec(model.task));
  if (absl::Status s = compression::ValidateMask(model.mask, model.weights.size()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", s.message()));
  }
  const size_t sig = signature.signature.size();
  if (sig != 0 && sig != kModelSignatureSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has ", sig, " bytes, want 0 or ", kModelSignatureSize));
  }
  return absl::OkStatus();
}

// Field-level checks cereal cannot express.
absl::Status Validate(const Message& m) {
  if (const auto* u = std::get_if<Update>(&m)) {
    const uint8_t e = static_cast<uint8_t>(u->encoding);
    if (e == 0 || e > compression::kMaxMethod) {
      return absl::InvalidArgumentError(absl::StrCat("Update.encoding ", e, " is unknown"));
    }
    if (u->encoding == DeltaEncoding::kFloat32 ? !u->packed.empty() : !u->delta.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Update.encoding ", compression::MethodName(u->encoding),
                       " with a ", u->packed.empty() ? "delta" : "packed payload",
                       " it does not use"));
    }
  } else if (const auto* h = std::get_if<Heartbeat>(&m)) {
    if (h->state != ClientState::kIdle && h->state != ClientState::kTraining) {
      return absl::InvalidArgumentError("Heartbeat.state is unknown");
    }
  } else if (const auto* e = std::get_if<ErrorReply>(&m)) {
    uint16_t c = static_cast<uint16_t>(e->code);
    if (c == 0 || c > kMaxErrorCode) {
      return absl::InvalidArgumentError(absl::StrCat("Error.code ", c, " is unknown"));
    }
  } else if (const auto* t = std::get_if<Task>(&m)) {
    return ValidateSignedModel(t->model, t->signature, "Task.signature");
  } else if (const auto* g = std::get_if<GlobalModel>(&m)) {
    return ValidateSignedModel(g->model, g->signature, "GlobalModel.signature");
  } else if (const auto* q = std::get_if<PredictRequest>(&m)) {
    if (q->count == 0 || q->inputs.size() % q->count != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          q->inputs.size(), " inputs are not ", q->count,
          " whole examples"));
    }
  } else if (const auto* p = std::get_if<PredictReply>(&m)) {
    const uint16_t c = static_cast<uint16_t>(p->code);
    if (c == 0 || c > kMaxErrorCode) {
      return absl::InvalidArgumentError(absl::StrCat("PredictReply.code ", c, " is unknown"));
    }
    const uint64_t want = uint64_t{p->count} * p->output_size;
    if (p->ok ? (p->count == 0 || p->outputs.size() != want) : !p->outputs.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          p->outputs.size(), " outputs for ", p->count, " examples of ",
          p->output_size, (p->ok ? "" : " in a refusal")));
    }
  }
  return absl::OkStatus();
}

template <typename T>
void EmplaceKeepingStorage(Message* out) {
  if (!std::holds_alternative<T>(*out)) out->template emplace<T>();
}

}  // namespace

std::string Encode(const Message& message) {
  std::string frame(kEnvelopeSize, '\0');
  size_t hint = kEnvelopeSize + 256;
  if (const auto* u = std::get_if<Update>(&message)) hint += u->delta.size() * 4;
  if (const auto* t = std::get_if<Task>(&message)) {
    hint += t->model.weights.size() * 4 + t->model.architecture.size();
  }
  if (const auto* g = std::get_if<GlobalModel>(&message)) {
    hint += g->model.weights.size() * 4 + g->model.architecture.size();
  }
  if (const auto* q = std::get_if<PredictRequest>(&message)) hint += q->inputs.size() * 4;
  if (const auto* p = std::get_if<PredictReply>(&message)) hint += p->outputs.size() * 4;
  hint += internal::SecAggSizeHint(message);
  frame.reserve(hint);
  {
    BodyWriter writer(&frame);
    std::visit([&](const auto& m) { Write(writer, m); }, message);
  }
  MessageKind kind = std::visit(
      [](const auto& m) { return KindOf<std::decay_t<decltype(m)>>(); }, message);
  WriteEnvelope(kind, static_cast<uint32_t>(frame.size() - kEnvelopeSize), frame.data());
  return frame;
}

absl::Status DecodeInto(absl::string_view frame, const DecodeLimits& limits, Message* out) {
  FEDGE_ASSIGN_OR_RETURN(Envelope env, ParseEnvelope(frame, limits.max_frame_bytes));
  switch (env.kind) {
    case MessageKind::kHello: EmplaceKeepingStorage<Hello>(out); break;
    case MessageKind::kWelcome: EmplaceKeepingStorage<Welcome>(out); break;
    case MessageKind::kTask: EmplaceKeepingStorage<Task>(out); break;
    case MessageKind::kUpdate: EmplaceKeepingStorage<Update>(out); break;
    case MessageKind::kError: EmplaceKeepingStorage<ErrorReply>(out); break;
    case MessageKind::kHeartbeat: EmplaceKeepingStorage<Heartbeat>(out); break;
    case MessageKind::kShutdown: EmplaceKeepingStorage<Shutdown>(out); break;
    case MessageKind::kSecAggToServer: EmplaceKeepingStorage<SecAggToServer>(out); break;
    case MessageKind::kSecAggToClient: EmplaceKeepingStorage<SecAggToClient>(out); break;
    case MessageKind::kLeave: EmplaceKeepingStorage<Leave>(out); break;
    case MessageKind::kRetryLater: EmplaceKeepingStorage<RetryLater>(out); break;
    case MessageKind::kGlobalModel: EmplaceKeepingStorage<GlobalModel>(out); break;
    case MessageKind::kPredictRequest: EmplaceKeepingStorage<PredictRequest>(out); break;
    case MessageKind::kPredictReply: EmplaceKeepingStorage<PredictReply>(out); break;
  }
  absl::string_view body = frame.substr(kEnvelopeSize);
  const char* kind_name = MessageKindName(env.kind);
  try {
    BodyReader reader(body);
    std::visit([&](auto& m) { Read(reader, limits, m); }, *out);
    if (reader.remaining() != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          kind_name, ": ", reader.remaining(), " unexpected bytes after the body"));
    }
  } catch (const WireFormatError& e) {
    return absl::InvalidArgumentError(e.what());
  } catch (const cereal::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(kind_name, ": truncated body (", e.what(), ")"));
  }
  absl::Status s = Validate(*out);
  if (!s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(kind_name, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<Message> Decode(absl::string_view frame, const DecodeLimits& limits) {
  Message m;
  FEDGE_RETURN_IF_ERROR(DecodeInto(frame, limits, &m));
  return m;
}

}  // namespace fedge::protocol
