#include "protocol/model_signature.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/base/internal/endian.h"
#include "base/sha256.h"
#include "protocol/codec.h"
#include "tests/testing/status_matchers.h"

namespace fedge::protocol {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

ModelPayload Model() {
  ModelPayload m;
  m.manifest.tensors = {{"fc.weight", {2, 2}, DType::kFloat32}, {"fc.bias", {2}, DType::kFloat32}};
  m.architecture_id = "builtin:mlp";
  m.architecture = "mlp";
  m.weights = {1, 2, 3, 4, 5, 6};
  return m;
}

std::vector<uint8_t> Seed(uint8_t fill) { return std::vector<uint8_t>(32, fill); }

class ModelSignatureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto signer = ModelSigner::Create(Seed(7));
    ASSERT_THAT(signer, IsOk());
    signer_ = *std::move(signer);
    auto verifier = ModelVerifier::Create(signer_->public_key());
    ASSERT_THAT(verifier, IsOk());
    verifier_ = *std::move(verifier);
  }
  ModelSignature Sign(uint64_t version, const ModelPayload& m) {
    absl::StatusOr<ModelSignature> s = signer_->Sign(version, m);
    EXPECT_THAT(s, IsOk());
    return s.ok() ? *s : ModelSignature{};
  }
  std::unique_ptr<ModelSigner> signer_;
  std::unique_ptr<ModelVerifier> verifier_;
};

TEST_F(ModelSignatureTest, SignedModelVerifies) {
  const ModelSignature sig = Sign(3, Model());
  EXPECT_EQ(sig.signature.size(), kModelSignatureSize);
  EXPECT_THAT(verifier_->Verify(3, Model(), sig), IsOk());
  // The architecture bytes are named by the id, not signed again: a task that
  // leaves them out (the client has them cached) verifies too.
  ModelPayload cached = Model();
  cached.architecture.clear();
  EXPECT_THAT(verifier_->Verify(3, cached, sig), IsOk());
}

TEST_F(ModelSignatureTest, TamperedWeightsAreRefused) {
  const ModelSignature sig = Sign(3, Model());
  ModelPayload m = Model();
  m.weights[4] = std::nextafter(m.weights[4], 10.0f);  // one ulp
  EXPECT_THAT(verifier_->Verify(3, m, sig), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(ModelSignatureTest, TamperedVersionIsRefused) {
  const ModelSignature sig = Sign(3, Model());
  EXPECT_THAT(verifier_->Verify(4, Model(), sig),
              StatusIs(absl::StatusCode::kUnauthenticated, "model version 4"));
  EXPECT_THAT(verifier_->Verify(2, Model(), sig), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(ModelSignatureTest, TamperedManifestOrArchitectureIdIsRefused) {
  const ModelSignature sig = Sign(3, Model());
  ModelPayload renamed = Model();
  renamed.manifest.tensors[1].name = "fc.bias2";
  EXPECT_THAT(verifier_->Verify(3, renamed, sig), StatusIs(absl::StatusCode::kUnauthenticated));
  ModelPayload reshaped = Model();
  reshaped.manifest.tensors[0].shape = {4, 1};
  EXPECT_THAT(verifier_->Verify(3, reshaped, sig), StatusIs(absl::StatusCode::kUnauthenticated));
  ModelPayload other_arch = Model();
  other_arch.architecture_id = "builtin:cnn";
  EXPECT_THAT(verifier_->Verify(3, other_arch, sig),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(ModelSignatureTest, SignatureByAnotherKeyIsRefused) {
  auto other = ModelSigner::Create(Seed(8));
  ASSERT_THAT(other, IsOk());
  absl::StatusOr<ModelSignature> sig = (*other)->Sign(3, Model());
  ASSERT_THAT(sig, IsOk());
  EXPECT_THAT(verifier_->Verify(3, Model(), *sig),
              StatusIs(absl::StatusCode::kUnauthenticated, "pinned coordinator key"));
}

TEST_F(ModelSignatureTest, MissingOrTruncatedSignatureIsRefused) {
  EXPECT_THAT(verifier_->Verify(3, Model(), ModelSignature{}),
              StatusIs(absl::StatusCode::kUnauthenticated, "is not signed"));
  ModelSignature sig = Sign(3, Model());
  sig.signature.pop_back();
  EXPECT_THAT(verifier_->Verify(3, Model(), sig),
              StatusIs(absl::StatusCode::kUnauthenticated, "63 bytes"));
  sig = Sign(3, Model());
  sig.signature[10] ^= 1;
  EXPECT_THAT(verifier_->Verify(3, Model(), sig), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(ModelSigningMessageTest, IsDomainVersionAndTwoDigests) {
  const ModelPayload m = Model();
  const std::string msg = ModelSigningMessage(0x0102030405060708, m);
  ASSERT_EQ(msg.size(), 14u + 8u + 32u + 32u);
  EXPECT_EQ(msg.substr(0, 14), "fedge-model-v2");
  EXPECT_EQ(absl::little_endian::Load64(msg.data() + 14), 0x0102030405060708u);
  const Sha256Digest weights =
      Sha256(absl::string_view(reinterpret_cast<const char*>(m.weights.data()), 24));
  EXPECT_EQ(msg.substr(54), std::string(weights.begin(), weights.end()));
}

TEST(ModelSigningMessageTest, ManifestEncodingIsUnambiguous) {
  // Moving a byte from one name to the next must change the digest.
  ModelPayload a = Model(), b = Model();
  a.manifest.tensors[0].name = "ab";
  a.manifest.tensors[1].name = "c";
  b.manifest.tensors[0].name = "a";
  b.manifest.tensors[1].name = "bc";
  EXPECT_NE(ModelSigningMessage(1, a), ModelSigningMessage(1, b));
}

// The task travels inside what is signed: a model relabelled as another
// task (say classes read as real values) does not verify.
TEST(ModelSigningMessageTest, TheTaskIsSigned) {
  const ModelPayload m = Model();
  for (int field = 0; field < 5; ++field) {
    ModelPayload other = Model();
    TaskSpec& t = other.task;
    switch (field) {
      case 0: t.input_shape = {784}; break;
      case 1: t.num_classes = 11; break;
      case 2: t.target = TargetKind::kMultiLabel; break;
      case 3: t.loss = LossKind::kModule; break;
      case 4: t.target_shape = {1}; break;
    }
    EXPECT_NE(ModelSigningMessage(1, m), ModelSigningMessage(1, other)) << field;
  }
}

TEST(ModelSignerTest, SeedMustBe32Bytes) {
  EXPECT_THAT(ModelSigner::Create(std::vector<uint8_t>(31, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace fedge::protocol
