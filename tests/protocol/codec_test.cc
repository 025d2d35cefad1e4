#include "protocol/codec.h"

#include <cmath>
#include <cstring>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/base/internal/endian.h"
#include "protocol/envelope.h"
#include "tests/testing/status_matchers.h"

namespace fedge::protocol {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

Task SampleTask() {
  Task t;
  t.round = 7;
  t.model_version = 6;
  t.config.local_epochs = 2;
  t.config.batch_size = 16;
  t.config.learning_rate = 0.1f;
  t.config.seed = 42;
  t.deadline_ms = 5000;
  t.model.manifest.tensors = {{"fc.weight", {2, 3}, DType::kFloat32},
                              {"fc.bias", {2}, DType::kFloat32}};
  t.model.architecture_id = "builtin:mlp";
  t.model.architecture = "mlp";
  t.model.weights = {1, 2, 3, 4, 5, 6, -7.5f, 8e-9f};
  return t;
}

Update SampleUpdate() {
  Update u;
  u.round = 3;
  u.model_version = 2;
  u.client_id = 11;
  u.num_examples = 600;
  u.delta = {0.5f, -0.25f, 1e-20f};
  u.metrics = {0.7f, 0.8f, 1.5f};
  return u;
}

TEST(CodecTest, TaskRoundTrips) {
  Task t = SampleTask();
  absl::StatusOr<Message> m = Decode(Encode(t));
  ASSERT_THAT(m, IsOk());
  const Task& got = std::get<Task>(*m);
  EXPECT_EQ(got.round, 7u);
  EXPECT_EQ(got.model_version, 6u);
  EXPECT_EQ(got.config.batch_size, 16u);
  EXPECT_EQ(got.config.learning_rate, 0.1f);
  EXPECT_EQ(got.config.seed, 42u);
  EXPECT_EQ(got.model.manifest, t.model.manifest);
  EXPECT_EQ(got.model.architecture_id, "builtin:mlp");
  EXPECT_EQ(got.model.architecture, "mlp");
  EXPECT_EQ(got.model.weights, t.model.weights);
}

TEST(CodecTest, EveryOtherMessageRoundTrips) {
  Hello h{5, 600, kCapTorchScript, "fedge test", {"builtin:mlp", "torchscript:ab"}};
  auto hm = Decode(Encode(h));
  ASSERT_THAT(hm, IsOk());
  EXPECT_EQ(std::get<Hello>(*hm).cached_architectures, h.cached_architectures);
  EXPECT_EQ(std::get<Hello>(*hm).num_examples, 600u);

  Update u = SampleUpdate();
  auto um = Decode(Encode(u));
  ASSERT_THAT(um, IsOk());
  EXPECT_EQ(std::get<Update>(*um).delta, u.delta);
  EXPECT_EQ(std::get<Update>(*um).metrics.train_seconds, 1.5f);

  auto em = Decode(Encode(ErrorReply{ErrorCode::kWrongRound, 4, "late"}));
  ASSERT_THAT(em, IsOk());
  EXPECT_EQ(std::get<ErrorReply>(*em).code, ErrorCode::kWrongRound);
  EXPECT_EQ(std::get<ErrorReply>(*em).message, "late");

  auto wm = Decode(Encode(Welcome{3, 1000, 9}));
  ASSERT_THAT(wm, IsOk());
  EXPECT_EQ(std::get<Welcome>(*wm).heartbeat_interval_ms, 1000u);

  auto bm = Decode(Encode(Heartbeat{3, 4, ClientState::kTraining}));
  ASSERT_THAT(bm, IsOk());
  EXPECT_EQ(std::get<Heartbeat>(*bm).state, ClientState::kTraining);

  auto sm = Decode(Encode(Shutdown{"done"}));
  ASSERT_THAT(sm, IsOk());
  EXPECT_EQ(std::get<Shutdown>(*sm).reason, "done");
}

TEST(CodecTest, FloatsAreLittleEndianOnTheWire) {
  Update u;
  u.delta = {1.0f};
  std::string frame = Encode(u);
  // The last 4 bytes are the only float: 1.0f is 0x3f800000.
  const unsigned char* tail = reinterpret_cast<const unsigned char*>(frame.data()) + frame.size() - 4;
  EXPECT_EQ(tail[0], 0x00);
  EXPECT_EQ(tail[3], 0x3f);
}

TEST(CodecTest, RejectsShortFrameAndBadMagic) {
  EXPECT_THAT(Decode("FEDG"), StatusIs(absl::StatusCode::kInvalidArgument, "shorter"));
  std::string frame = Encode(Shutdown{"x"});
  frame[0] = 'X';
  EXPECT_THAT(Decode(frame), StatusIs(absl::StatusCode::kInvalidArgument, "magic"));
}

TEST(CodecTest, RejectsOtherProtocolVersion) {
  std::string frame = Encode(Shutdown{"x"});
  absl::little_endian::Store16(frame.data() + 4, kProtocolVersion + 1);
  absl::Status s = Decode(frame).status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition, "protocol version"));
  EXPECT_EQ(ErrorCodeForDecodeFailure(s), ErrorCode::kVersionMismatch);
}

