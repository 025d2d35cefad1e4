#include "coordinator/client_registry.h"

namespace fedge::coordinator {

ClientRecord& ClientRegistry::Register(const std::string& peer, uint64_t client_id,
                                       uint64_t num_examples, absl::Time now) {
  auto old = peer_by_id_.find(client_id);
  if (old != peer_by_id_.end() && old->second != peer) by_peer_.erase(old->second);
  if (auto same_peer = by_peer_.find(peer);
      same_peer != by_peer_.end() && same_peer->second.client_id != client_id) {
    peer_by_id_.erase(same_peer->second.client_id);
  }
  ClientRecord& r = by_peer_[peer];
  r.peer = peer;
  r.client_id = client_id;
  r.num_examples = num_examples;
  r.last_seen = now;
  auto [slot, added] = peer_by_id_.try_emplace(client_id, peer);
  if (added || slot->second != peer) ordered_.reset();
  slot->second = peer;
  return r;
}

ClientRecord* ClientRegistry::Find(const std::string& peer) {
  auto it = by_peer_.find(peer);
  return it == by_peer_.end() ? nullptr : &it->second;
}

void ClientRegistry::Touch(const std::string& peer, absl::Time now) {
  if (ClientRecord* r = Find(peer)) r->last_seen = now;
}

void ClientRegistry::Remove(const std::string& peer) {
  auto it = by_peer_.find(peer);
  if (it == by_peer_.end()) return;
  peer_by_id_.erase(it->second.client_id);
  by_peer_.erase(it);
  ordered_.reset();
}

std::vector<std::string> ClientRegistry::ExpireSilentSince(absl::Time cutoff) {
  std::vector<std::string> gone;
  for (const auto& [peer, r] : by_peer_) {
    if (r.last_seen < cutoff) gone.push_back(peer);
  }
  for (const std::string& p : gone) Remove(p);
  return gone;
}

const ClientRecord* ClientRegistry::Find(const std::string& peer) const {
  auto it = by_peer_.find(peer);
  return it == by_peer_.end() ? nullptr : &it->second;
}

std::vector<std::string> ClientRegistry::PeersByClientId() const { return OrderedPeers(); }

const std::vector<std::string>& ClientRegistry::OrderedPeers() const {
  if (!ordered_.has_value()) {
    std::vector<std::string> peers;
    peers.reserve(peer_by_id_.size());
    for (const auto& [id, peer] : peer_by_id_) peers.push_back(peer);
    ordered_ = std::move(peers);
  }
  return *ordered_;
}

}  // namespace fedge::coordinator
