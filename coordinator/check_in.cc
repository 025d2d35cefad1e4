// Coordinator: check-in devices (protocol::kCapCheckIn) and Leave. A device
// running the SDK's run-once connects, does at most one task, and leaves; the
// coordinator tells it when to come back and hands it the newest model.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "coordinator/coordinator.h"
#include "protocol/codec.h"

namespace fedge::coordinator {

using protocol::ErrorCode;

void Coordinator::Handle(const std::string& peer, protocol::Leave& m, absl::Time now) {
  ClientRecord* client = registry_.Find(peer);
  // Nobody to forget, or another key speaking for this client: no reply.
  if (client == nullptr || CheckIdentity(*client)) return;
  ++stats_.clients_left;
  FEDGE_LOG(kDebug, "client %d left: %s", client->client_id, m.reason);
  DropFromRound(peer, "left");
  registry_.Remove(peer);
  MaybeCloseRound(now);
}

void Coordinator::Handle(const std::string& peer, protocol::RetryLater&, absl::Time) {
  Refuse(peer, ErrorCode::kUnknownKind, round_, "RetryLater is sent by coordinators only");
}
void Coordinator::Handle(const std::string& peer, protocol::GlobalModel&, absl::Time) {
  Refuse(peer, ErrorCode::kUnknownKind, round_, "GlobalModel is sent by coordinators only");
}
// A gateway routes predictions to its PredictionService before they get
// here (CoordinatorServer::Route); a root serves none.
void Coordinator::Handle(const std::string& peer, protocol::PredictRequest&, absl::Time) {
  Refuse(peer, ErrorCode::kUnknownKind, round_,
         "this coordinator serves no predictions: ask a gateway (fedge-gateway)");
}
void Coordinator::Handle(const std::string& peer, protocol::PredictReply&, absl::Time) {
  Refuse(peer, ErrorCode::kUnknownKind, round_, "PredictReply is sent by gateways only");
}

std::vector<std::string> Coordinator::SelectablePeers() const {
  std::vector<std::string> peers = registry_.PeersByClientId();
  peers.erase(std::remove_if(peers.begin(), peers.end(),
                             [&](const std::string& p) {
                               const ClientRecord* r = registry_.Find(p);
                               return r == nullptr || r->check_in_done;
                             }),
              peers.end());
  return peers;
}

std::shared_ptr<const std::string> Coordinator::GlobalModelFrame(bool with_architecture) {
  if (global_model_frames_version_ != model_version_) {
    global_model_frames_[0].reset();
    global_model_frames_[1].reset();
    global_model_frames_version_ = model_version_;
  }
  std::shared_ptr<const std::string>& frame = global_model_frames_[with_architecture ? 1 : 0];
  if (frame != nullptr) return frame;
  if (absl::Status s = SignModelVersion(); !s.ok()) {
    FEDGE_LOG(kError, "cannot sign model version %d: %s", model_version_, s.ToString());
    return nullptr;
  }
  protocol::GlobalModel g;
  g.model_version = model_version_;
  g.signature = model_signature_;
  // The model moves in and back: no copy of its weights.
  std::string architecture;
  if (!with_architecture) architecture = std::move(model_.architecture);
  g.model = std::move(model_);
  frame = std::make_shared<const std::string>(protocol::Encode(g));
  model_ = std::move(g.model);
  if (!with_architecture) model_.architecture = std::move(architecture);
  return frame;
}

bool Coordinator::SendModelIfNewer(const std::string& peer, bool has_model, uint64_t version,
                                   bool architecture_cached) {
  if (has_model && version >= model_version_) return false;
  if (model_.weights.empty()) return false;  // a gateway before the root's first task
  std::shared_ptr<const std::string> frame = GlobalModelFrame(!architecture_cached);
  if (frame == nullptr) return false;
  ++stats_.models_sent;
  SendTo(peer, std::move(frame));
  return true;
}

void Coordinator::SendRetryLater(ClientRecord& client, const std::string& reason) {
  if (SendModelIfNewer(client.peer, client.has_model, client.model_version,
                       client.cached_architectures.count(model_.architecture_id) > 0)) {
    client.has_model = true;
    client.model_version = model_version_;
    client.cached_architectures.insert(model_.architecture_id);
  }
  std::optional<RetryAdvisor::OpenRound> open;
  if (phase_ == Phase::kTraining) open = RetryAdvisor::OpenRound{round_start_, round_deadline_};
  protocol::RetryLater hint = retry_advisor_.Advise(now_, open, reason);
  ++stats_.retry_hints_sent;
  FEDGE_LOG(kDebug, "client %d: come back in %d ms (+%d ms): %s", client.client_id,
            hint.after_ms, hint.window_ms, reason);
  SendTo(client.peer, std::make_shared<const std::string>(protocol::Encode(hint)));
}

std::vector<std::string> Coordinator::TakeCheckInCohort() {
  std::vector<std::string> released;
  for (const std::string& peer : cohort_) {
    ClientRecord* r = registry_.Find(peer);
    if (r == nullptr || !r->checks_in || r->check_in_done) continue;
    r->check_in_done = true;
    released.push_back(peer);
  }
  cohort_.clear();
  return released;
}

void Coordinator::TellToRetry(const std::vector<std::string>& peers, const std::string& reason) {
  if (phase_ == Phase::kFinished) return;  // they were sent Shutdown
  for (const std::string& peer : peers) {
    if (ClientRecord* r = registry_.Find(peer)) SendRetryLater(*r, reason);
  }
}

}  // namespace fedge::coordinator
