#ifndef FEDGE_COORDINATOR_CLIENT_REGISTRY_H_
#define FEDGE_COORDINATOR_CLIENT_REGISTRY_H_

// Who is connected: registered clients keyed by their ZeroMQ routing id
// ("peer"), with liveness from the last message seen. Not thread-safe.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace fedge::coordinator {

struct ClientRecord {
  std::string peer;
  uint64_t client_id = 0;
  uint64_t num_examples = 0;
  // The authenticated identity that registered it (Sender::identity).
  std::string identity;
  absl::Time last_seen;
  std::set<std::string> cached_architectures;
  // A check-in device (protocol::kCapCheckIn): one task per connection, told
  // when to come back, sent newer models.
  bool checks_in = false;
  // Holds a held-out split and evaluates on request (protocol::kCapEvaluate).
  bool evaluates = false;
  // Its one task is over (update received, round ended or left): it is not
  // selected again on this connection.
  bool check_in_done = false;
  // The newest model version it holds (from its Hello, then what it was sent).
  bool has_model = false;
  uint64_t model_version = 0;
  // Hello.registration of the Hello that registered it (0: unknown).
  uint64_t registration = 0;
};

class ClientRegistry {
 public:
  // Registers (or re-registers) a client. A client id that was registered on
  // another peer moves to this one, so a reconnecting device keeps one record.
  ClientRecord& Register(const std::string& peer, uint64_t client_id, uint64_t num_examples,
                         absl::Time now);

  ClientRecord* Find(const std::string& peer);
  const ClientRecord* Find(const std::string& peer) const;
  void Touch(const std::string& peer, absl::Time now);
  void Remove(const std::string& peer);

  // Removes and returns the peers not seen since `cutoff`.
  std::vector<std::string> ExpireSilentSince(absl::Time cutoff);

  size_t size() const { return by_peer_.size(); }
  // Peers in a stable (client id) order, for reproducible cohort selection.
  std::vector<std::string> PeersByClientId() const;
  // The same without a copy: valid until the registry changes.
  const std::vector<std::string>& OrderedPeers() const;

 private:
  std::map<std::string, ClientRecord> by_peer_;
  std::map<uint64_t, std::string> peer_by_id_;
  // OrderedPeers, built when first asked after a change.
  mutable std::optional<std::vector<std::string>> ordered_;
};

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_CLIENT_REGISTRY_H_