TEST(CodecTest, RejectsUnknownKind) {
  std::string frame = Encode(Shutdown{"x"});
  absl::little_endian::Store16(frame.data() + 6, 99);
  absl::Status s = Decode(frame).status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnimplemented, "kind 99"));
  EXPECT_EQ(ErrorCodeForDecodeFailure(s), ErrorCode::kUnknownKind);
}

TEST(CodecTest, RejectsOversizedFrame) {
  DecodeLimits limits;
  limits.max_frame_bytes = 64;
  Update u;
  u.delta.assign(100, 1.0f);
  absl::Status s = Decode(Encode(u), limits).status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kResourceExhausted, "exceeds the limit"));
  EXPECT_EQ(ErrorCodeForDecodeFailure(s), ErrorCode::kTooLarge);
}

TEST(CodecTest, RejectsLengthMismatchInEnvelope) {
  std::string frame = Encode(Shutdown{"abc"});
  frame.push_back('!');
  EXPECT_THAT(Decode(frame), StatusIs(absl::StatusCode::kInvalidArgument, "declares"));
}

TEST(CodecTest, HugeDeclaredVectorIsRefusedBeforeAllocating) {
  // A small Update whose delta claims 2^40 floats: must fail on the length
  // check, not by trying to allocate 4 TiB.
  Update u = SampleUpdate();
  u.delta.clear();
  std::string frame = Encode(u);
  // The delta's uint64 length prefix is the last 8 bytes.
  absl::little_endian::Store64(frame.data() + frame.size() - 8, uint64_t{1} << 40);
  EXPECT_THAT(Decode(frame), StatusIs(absl::StatusCode::kInvalidArgument, "Update.delta"));
}

TEST(CodecTest, TrailingBytesInBodyAreRejected) {
  std::string frame = Encode(Shutdown{"abc"});
  frame.push_back('!');
  absl::little_endian::Store32(frame.data() + 8, static_cast<uint32_t>(frame.size() - kEnvelopeSize));
  EXPECT_THAT(Decode(frame), StatusIs(absl::StatusCode::kInvalidArgument, "unexpected bytes"));
}

TEST(CodecTest, EveryTruncationOfATaskIsAnErrorNotACrash) {
  std::string frame = Encode(SampleTask());
  for (size_t len = kEnvelopeSize; len < frame.size(); ++len) {
    std::string cut = frame.substr(0, len);
    absl::little_endian::Store32(cut.data() + 8, static_cast<uint32_t>(len - kEnvelopeSize));
    EXPECT_THAT(Decode(cut), StatusIs(absl::StatusCode::kInvalidArgument)) << "length " << len;
  }
}

TEST(CodecTest, TaskWhoseManifestDisagreesWithWeightsIsRefused) {
  Task t = SampleTask();
  t.model.weights.pop_back();
  EXPECT_THAT(Decode(Encode(t)), StatusIs(absl::StatusCode::kInvalidArgument, "manifest describes"));
  t = SampleTask();
  t.model.manifest.tensors[1].shape = {-2};
  EXPECT_THAT(Decode(Encode(t)), StatusIs(absl::StatusCode::kInvalidArgument, "bad shape"));
  t = SampleTask();
  t.model.manifest.tensors[1].name = "fc.weight";
  EXPECT_THAT(Decode(Encode(t)), StatusIs(absl::StatusCode::kInvalidArgument, "twice"));
}

TEST(CodecTest, UnknownEnumValuesAreRefused) {
  Update u = SampleUpdate();
  u.encoding = static_cast<DeltaEncoding>(9);
  EXPECT_THAT(Decode(Encode(u)), StatusIs(absl::StatusCode::kInvalidArgument, "encoding"));
  ErrorReply e{static_cast<ErrorCode>(999), 0, ""};
  EXPECT_THAT(Decode(Encode(e)), StatusIs(absl::StatusCode::kInvalidArgument, "Error.code"));
}

TEST(CodecTest, DecodeIntoReusesTheUpdateBuffer) {
  Update u = SampleUpdate();
  u.delta.assign(4096, 0.5f);
  std::string frame = Encode(u);
  Message m;
  ASSERT_THAT(DecodeInto(frame, {}, &m), IsOk());
  const float* first = std::get<Update>(m).delta.data();
  ASSERT_THAT(DecodeInto(frame, {}, &m), IsOk());
  EXPECT_EQ(std::get<Update>(m).delta.data(), first);
}

TEST(ManifestTest, CountsElements) {
  ModelManifest m;
  m.tensors = {{"a", {2, 3}, DType::kFloat32}, {"b", {4}, DType::kFloat32}};
  EXPECT_EQ(m.NumElements(), 10u);
  EXPECT_THAT(ValidateManifest(m, 10), IsOk());
  EXPECT_THAT(ValidateManifest(m, 11), StatusIs(absl::StatusCode::kInvalidArgument));
  m.tensors[0].shape = {int64_t{1} << 30, int64_t{1} << 30};
  EXPECT_THAT(ValidateManifest(m, 10), StatusIs(absl::StatusCode::kInvalidArgument, "bad shape"));
}

}  // namespace
}  // namespace fedge::protocol
