#ifndef FEDGE_TESTS_COORDINATOR_FAKES_H_
#define FEDGE_TESTS_COORDINATOR_FAKES_H_

// Test doubles shared by the coordinator tests: an Outbox that decodes and
// keeps every frame sent, a RoundObserver that keeps every report, an
// Evaluator that records what it is asked, a CheckpointSink that keeps each
// checkpoint as the file would hold it, and the smallest model a coordinator
// accepts.

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coordinator/checkpoint.h"
#include "coordinator/coordinator.h"
#include "protocol/codec.h"

namespace fedge::coordinator {

// Four float32 weights, all 1, under the built-in mlp's name (the coordinator
// never runs it: only devices and the evaluator would).
inline protocol::ModelPayload TinyModel() {
  protocol::ModelPayload m;
  m.manifest.tensors = {{"w", {4}, protocol::DType::kFloat32}};
  m.architecture_id = "builtin:mlp";
  m.architecture = "mlp";
  m.weights = {1, 1, 1, 1};
  return m;
}

class RecordingOutbox : public Outbox {
 public:
  absl::Status Send(const std::string& peer, std::shared_ptr<const std::string> frame) override {
    if (unreachable.count(peer)) return absl::UnavailableError("gone");
    absl::StatusOr<protocol::Message> m = protocol::Decode(*frame);
    EXPECT_TRUE(m.ok()) << m.status();
    if (m.ok()) sent[peer].push_back(*std::move(m));
    return absl::OkStatus();
  }
  // Messages of type T sent to `peer`, oldest first.
  template <typename T>
  std::vector<T> To(const std::string& peer) const {
    std::vector<T> out;
    auto it = sent.find(peer);
    if (it == sent.end()) return out;
    for (const auto& m : it->second) {
      if (const T* t = std::get_if<T>(&m)) out.push_back(*t);
    }
    return out;
  }
  std::vector<protocol::ErrorCode> ErrorsTo(const std::string& peer) const {
    std::vector<protocol::ErrorCode> codes;
    for (const auto& e : To<protocol::ErrorReply>(peer)) codes.push_back(e.code);
    return codes;
  }
  size_t Count(const std::string& peer, protocol::ErrorCode code) const {
    size_t n = 0;
    for (const auto& e : To<protocol::ErrorReply>(peer)) n += e.code == code;
    return n;
  }

  std::map<std::string, std::vector<protocol::Message>> sent;
  std::set<std::string> unreachable;  // Send fails for these peers
};

class Reports : public RoundObserver {
 public:
  void OnRoundEnd(const RoundReport& r) override { reports.push_back(r); }
  std::vector<RoundReport> reports;
};

// A client's Hello from `peer`.
inline void SendHello(Coordinator& c, const std::string& peer, uint64_t client_id,
                      uint64_t examples, absl::Time now) {
  protocol::Hello h;
  h.client_id = client_id;
  h.num_examples = examples;
  c.OnFrame(peer, protocol::Encode(h), now);
}

// A client's update for `round` on `model_version` from `peer`.
inline void SendUpdate(Coordinator& c, const std::string& peer, uint64_t round,
                       uint64_t model_version, uint64_t client_id, uint64_t examples,
                       std::vector<float> delta, absl::Time now) {
  protocol::Update u;
  u.round = round;
  u.model_version = model_version;
  u.client_id = client_id;
  u.num_examples = examples;
  u.delta = std::move(delta);
  c.OnFrame(peer, protocol::Encode(u), now);
}

// Records what the coordinator asks to evaluate; the test delivers results.
class RecordingEvaluator final : public Evaluator {
 public:
  void Start(uint64_t round, std::shared_ptr<const std::vector<float>> weights) override {
    started.emplace_back(round, *weights);
  }
  std::vector<std::pair<uint64_t, std::vector<float>>> started;
};

// Keeps every checkpoint the coordinator takes, encoded as the file would
// hold it.
class KeepingSink : public CheckpointSink {
 public:
  absl::Status Save(const CoordinatorSnapshot& s, const RoundReport&,
                    absl::Span<const RoundReport>) override {
    Checkpoint c;
    c.coordinator = s;
    absl::StatusOr<std::string> bytes = EncodeCheckpoint(c);
    if (!bytes.ok()) return bytes.status();
    files.push_back(*std::move(bytes));
    return absl::OkStatus();
  }
  std::vector<std::string> files;
};

}  // namespace fedge::coordinator

#endif  // FEDGE_TESTS_COORDINATOR_FAKES_H_
