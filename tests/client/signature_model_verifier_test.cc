// The model store with real coordinator signatures (protocol/model_signature.h).

#include "client/signature_model_verifier.h"

#include <array>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/fake_file_system.h"
#include "tests/client/signed_model_fixture.h"
#include "tests/testing/status_matchers.h"

namespace fedge::client {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

protocol::ModelPayload Model(float first_weight) {
  return fixtures::ThreeWeightModel(first_weight);
}

TEST(SignatureModelVerifierTest, StoreKeepsOnlyModelsThePinnedKeySigned) {
  std::array<uint8_t, 32> seed{};
  seed[0] = 7;
  auto signer = protocol::ModelSigner::Create(seed);
  ASSERT_THAT(signer, IsOk());
  auto pinned = protocol::ModelVerifier::Create((*signer)->public_key());
  ASSERT_THAT(pinned, IsOk());
  SignatureModelVerifier verifier(std::shared_ptr<const protocol::ModelVerifier>(*std::move(pinned)));

  testing::FakeFileSystem fs;
  auto store = ModelStore::Open("/models", &fs, &verifier, {});
  ASSERT_THAT(store, IsOk());
  auto sig1 = (*signer)->Sign(1, Model(1));
  ASSERT_THAT(sig1, IsOk());
  ASSERT_THAT((*store)->Commit(1, Model(1), sig1->signature), IsOk());

  // Tampered weights, a replayed signature at another version, no signature.
  auto sig2 = (*signer)->Sign(2, Model(2));
  ASSERT_THAT(sig2, IsOk());
  EXPECT_THAT((*store)->Commit(2, Model(99), sig2->signature),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT((*store)->Commit(3, Model(2), sig2->signature),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT((*store)->Commit(2, Model(2), ""), StatusIs(absl::StatusCode::kUnauthenticated));
  ASSERT_THAT((*store)->Commit(2, Model(2), sig2->signature), IsOk());

  auto reopened = ModelStore::Open("/models", &fs, &verifier, {});
  ASSERT_THAT(reopened, IsOk());
  auto current = (*reopened)->Current();
  ASSERT_THAT(current, IsOk());
  EXPECT_EQ((*current)->version, 2u);
  EXPECT_EQ((*current)->signature, sig2->signature);
}

}  // namespace
}  // namespace fedge::client
