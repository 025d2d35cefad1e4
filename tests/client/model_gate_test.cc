// The model gate (client/model_gate.h) with real coordinator signatures,
// for tasks carrying their model and for tasks sharing one model object (a
// shared connection's round, client/client_host.cc ResolveModel).

#include "client/model_gate.h"

#include <array>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/client/signed_model_fixture.h"
#include "tests/testing/status_matchers.h"

namespace fedge::client {
namespace {

using ::fedge::testing::IsOk;

protocol::ModelPayload Model(float first_weight) {
  return fixtures::ThreeWeightModel(first_weight);
}

class ModelGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::array<uint8_t, 32> seed{};
    seed[0] = 11;
    auto signer = protocol::ModelSigner::Create(seed);
    ASSERT_THAT(signer, IsOk());
    signer_ = *std::move(signer);
    auto verifier = protocol::ModelVerifier::Create(signer_->public_key());
    ASSERT_THAT(verifier, IsOk());
    gate_ = std::make_unique<ModelGate>(
        std::shared_ptr<const protocol::ModelVerifier>(*std::move(verifier)));
  }

  // A task of `version` signed for Model(first_weight), its model left out.
  protocol::Task SignedTask(uint64_t version, float first_weight) {
    protocol::Task t;
    t.round = version + 1;
    t.model_version = version;
    auto sig = signer_->Sign(version, Model(first_weight));
    EXPECT_THAT(sig, IsOk());
    t.signature = *sig;
    return t;
  }

  std::optional<protocol::ErrorReply> CheckShared(
      const protocol::Task& t, const std::shared_ptr<const protocol::ModelPayload>& m) {
    return gate_->Check(t, *m, m);
  }

  std::unique_ptr<protocol::ModelSigner> signer_;
  std::unique_ptr<ModelGate> gate_;
};

TEST_F(ModelGateTest, TasksSharingOneModelPassAndOtherObjectsAreStillCompared) {
  auto shared = std::make_shared<const protocol::ModelPayload>(Model(1));
  const protocol::Task task = SignedTask(4, 1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(CheckShared(task, shared), std::nullopt) << i;
  EXPECT_EQ(gate_->highest_verified(), 4u);

  // Another object, same version and signature: its bytes decide.
  auto same_bytes = std::make_shared<const protocol::ModelPayload>(Model(1));
  EXPECT_EQ(CheckShared(task, same_bytes), std::nullopt);
  auto tampered = std::make_shared<const protocol::ModelPayload>(Model(99));
  std::optional<protocol::ErrorReply> refusal = CheckShared(task, tampered);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->code, protocol::ErrorCode::kBadSignature);

  // A task carrying its own model, checked after the shared one.
  protocol::Task inline_task = task;
  inline_task.model = Model(1);
  EXPECT_EQ(gate_->Check(inline_task), std::nullopt);
  inline_task.model = Model(98);
  refusal = gate_->Check(inline_task);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->code, protocol::ErrorCode::kBadSignature);
}

TEST_F(ModelGateTest, SharedModelsAreRefusedAsRollbacksAndBadSignatures) {
  auto v5 = std::make_shared<const protocol::ModelPayload>(Model(5));
  ASSERT_EQ(CheckShared(SignedTask(5, 5), v5), std::nullopt);

  auto v3 = std::make_shared<const protocol::ModelPayload>(Model(3));
  std::optional<protocol::ErrorReply> refusal = CheckShared(SignedTask(3, 3), v3);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->code, protocol::ErrorCode::kRollback);

  // The verified object under another version's signature.
  refusal = CheckShared(SignedTask(6, 6), v5);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->code, protocol::ErrorCode::kBadSignature);
  EXPECT_EQ(gate_->highest_verified(), 5u);

  // A model passed by reference whose object is not the one given as shared
  // is compared, not trusted.
  protocol::Task t = SignedTask(5, 5);
  const protocol::ModelPayload copy = Model(7);
  refusal = gate_->Check(t, copy, v5);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->code, protocol::ErrorCode::kBadSignature);
}

TEST(ModelGateWithoutVerifierTest, EveryTaskPasses) {
  ModelGate gate(nullptr);
  auto m = std::make_shared<const protocol::ModelPayload>(Model(1));
  protocol::Task t;
  t.model_version = 3;
  EXPECT_EQ(gate.Check(t, *m, m), std::nullopt);
  EXPECT_EQ(gate.highest_verified(), std::nullopt);
}

}  // namespace
}  // namespace fedge::client
