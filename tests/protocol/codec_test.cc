#include "protocol/codec.h"

#include <cmath>
#include <cstring>
#include <optional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
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

// The model's task and the federated-evaluation fields travel; a task the
// spec forbids (a loss that does not fit its target) is refused on decode.
TEST(CodecTest, TaskSpecAndEvaluationFieldsRoundTrip) {
  Task t = SampleTask();
  t.config.evaluate_only = true;
  t.model.task.input_shape = {30};
  t.model.task.target = TargetKind::kReal;
  t.model.task.num_classes = 0;
  t.model.task.target_shape = {2, 3};
  t.model.task.loss = LossKind::kL1;
  absl::StatusOr<Message> m = Decode(Encode(t));
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(std::get<Task>(*m).model.task, t.model.task);
  EXPECT_TRUE(std::get<Task>(*m).config.evaluate_only);

  t.model.task.loss = LossKind::kCrossEntropy;
  EXPECT_THAT(Decode(Encode(t)),
              StatusIs(absl::StatusCode::kInvalidArgument, "does not fit target real:2,3"));
  t.model.task = TaskSpec();
  t.model.task.input_shape = {0};
  EXPECT_THAT(Decode(Encode(t)), StatusIs(absl::StatusCode::kInvalidArgument, "dimension <= 0"));

  Update u;
  u.round = 3;
  u.num_examples = 9;
  u.metrics.mse = 0.25f;
  u.metrics.mae = 0.5f;
  m = Decode(Encode(u));
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(std::get<Update>(*m).metrics.mse, 0.25f);
  EXPECT_EQ(std::get<Update>(*m).metrics.mae, 0.5f);
  EXPECT_TRUE(std::get<Update>(*m).delta.empty());
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

TEST(CodecTest, CheckInMessagesRoundTrip) {
  Hello h{5, 600, kCapCheckIn, "fedge test", {}};
  h.has_model = true;
  h.model_version = 12;
  h.registration = 0x8badf00d12345678ull;
  auto hm = Decode(Encode(h));
  ASSERT_THAT(hm, IsOk());
  EXPECT_TRUE(std::get<Hello>(*hm).has_model);
  EXPECT_EQ(std::get<Hello>(*hm).model_version, 12u);
  EXPECT_EQ(std::get<Hello>(*hm).registration, 0x8badf00d12345678ull);
  EXPECT_EQ(std::get<Hello>(*hm).capabilities, kCapCheckIn);

  auto lm = Decode(Encode(Leave{5, "battery low"}));
  ASSERT_THAT(lm, IsOk());
  EXPECT_EQ(std::get<Leave>(*lm).client_id, 5u);
  EXPECT_EQ(std::get<Leave>(*lm).reason, "battery low");

  auto rm = Decode(Encode(RetryLater{1500, 30000, "not selected"}));
  ASSERT_THAT(rm, IsOk());
  EXPECT_EQ(std::get<RetryLater>(*rm).after_ms, 1500u);
  EXPECT_EQ(std::get<RetryLater>(*rm).window_ms, 30000u);
  EXPECT_EQ(std::get<RetryLater>(*rm).reason, "not selected");

  GlobalModel g{7, SampleTask().model, {}};
  g.signature.signature = std::string(kModelSignatureSize, 's');
  auto gm = Decode(Encode(g));
  ASSERT_THAT(gm, IsOk());
  EXPECT_EQ(std::get<GlobalModel>(*gm).model_version, 7u);
  EXPECT_EQ(std::get<GlobalModel>(*gm).model.weights, g.model.weights);
  EXPECT_EQ(std::get<GlobalModel>(*gm).model.architecture, g.model.architecture);
  EXPECT_EQ(std::get<GlobalModel>(*gm).signature.signature, g.signature.signature);
}

TEST(CodecTest, MalformedCheckInMessagesAreRefused) {
  // has_model is a boolean byte.
  Hello h{5, 600, kCapCheckIn, "fedge test", {}};
  std::string frame = Encode(h);
  frame[frame.size() - 17] = 2;  // has_model, before the u64 version and registration
  EXPECT_THAT(Decode(frame), StatusIs(absl::StatusCode::kInvalidArgument, "Hello.has_model"));
  GlobalModel g{7, SampleTask().model, {}};
  g.signature.signature = "short";
  EXPECT_THAT(Decode(Encode(g)),
              StatusIs(absl::StatusCode::kInvalidArgument, "GlobalModel.signature has 5 bytes"));
  g.signature.signature.clear();
  g.model.weights.pop_back();  // no longer matches the manifest
  EXPECT_THAT(Decode(Encode(g)), StatusIs(absl::StatusCode::kInvalidArgument, "GlobalModel"));
  std::string cut = Encode(RetryLater{1, 2, "x"});
  cut.pop_back();
  EXPECT_THAT(Decode(cut), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CodecTest, FloatsAreLittleEndianOnTheWire) {
  Update u;
  u.delta = {1.0f};
  std::string frame = Encode(u);
  // The only float, before the empty packed payload's and control_delta's
  // 8-byte lengths: 1.0f is 0x3f800000.
  const unsigned char* tail =
      reinterpret_cast<const unsigned char*>(frame.data()) + frame.size() - 16 - 4;
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
  // The delta's uint64 length prefix comes before the empty packed payload's
  // and control_delta's.
  absl::little_endian::Store64(frame.data() + frame.size() - 24, uint64_t{1} << 40);
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

// Strategy fields: tensor roles and the normalisation mark, FedProx, norm
// bounding and FedBN settings, SCAFFOLD's control variates both ways.
TEST(CodecTest, StrategyFieldsRoundTrip) {
  Task t = SampleTask();
  t.model.manifest.tensors.push_back({"bn.running_var", {1}, DType::kFloat32, TensorRole::kBuffer,
                                      true});
  t.model.manifest.tensors.push_back({"bn.num_batches_tracked", {}, DType::kFloat32,
                                      TensorRole::kCounter, true});
  t.model.weights.push_back(0.5f);
  t.model.weights.push_back(12.0f);
  t.config.proximal_mu = 0.25f;
  t.config.clip_norm = 3.5f;
  t.config.local_normalization = true;
  t.control.assign(t.model.weights.size(), -0.125f);
  absl::StatusOr<Message> m = Decode(Encode(t));
  ASSERT_THAT(m, IsOk());
  const Task& got = std::get<Task>(*m);
  EXPECT_EQ(got.model.manifest, t.model.manifest);
  EXPECT_EQ(got.model.manifest.tensors[2].role, TensorRole::kBuffer);
  EXPECT_TRUE(got.model.manifest.tensors[3].normalization);
  EXPECT_FALSE(got.model.manifest.tensors[0].normalization);
  EXPECT_EQ(got.config.proximal_mu, 0.25f);
  EXPECT_EQ(got.config.clip_norm, 3.5f);
  EXPECT_TRUE(got.config.local_normalization);
  EXPECT_EQ(got.control, t.control);
  EXPECT_EQ(ParameterRanges(got.model.manifest),
            (std::vector<std::pair<uint64_t, uint64_t>>{{0, 8}}));
  Update u = SampleUpdate();
  u.control_delta = {1.5f, -2.5f, 0};
  m = Decode(Encode(u));
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(std::get<Update>(*m).control_delta, u.control_delta);
}

TEST(CodecTest, UnknownRolesAndFlagBytesAreRefused) {
  Task t = SampleTask();
  t.model.manifest.tensors[1].role = static_cast<TensorRole>(3);
  EXPECT_THAT(Decode(Encode(t)), StatusIs(absl::StatusCode::kInvalidArgument, "unknown role"));
  // A flag byte that is neither 0 nor 1: found as the one byte that differs
  // between the task with and without FedBN.
  t = SampleTask();
  std::string frame = Encode(t);
  t.config.local_normalization = true;
  const std::string with = Encode(t);
  ASSERT_EQ(frame.size(), with.size());
  size_t flag = 0, differing = 0;
  for (size_t i = 0; i < frame.size(); ++i) {
    if (frame[i] != with[i]) flag = i, ++differing;
  }
  ASSERT_EQ(differing, 1u);
  frame[flag] = 2;
  EXPECT_THAT(Decode(frame),
              StatusIs(absl::StatusCode::kInvalidArgument, "local_normalization"));
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

// ---- Secure aggregation messages ----

secure::SecAggConfig SampleSecAggConfig() {
  secure::SecAggConfig c;
  c.variant = secure::SecAggVariant::kPlus;
  c.num_clients = 500;
  c.threshold = 33;
  c.num_neighbors = 64;
  c.graph_seed = 0x0123456789abcdefULL;
  c.input_length = 100001;
  for (size_t i = 0; i < c.session_id.size(); ++i) c.session_id[i] = static_cast<uint8_t>(i + 1);
  return c;
}

std::vector<SecAggToServer> SampleSecAggToServer() {
  std::vector<SecAggToServer> out;
  secure::AdvertiseKeys keys;
  keys.encryption_key.fill(0xaa);
  keys.masking_key.fill(0x55);
  out.push_back({1, 2, 3, keys});
  secure::ShareKeysResponse shares;
  shares.shares.push_back({7, std::vector<uint8_t>(secure::kSecAggShareCiphertextSize, 9)});
  shares.shares.push_back({9, std::vector<uint8_t>(secure::kSecAggShareCiphertextSize, 4)});
  out.push_back({1, 2, 3, shares});
  out.push_back({1, 2, 3, secure::MaskedInput{{1, 0xffffffffu, 3}}});
  secure::UnmaskingResponse unmask;
  unmask.self_mask_shares.push_back({4, {1, 2, 3, 4, 5}});
  unmask.masking_key_shares.push_back({6, {(uint64_t{1} << 61) - 2, 0, 0, 0, 7}});
  out.push_back({1, 2, 3, unmask});
  return out;
}

std::vector<SecAggToClient> SampleSecAggToClient() {
  std::vector<SecAggToClient> out;
  secure::ShareKeysRequest keys;
  keys.keys.push_back({3, {}, {}});
  keys.keys.back().masking_key.fill(1);
  keys.keys.push_back({8, {}, {}});
  out.push_back({5, keys});
  secure::MaskedInputRequest req;
  req.share_holders = {2, 3, 8};
  req.shares.push_back({3, std::vector<uint8_t>(secure::kSecAggShareCiphertextSize, 1)});
  out.push_back({5, req});
  out.push_back({5, secure::UnmaskingRequest{{1, 2, 3}, {4}}});
  out.push_back({5, secure::SecAggAbort{"too few clients"}});
  return out;
}

TEST(CodecTest, SecAggMessagesRoundTrip) {
  for (const SecAggToServer& m : SampleSecAggToServer()) {
    const std::string frame = Encode(m);
    auto got = Decode(frame);
    ASSERT_THAT(got, IsOk()) << m.body.index();
    const auto& s = std::get<SecAggToServer>(*got);
    EXPECT_EQ(s.round, 1u);
    EXPECT_EQ(s.model_version, 2u);
    EXPECT_EQ(s.client_id, 3u);
    EXPECT_EQ(s.body.index(), m.body.index());
    EXPECT_EQ(Encode(*got), frame);
  }
  for (const SecAggToClient& m : SampleSecAggToClient()) {
    const std::string frame = Encode(m);
    auto got = Decode(frame);
    ASSERT_THAT(got, IsOk()) << m.body.index();
    EXPECT_EQ(std::get<SecAggToClient>(*got).body.index(), m.body.index());
    EXPECT_EQ(Encode(*got), frame);
  }
  auto got = Decode(Encode(SampleSecAggToServer()[3]));
  ASSERT_THAT(got, IsOk());
  const auto& u = std::get<secure::UnmaskingResponse>(std::get<SecAggToServer>(*got).body);
  ASSERT_EQ(u.masking_key_shares.size(), 1u);
  EXPECT_EQ(u.masking_key_shares[0].owner, 6u);
  EXPECT_EQ(u.masking_key_shares[0].y[0], (uint64_t{1} << 61) - 2);
  got = Decode(Encode(SampleSecAggToClient()[1]));
  ASSERT_THAT(got, IsOk());
  const auto& r = std::get<secure::MaskedInputRequest>(std::get<SecAggToClient>(*got).body);
  EXPECT_EQ(r.share_holders, (std::vector<uint32_t>{2, 3, 8}));
  EXPECT_EQ(r.shares[0].ciphertext.size(), secure::kSecAggShareCiphertextSize);
}

TEST(CodecTest, TaskCarriesTheSecureAggregationSettings) {
  Task t = SampleTask();
  const size_t plain = Encode(t).size();
  t.secure.enabled = true;
  t.secure.config = SampleSecAggConfig();
  auto encoding = aggregation::MakeFixedPointConfig(500, 0.5f, 600);
  ASSERT_THAT(encoding, IsOk());
  t.secure.encoding = *encoding;
  t.secure.cohort = {11, 12, 13};
  auto got = Decode(Encode(t));
  ASSERT_THAT(got, IsOk());
  const SecureAggregationTask& s = std::get<Task>(*got).secure;
  EXPECT_TRUE(s.enabled);
  EXPECT_EQ(s.config.variant, secure::SecAggVariant::kPlus);
  EXPECT_EQ(s.config.num_clients, 500u);
  EXPECT_EQ(s.config.threshold, 33u);
  EXPECT_EQ(s.config.num_neighbors, 64u);
  EXPECT_EQ(s.config.graph_seed, 0x0123456789abcdefULL);
  EXPECT_EQ(s.config.input_length, 100001u);
  EXPECT_EQ(s.config.session_id, t.secure.config.session_id);
  EXPECT_EQ(s.encoding.clip, 0.5f);
  EXPECT_EQ(s.encoding.scale, encoding->scale);
  EXPECT_EQ(s.encoding.max_weight, 600u);
  EXPECT_EQ(s.cohort, t.secure.cohort);
  // A plain round's task stays as it was plus one byte.
  t.secure = SecureAggregationTask{};
  EXPECT_EQ(Encode(t).size(), plain);
  got = Decode(Encode(t));
  ASSERT_THAT(got, IsOk());
  EXPECT_FALSE(std::get<Task>(*got).secure.enabled);
}

// The tag byte of a SecAgg body follows the envelope, cereal's one-byte
// endianness marker and the fixed fields (round [, model_version, client_id]).
size_t TagOffset(bool to_server) { return kEnvelopeSize + 1 + (to_server ? 24 : 8); }

TEST(CodecTest, MalformedSecAggBodiesAreRefused) {
  std::string frame = Encode(SampleSecAggToServer()[0]);
  frame[TagOffset(true)] = 9;
  EXPECT_THAT(Decode(frame), StatusIs(absl::StatusCode::kInvalidArgument, "unknown message tag"));
  frame[TagOffset(true)] = 0;
  EXPECT_THAT(Decode(frame), StatusIs(absl::StatusCode::kInvalidArgument, "unknown message tag"));

  // A share list claiming 2^40 entries: refused on the length check.
  frame = Encode(SampleSecAggToServer()[1]);
  absl::little_endian::Store64(frame.data() + TagOffset(true) + 1, uint64_t{1} << 40);
  EXPECT_THAT(Decode(frame), StatusIs(absl::StatusCode::kInvalidArgument, "ShareKeysResponse"));

  // More list entries than max_secagg_clients.
  DecodeLimits small;
  small.max_secagg_clients = 3;
  EXPECT_THAT(Decode(Encode(SampleSecAggToClient()[2]), small), IsOk());
  SecAggToClient many{5, secure::UnmaskingRequest{{1, 2, 3, 4}, {}}};
  EXPECT_THAT(Decode(Encode(many), small),
              StatusIs(absl::StatusCode::kInvalidArgument, "UnmaskingRequest.survivors"));

  // A revealed share with more values than a 32-byte secret has chunks.
  SecAggToServer wide = SampleSecAggToServer()[3];
  std::get<secure::UnmaskingResponse>(wide.body).self_mask_shares[0].y.push_back(1);
  EXPECT_THAT(Decode(Encode(wide)), StatusIs(absl::StatusCode::kInvalidArgument, "self_mask"));

  // An oversized ciphertext.
  SecAggToServer fat = SampleSecAggToServer()[1];
  std::get<secure::ShareKeysResponse>(fat.body).shares[0].ciphertext.resize(5000);
  EXPECT_THAT(Decode(Encode(fat)), StatusIs(absl::StatusCode::kInvalidArgument));

  // Unknown variant and a non-boolean enabled flag in a Task.
  Task t = SampleTask();
  t.secure.enabled = true;
  t.secure.config = SampleSecAggConfig();
  t.secure.config.variant = static_cast<secure::SecAggVariant>(7);
  EXPECT_THAT(Decode(Encode(t)), StatusIs(absl::StatusCode::kInvalidArgument, "variant"));
  t.secure = SecureAggregationTask{};
  frame = Encode(t);
  frame[frame.size() - 9] = 2;  // the enabled byte, before the empty control's length
  EXPECT_THAT(Decode(frame), StatusIs(absl::StatusCode::kInvalidArgument, "enabled"));
}

TEST(CodecTest, DecodeIntoReusesTheMaskedInputBuffer) {
  SecAggToServer m{1, 2, 3, secure::MaskedInput{std::vector<uint32_t>(4096, 7)}};
  const std::string frame = Encode(m);
  Message out;
  ASSERT_THAT(DecodeInto(frame, {}, &out), IsOk());
  const uint32_t* first =
      std::get<secure::MaskedInput>(std::get<SecAggToServer>(out).body).masked.data();
  ASSERT_THAT(DecodeInto(frame, {}, &out), IsOk());
  EXPECT_EQ(std::get<secure::MaskedInput>(std::get<SecAggToServer>(out).body).masked.data(),
            first);
  // Another body kind replaces it cleanly.
  ASSERT_THAT(DecodeInto(Encode(SampleSecAggToServer()[0]), {}, &out), IsOk());
  EXPECT_TRUE(std::holds_alternative<secure::AdvertiseKeys>(std::get<SecAggToServer>(out).body));
}

TEST(CodecTest, EveryTruncationOfASecAggMessageIsAnErrorNotACrash) {
  std::vector<std::string> frames;
  for (const auto& m : SampleSecAggToServer()) frames.push_back(Encode(m));
  for (const auto& m : SampleSecAggToClient()) frames.push_back(Encode(m));
  Task t = SampleTask();
  t.secure.enabled = true;
  t.secure.config = SampleSecAggConfig();
  t.secure.cohort = {1, 2};
  frames.push_back(Encode(t));
  for (const std::string& frame : frames) {
    for (size_t len = kEnvelopeSize; len < frame.size(); ++len) {
      std::string cut = frame.substr(0, len);
      absl::little_endian::Store32(cut.data() + 8, static_cast<uint32_t>(len - kEnvelopeSize));
      EXPECT_THAT(Decode(cut), StatusIs(absl::StatusCode::kInvalidArgument)) << "length " << len;
    }
  }
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

TEST(CodecTest, TaskSignatureRoundTrips) {
  Task t = SampleTask();
  t.signature.signature = std::string(kModelSignatureSize, '\x5a');
  absl::StatusOr<Message> m = Decode(Encode(t));
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(std::get<Task>(*m).signature.signature, t.signature.signature);
  // Unsigned (an --insecure coordinator without a key) is valid too.
  m = Decode(Encode(SampleTask()));
  ASSERT_THAT(m, IsOk());
  EXPECT_TRUE(std::get<Task>(*m).signature.signature.empty());
}

TEST(CodecTest, TaskWithAMalformedSignatureIsRefused) {
  Task t = SampleTask();
  t.signature.signature = std::string(10, 'x');
  EXPECT_THAT(Decode(Encode(t)),
              StatusIs(absl::StatusCode::kInvalidArgument, "Task.signature has 10 bytes"));
  t.signature.signature = std::string(kModelSignatureSize + 1, 'x');
  EXPECT_THAT(Decode(Encode(t)),
              StatusIs(absl::StatusCode::kInvalidArgument, "Task.signature: declares 65"));
  // Cut inside the signature.
  t.signature.signature = std::string(kModelSignatureSize, 'x');
  std::string signed_frame = Encode(t);
  signed_frame.resize(signed_frame.size() - 1);
  EXPECT_THAT(Decode(signed_frame), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CodecTest, SecurityErrorCodesRoundTripAndLaterOnesAreRefused) {
  for (ErrorCode code : {ErrorCode::kNotEnrolled, ErrorCode::kBadSignature, ErrorCode::kRollback}) {
    absl::StatusOr<Message> m = Decode(Encode(ErrorReply{code, 4, "why"}));
    ASSERT_THAT(m, IsOk());
    EXPECT_EQ(std::get<ErrorReply>(*m).code, code);
  }
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kNotEnrolled), "NOT_ENROLLED");
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kBadSignature), "BAD_SIGNATURE");
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kRollback), "ROLLBACK");
  ErrorReply next{static_cast<ErrorCode>(kMaxErrorCode + 1), 0, ""};
  EXPECT_THAT(Decode(Encode(next)), StatusIs(absl::StatusCode::kInvalidArgument, "Error.code"));
}

}  // namespace
}  // namespace fedge::protocol
