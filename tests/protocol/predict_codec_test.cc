// Gateway inference's messages (gateway/prediction_service.h): round trips,
// each malformed form refused with the field named, and PeekKind, which
// routes frames by kind before anything is decoded.

#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "protocol/codec.h"
#include "protocol/envelope.h"
#include "tests/testing/status_matchers.h"

namespace fedge::protocol {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

TEST(CodecTest, PredictRequestRoundTrips) {
  PredictRequest q{41, 7, 2, {1, 2, 3, -4.5f, 5, 6e-9f}};
  absl::StatusOr<Message> m = Decode(Encode(q));
  ASSERT_THAT(m, IsOk());
  const PredictRequest& got = std::get<PredictRequest>(*m);
  EXPECT_EQ(got.request_id, 41u);
  EXPECT_EQ(got.client_id, 7u);
  EXPECT_EQ(got.count, 2u);
  EXPECT_EQ(got.inputs, q.inputs);
  EXPECT_EQ(PeekKind(Encode(q)), MessageKind::kPredictRequest);
}

TEST(CodecTest, PredictReplyRoundTripsWithOutputsAndAsARefusal) {
  PredictReply ok;
  ok.request_id = 41;
  ok.ok = true;
  ok.message = "fine";
  ok.model_version = 12;
  ok.count = 2;
  ok.output_size = 3;
  ok.outputs = {0.5f, -1, 2, 3e-20f, 4, 5};
  absl::StatusOr<Message> m = Decode(Encode(ok));
  ASSERT_THAT(m, IsOk());
  const PredictReply& got = std::get<PredictReply>(*m);
  EXPECT_EQ(got.request_id, 41u);
  EXPECT_TRUE(got.ok);
  EXPECT_EQ(got.code, ok.code);
  EXPECT_EQ(got.message, "fine");
  EXPECT_EQ(got.model_version, 12u);
  EXPECT_EQ(got.count, 2u);
  EXPECT_EQ(got.output_size, 3u);
  EXPECT_EQ(got.outputs, ok.outputs);

  for (ErrorCode code : {ErrorCode::kNoModel, ErrorCode::kBusy, ErrorCode::kWrongLength}) {
    PredictReply no;
    no.request_id = 9;
    no.ok = false;
    no.code = code;
    no.message = "why not";
    m = Decode(Encode(no));
    ASSERT_THAT(m, IsOk());
    const PredictReply& r = std::get<PredictReply>(*m);
    EXPECT_EQ(r.request_id, 9u);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.code, code);
    EXPECT_EQ(r.message, "why not");
    EXPECT_EQ(r.model_version, 0u);
    EXPECT_EQ(r.count, 0u);
    EXPECT_EQ(r.output_size, 0u);
    EXPECT_TRUE(r.outputs.empty());
  }
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kNoModel), "NO_MODEL");
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kBusy), "BUSY");
  EXPECT_STREQ(MessageKindName(MessageKind::kPredictRequest), "PredictRequest");
  EXPECT_STREQ(MessageKindName(MessageKind::kPredictReply), "PredictReply");
}

