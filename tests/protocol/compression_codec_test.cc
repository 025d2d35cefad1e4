// Update compression on the wire: the task's compression settings, compressed
// updates, and secure aggregation's masked inputs packed in a smaller ring.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "compression/pruning.h"
#include "protocol/codec.h"
#include "protocol/model_signature.h"
#include "tests/protocol/small_task.h"
#include "tests/testing/status_matchers.h"

namespace fedge::protocol {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

using ::fedge::protocol::testing::SmallTask;

TEST(CompressionCodecTest, TaskSettingsTravelAndBadOnesAreRefused) {
  Task t = SmallTask();
  t.config.compression = *compression::ParseConfig("int4:64");
  absl::StatusOr<Message> m = Decode(Encode(t));
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(std::get<Task>(*m).config.compression, t.config.compression);
  t.config.compression = *compression::ParseConfig("topk:0.25");
  m = Decode(Encode(t));
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(std::get<Task>(*m).config.compression, t.config.compression);

  t.config.compression.fraction = 1.5f;
  EXPECT_THAT(Decode(Encode(t)), StatusIs(absl::StatusCode::kInvalidArgument, "fraction 1.5"));
  t.config.compression = *compression::ParseConfig("int8");
  t.config.compression.block = 0;
  EXPECT_THAT(Decode(Encode(t)), StatusIs(absl::StatusCode::kInvalidArgument, "block 0"));
  t.config.compression.method = static_cast<compression::Method>(0);
  EXPECT_THAT(Decode(Encode(t)),
              StatusIs(absl::StatusCode::kInvalidArgument, "compression.method 0 is unknown"));
}

TEST(CompressionCodecTest, CompressedUpdateTravelsAndMismatchedFieldsAreRefused) {
  Update u;
  u.round = 3;
  u.client_id = 7;
  u.num_examples = 10;
  u.encoding = DeltaEncoding::kInt8;
  u.packed = std::string("\x04\0\0\0abcdefgh", 12);
  absl::StatusOr<Message> m = Decode(Encode(u));
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(std::get<Update>(*m).encoding, DeltaEncoding::kInt8);
  EXPECT_EQ(std::get<Update>(*m).packed, u.packed);
  EXPECT_TRUE(std::get<Update>(*m).delta.empty());

  u.delta = {1.0f};  // a compressed update carrying floats too
  EXPECT_THAT(Decode(Encode(u)), StatusIs(absl::StatusCode::kInvalidArgument, "does not use"));
  u.encoding = DeltaEncoding::kFloat32;  // floats and a payload
  EXPECT_THAT(Decode(Encode(u)), StatusIs(absl::StatusCode::kInvalidArgument, "does not use"));
  u.packed.clear();
  EXPECT_THAT(Decode(Encode(u)), IsOk());
  u.encoding = static_cast<DeltaEncoding>(6);
  EXPECT_THAT(Decode(Encode(u)), StatusIs(absl::StatusCode::kInvalidArgument, "encoding 6"));
}

SecAggToServer Masked(std::vector<uint32_t> words, uint32_t bits) {
  SecAggToServer m;
  m.round = 1;
  m.client_id = 2;
  secure::MaskedInput in;
  in.masked = std::move(words);
  in.bits = bits;
  m.body = in;
  return m;
}

TEST(CompressionCodecTest, MaskedInputsArePackedInTheRingsBits) {
  std::vector<uint32_t> words;
  for (uint32_t i = 0; i < 1001; ++i) words.push_back((i * 2654435761u) & 0xfff);
  const size_t wide = Encode(Masked(words, 32)).size();
  for (uint32_t bits : {12u, 16u, 32u}) {
    const std::string frame = Encode(Masked(words, bits));
    absl::StatusOr<Message> m = Decode(frame);
    ASSERT_THAT(m, IsOk()) << bits;
    const auto& got = std::get<secure::MaskedInput>(std::get<SecAggToServer>(*m).body);
    EXPECT_EQ(got.masked, words) << bits;
    EXPECT_EQ(got.bits, bits);
    // 1001 words of 12 bits take 1502 bytes instead of 4004.
    if (bits < 32) {
      EXPECT_EQ(wide - frame.size(), 4 * words.size() - (words.size() * bits + 7) / 8) << bits;
    }
  }
}

TEST(CompressionCodecTest, MalformedPackedMaskedInputsAreRefused) {
  std::string frame = Encode(Masked({0xfff, 0x001, 0x7ff}, 12));  // 36 bits: 5 bytes, 4 padding
  frame.back() = static_cast<char>(frame.back() | 0x80);
  EXPECT_THAT(Decode(frame), StatusIs(absl::StatusCode::kInvalidArgument, "padding bits"));
  // 3 words of 12 bits are 5 bytes, after their count: declare 4 words.
  frame = Encode(Masked({1, 2, 3}, 12));
  frame[frame.size() - 5 - 8] = 4;
  EXPECT_THAT(Decode(frame), StatusIs(absl::StatusCode::kInvalidArgument, "need 6 bytes"));
  EXPECT_THAT(Decode(Encode(Masked({1}, 7))),
              StatusIs(absl::StatusCode::kInvalidArgument, "MaskedInput.bits 7"));
  EXPECT_THAT(Decode(Encode(Masked({1}, 40))),
              StatusIs(absl::StatusCode::kInvalidArgument, "MaskedInput.bits 40"));
}

TEST(CompressionCodecTest, APruneMaskTravelsWithTheModelAndIsSigned) {
  Task t = SmallTask();
  const std::string dense = ModelSigningMessage(3, t.model);
  t.model.weights = {1, 0, 3, 0};
  t.model.mask = std::string(1, '\x05');  // keeps 0 and 2
  absl::StatusOr<Message> m = Decode(Encode(t));
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(std::get<Task>(*m).model.mask, t.model.mask);
  // The mask is part of what is signed: another mask, another message.
  const std::string pruned = ModelSigningMessage(3, t.model);
  EXPECT_EQ(pruned.size(), dense.size() + 32);
  t.model.mask = std::string(1, '\x07');
  EXPECT_NE(ModelSigningMessage(3, t.model), pruned);
  t.model.mask = std::string(1, '\x15');  // bit 4 is past the 4 weights
  EXPECT_THAT(Decode(Encode(t)), StatusIs(absl::StatusCode::kInvalidArgument, "padding"));
  t.model.mask = std::string(2, '\x01');
  EXPECT_THAT(Decode(Encode(t)), StatusIs(absl::StatusCode::kInvalidArgument, "want 1"));
}

}  // namespace
}  // namespace fedge::protocol
