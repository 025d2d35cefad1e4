// A shared connection's tasks by reference (protocol version 7) and the
// byte comparison of models that the client's signature gate relies on.

#include "protocol/codec.h"
#include "protocol/model_payload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/protocol/small_task.h"
#include "tests/testing/status_matchers.h"

namespace fedge::protocol {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

using ::fedge::protocol::testing::SmallTask;

// A shared connection's later tasks of a round carry no model (protocol
// version 7): the flag travels, and a model beside it is refused.
TEST(CodecTest, TaskWithItsModelByReferenceRoundTripsAndCarriesNoModel) {
  Task t = SmallTask();
  t.model = ModelPayload();
  t.model_by_reference = true;
  absl::StatusOr<Message> m = Decode(Encode(t));
  ASSERT_THAT(m, IsOk());
  const Task& got = std::get<Task>(*m);
  EXPECT_TRUE(got.model_by_reference);
  EXPECT_EQ(got.round, 2u);
  EXPECT_EQ(got.model_version, 1u);
  EXPECT_TRUE(got.model.weights.empty());
  EXPECT_FALSE(std::get<Task>(*Decode(Encode(SmallTask()))).model_by_reference);

  Task both = SmallTask();
  both.model_by_reference = true;
  EXPECT_THAT(Decode(Encode(both)),
              StatusIs(absl::StatusCode::kInvalidArgument, "by reference"));
}


TEST(SameModelBytesTest, ComparesBytesOfEverythingSignedAndOptionallyTheArchitecture) {
  ModelPayload a = SmallTask().model;
  a.architecture = "mlp";
  ModelPayload b = a;
  EXPECT_TRUE(SameModelBytes(a, b, true));
  b.weights[0] = -0.0f;
  ModelPayload zero = a;
  zero.weights[0] = 0.0f;
  EXPECT_FALSE(SameModelBytes(zero, b, false));  // equal as floats, not as bytes
  b = a;
  b.architecture.clear();  // not signed: only compared when asked
  EXPECT_TRUE(SameModelBytes(a, b, false));
  EXPECT_FALSE(SameModelBytes(a, b, true));
  b = a;
  b.mask = "\x01";
  EXPECT_FALSE(SameModelBytes(a, b, false));
  b = a;
  b.task.num_classes += 1;
  EXPECT_FALSE(SameModelBytes(a, b, false));
  b = a;
  b.manifest.tensors[0].name = "other";
  EXPECT_FALSE(SameModelBytes(a, b, false));
  b = a;
  b.weights.pop_back();
  EXPECT_FALSE(SameModelBytes(a, b, false));
}

}  // namespace
}  // namespace fedge::protocol