TEST(CodecTest, PredictRequestsOfNoWholeExamplesAreRefused) {
  PredictRequest none{1, 7, 0, {}};
  EXPECT_THAT(Decode(Encode(none)),
              StatusIs(absl::StatusCode::kInvalidArgument, "0 inputs are not 0 whole examples"));
  PredictRequest zero_count{1, 7, 0, {1, 2}};
  EXPECT_THAT(Decode(Encode(zero_count)),
              StatusIs(absl::StatusCode::kInvalidArgument, "2 inputs are not 0 whole examples"));
  PredictRequest ragged{1, 7, 2, {1, 2, 3}};
  EXPECT_THAT(Decode(Encode(ragged)),
              StatusIs(absl::StatusCode::kInvalidArgument, "3 inputs are not 2 whole examples"));
  // Cut inside the inputs.
  PredictRequest q{1, 7, 2, {1, 2, 3, 4}};
  std::string cut = Encode(q);
  cut.resize(cut.size() - 2);
  absl::little_endian::Store32(cut.data() + 8, static_cast<uint32_t>(cut.size() - kEnvelopeSize));
  EXPECT_THAT(Decode(cut), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CodecTest, MalformedPredictRepliesAreRefused) {
  PredictReply ok;
  ok.request_id = 3;
  ok.ok = true;
  ok.model_version = 4;
  ok.count = 2;
  ok.output_size = 2;
  ok.outputs = {1, 2, 3, 4};
  ASSERT_THAT(Decode(Encode(ok)), IsOk());

  PredictReply no_examples = ok;
  no_examples.count = 0;
  no_examples.outputs.clear();
  EXPECT_THAT(Decode(Encode(no_examples)),
              StatusIs(absl::StatusCode::kInvalidArgument, "0 outputs for 0 examples"));
  PredictReply short_outputs = ok;
  short_outputs.outputs.pop_back();
  EXPECT_THAT(Decode(Encode(short_outputs)),
              StatusIs(absl::StatusCode::kInvalidArgument, "3 outputs for 2 examples of 2"));
  PredictReply long_outputs = ok;
  long_outputs.outputs.push_back(5);
  EXPECT_THAT(Decode(Encode(long_outputs)),
              StatusIs(absl::StatusCode::kInvalidArgument, "5 outputs for 2 examples of 2"));

  PredictReply refusal_with_outputs;
  refusal_with_outputs.ok = false;
  refusal_with_outputs.code = ErrorCode::kBusy;
  refusal_with_outputs.outputs = {1};
  EXPECT_THAT(Decode(Encode(refusal_with_outputs)),
              StatusIs(absl::StatusCode::kInvalidArgument, "in a refusal"));

  // The ok flag is a boolean byte, after the archive's endianness byte and
  // the u64 request id.
  std::string frame = Encode(ok);
  constexpr size_t kOkAt = kEnvelopeSize + 1 + 8;
  ASSERT_EQ(frame[kOkAt], 1);
  frame[kOkAt] = 2;
  EXPECT_THAT(Decode(frame),
              StatusIs(absl::StatusCode::kInvalidArgument, "PredictReply.ok is not 0 or 1"));

  std::string cut = Encode(ok);
  cut.pop_back();
  absl::little_endian::Store32(cut.data() + 8, static_cast<uint32_t>(cut.size() - kEnvelopeSize));
  EXPECT_THAT(Decode(cut), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CodecTest, PredictRepliesWithUnknownCodesAreRefused) {
  PredictReply r;
  r.ok = false;
  r.code = static_cast<ErrorCode>(kMaxErrorCode + 1);
  EXPECT_THAT(Decode(Encode(r)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       absl::StrCat("PredictReply.code ", kMaxErrorCode + 1, " is unknown")));
  r.code = static_cast<ErrorCode>(0);
  EXPECT_THAT(Decode(Encode(r)),
              StatusIs(absl::StatusCode::kInvalidArgument, "PredictReply.code 0 is unknown"));
  // Also on a reply with outputs.
  PredictReply ok;
  ok.ok = true;
  ok.code = static_cast<ErrorCode>(999);
  ok.count = 1;
  ok.output_size = 1;
  ok.outputs = {1};
  EXPECT_THAT(Decode(Encode(ok)),
              StatusIs(absl::StatusCode::kInvalidArgument, "PredictReply.code 999 is unknown"));
  r.code = static_cast<ErrorCode>(kMaxErrorCode);
  EXPECT_THAT(Decode(Encode(r)), IsOk());
}

TEST(CodecTest, PeekKindReadsTheEnvelopeOnly) {
  EXPECT_EQ(PeekKind(Encode(PredictRequest{1, 2, 1, {0.5f}})), MessageKind::kPredictRequest);
  PredictReply r;
  r.code = ErrorCode::kNoModel;
  EXPECT_EQ(PeekKind(Encode(r)), MessageKind::kPredictReply);
  EXPECT_EQ(PeekKind(Encode(Shutdown{"x"})), MessageKind::kShutdown);

  // Nothing past the envelope is looked at: a body that would not decode, or
  // another protocol version, still peeks.
  std::string frame = Encode(PredictRequest{1, 2, 1, {0.5f}});
  std::string body_gone = frame.substr(0, kEnvelopeSize);
  EXPECT_EQ(PeekKind(body_gone), MessageKind::kPredictRequest);
  std::string other_version = frame;
  absl::little_endian::Store16(other_version.data() + 4, kProtocolVersion + 1);
  EXPECT_EQ(PeekKind(other_version), MessageKind::kPredictRequest);

  // Short frames.
  EXPECT_EQ(PeekKind(""), std::nullopt);
  EXPECT_EQ(PeekKind("FEDG"), std::nullopt);
  EXPECT_EQ(PeekKind(frame.substr(0, kEnvelopeSize - 1)), std::nullopt);
  // A foreign frame.
  std::string bad_magic = frame;
  bad_magic[0] = 'X';
  EXPECT_EQ(PeekKind(bad_magic), std::nullopt);
  // Kinds no message has.
  std::string unknown = frame;
  absl::little_endian::Store16(unknown.data() + 6, 99);
  EXPECT_EQ(PeekKind(unknown), std::nullopt);
  absl::little_endian::Store16(unknown.data() + 6, kMaxMessageKind + 1);
  EXPECT_EQ(PeekKind(unknown), std::nullopt);
  absl::little_endian::Store16(unknown.data() + 6, 0);
  EXPECT_EQ(PeekKind(unknown), std::nullopt);
}

}  // namespace
}  // namespace fedge::protocol
