// The Coordinator's identity binding (a Hello only for an enrolled client id;
// later messages only from the identity that registered) and model signing,
// driven in-process with a fake enrolment and outbox.

#include <map>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "coordinator/coordinator.h"
#include "tests/coordinator/fakes.h"
#include "tests/testing/status_matchers.h"

namespace fedge::coordinator {
namespace {

using ::fedge::testing::IsOk;
using protocol::ErrorCode;

// identity -> client ids; editable to model a reloaded allow-list.
class FakeEnrolment : public Enrolment {
 public:
  absl::Status Check(absl::string_view identity, uint64_t client_id) const override {
    auto it = ids.find(std::string(identity));
    if (it == ids.end() || !it->second.count(client_id)) {
      return absl::PermissionDeniedError(
          absl::StrCat("'", identity, "' is not enrolled for client ", client_id));
    }
    return absl::OkStatus();
  }
  std::map<std::string, std::set<uint64_t>> ids;
};

class CoordinatorSecurityTest : public ::testing::Test {
 protected:
  void Start(uint32_t clients, bool sign = false) {
    CoordinatorConfig cfg;
    cfg.rounds = 3;
    cfg.min_clients = clients;
    cfg.quorum = clients;
    cfg.round_timeout = absl::Seconds(30);
    cfg.training.batch_size = 8;
    cfg.enrolment = enrolment_;
    if (sign) {
      auto signer = protocol::ModelSigner::Create(std::vector<uint8_t>(32, 9));
      ASSERT_THAT(signer, IsOk());
      auto verifier = protocol::ModelVerifier::Create((*signer)->public_key());
      ASSERT_THAT(verifier, IsOk());
      verifier_ = *std::move(verifier);
      cfg.model_signer = *std::move(signer);
    }
    auto c = Coordinator::Create(cfg, TinyModel(), &outbox_, nullptr, nullptr, now_);
    ASSERT_THAT(c, IsOk());
    coord_ = *std::move(c);
  }
  void Send(const std::string& peer, const std::string& identity, const protocol::Message& m) {
    coord_->OnFrame(Sender{peer, identity}, protocol::Encode(m), now_);
  }
  void Hello(const std::string& peer, const std::string& identity, uint64_t id) {
    protocol::Hello h;
    h.client_id = id;
    h.num_examples = 100;
    Send(peer, identity, h);
  }
  protocol::Update UpdateFor(uint64_t id, uint64_t round) {
    protocol::Update u;
    u.round = round;
    u.model_version = coord_->model_version();
    u.client_id = id;
    u.num_examples = 100;
    u.delta = {1, 1, 1, 1};
    return u;
  }

  std::shared_ptr<FakeEnrolment> enrolment_ = std::make_shared<FakeEnrolment>();
  std::unique_ptr<protocol::ModelVerifier> verifier_;
  absl::Time now_ = absl::FromUnixSeconds(1000);
  RecordingOutbox outbox_;
  std::unique_ptr<Coordinator> coord_;
};

TEST_F(CoordinatorSecurityTest, HelloIsAcceptedOnlyForAnEnrolledClientId) {
  enrolment_->ids["key-a"] = {1};
  Start(2);
  Hello("a", "key-a", 1);
  EXPECT_EQ(outbox_.To<protocol::Welcome>("a").size(), 1u);
  Hello("b", "key-b", 2);  // unknown key
  Hello("c", "key-a", 2);  // a known key claiming another device's id
  Hello("d", "", 1);       // unauthenticated
  for (const char* peer : {"b", "c", "d"}) {
    EXPECT_THAT(outbox_.ErrorsTo(peer), ::testing::ElementsAre(ErrorCode::kNotEnrolled)) << peer;
    EXPECT_TRUE(outbox_.To<protocol::Welcome>(peer).empty()) << peer;
  }
  EXPECT_EQ(coord_->registered_clients(), 1u);
  EXPECT_EQ(coord_->stats().rejected_by_code.at(ErrorCode::kNotEnrolled), 3u);
  // "d" claiming client 1 did not move client 1 away from "a".
  EXPECT_EQ(coord_->phase(), Coordinator::Phase::kWaitingForClients);
}

TEST_F(CoordinatorSecurityTest, MessagesOnARegisteredPeerMustComeFromItsIdentity) {
  enrolment_->ids["key-a"] = {1};
  enrolment_->ids["key-b"] = {2};
  Start(1);
  Hello("a", "key-a", 1);
  ASSERT_EQ(outbox_.To<protocol::Task>("a").size(), 1u);
  const std::vector<float> before = coord_->weights();
  // Another enrolled device took over routing id "a" (ROUTER handover).
  Send("a", "key-b", UpdateFor(1, 1));
  Send("a", "key-b", UpdateFor(2, 1));
  Send("a", "key-b", protocol::Heartbeat{1, 1, protocol::ClientState::kTraining});
  EXPECT_THAT(outbox_.ErrorsTo("a"),
              ::testing::ElementsAre(ErrorCode::kNotRegistered, ErrorCode::kNotRegistered,
                                     ErrorCode::kNotRegistered));
  EXPECT_EQ(coord_->completed_rounds(), 0u);
  EXPECT_EQ(coord_->weights(), before);
  // The real device still completes the round.
  Send("a", "key-a", UpdateFor(1, 1));
  EXPECT_EQ(coord_->completed_rounds(), 1u);
}

TEST_F(CoordinatorSecurityTest, RemovedKeyCannotReportAnyMore) {
  enrolment_->ids["key-a"] = {1};
  Start(1);
  Hello("a", "key-a", 1);
  enrolment_->ids.erase("key-a");  // the allow-list was edited
  Send("a", "key-a", UpdateFor(1, 1));
  EXPECT_THAT(outbox_.ErrorsTo("a"), ::testing::ElementsAre(ErrorCode::kNotEnrolled));
  EXPECT_EQ(coord_->completed_rounds(), 0u);
  Hello("a", "key-a", 1);
  EXPECT_EQ(outbox_.ErrorsTo("a").back(), ErrorCode::kNotEnrolled);
  EXPECT_EQ(coord_->registered_clients(), 0u);
}

TEST_F(CoordinatorSecurityTest, EveryModelVersionIsSignedAndVerifies) {
  enrolment_->ids["key-a"] = {1};
  Start(1, /*sign=*/true);
  Hello("a", "key-a", 1);
  Send("a", "key-a", UpdateFor(1, 1));
  Send("a", "key-a", UpdateFor(1, 2));
  std::vector<protocol::Task> tasks = outbox_.To<protocol::Task>("a");
  ASSERT_EQ(tasks.size(), 3u);
  for (const protocol::Task& t : tasks) {
    EXPECT_EQ(t.signature.signature.size(), protocol::kModelSignatureSize);
    EXPECT_THAT(verifier_->Verify(t.model_version, t.model, t.signature), IsOk())
        << "round " << t.round;
  }
  EXPECT_NE(tasks[0].signature.signature, tasks[1].signature.signature);
  // A signature is bound to its version.
  EXPECT_FALSE(verifier_->Verify(tasks[1].model_version, tasks[0].model, tasks[0].signature).ok());
}

TEST_F(CoordinatorSecurityTest, WithoutASignerTasksGoUnsigned) {
  enrolment_->ids["key-a"] = {1};
  Start(1);
  Hello("a", "key-a", 1);
  std::vector<protocol::Task> tasks = outbox_.To<protocol::Task>("a");
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_TRUE(tasks[0].signature.signature.empty());
}

TEST_F(CoordinatorSecurityTest, ClientReportsOfRefusedModelsAreCounted) {
  enrolment_->ids["key-a"] = {1};
  Start(1, /*sign=*/true);
  Hello("a", "key-a", 1);
  Send("a", "key-a", protocol::ErrorReply{ErrorCode::kBadSignature, 1, "tampered"});
  EXPECT_EQ(coord_->stats().models_refused_by_clients, 1u);
  // The client left the round; with nobody else it failed.
  EXPECT_EQ(coord_->stats().rounds_failed, 1u);
}

}  // namespace
}  // namespace fedge::coordinator
