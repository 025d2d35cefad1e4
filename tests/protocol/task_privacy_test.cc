// The task's differential-privacy settings (protocol::PrivacyConfig) on the
// wire: they travel exactly, and a device never decodes one it cannot honour.

#include <cmath>

#include <gtest/gtest.h>

#include "protocol/codec.h"
#include "tests/protocol/small_task.h"
#include "tests/testing/status_matchers.h"

namespace fedge::protocol {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

using ::fedge::protocol::testing::SmallTask;

// The privacy settings travel; a device never gets one it cannot honour.
TEST(TaskPrivacyCodecTest, SettingsRoundTripAndBadOnesAreRefused) {
  Task t = SmallTask();
  t.config.privacy = {PrivacyMode::kDistributed, 0.5f, 1234.5};
  absl::StatusOr<Message> m = Decode(Encode(t));
  ASSERT_THAT(m, IsOk());
  const PrivacyConfig& got = std::get<Task>(*m).config.privacy;
  EXPECT_EQ(got.mode, PrivacyMode::kDistributed);
  EXPECT_EQ(got.clip, 0.5f);
  EXPECT_EQ(got.noise_stddev, 1234.5);

  t.config.privacy = {PrivacyMode::kLocal, 0.0f, 1.0};
  EXPECT_THAT(Decode(Encode(t)),
              StatusIs(absl::StatusCode::kInvalidArgument, "local or distributed mode without"));
  t.config.privacy = {PrivacyMode::kLocal, 1.0f, -1.0};
  EXPECT_THAT(Decode(Encode(t)), StatusIs(absl::StatusCode::kInvalidArgument, "negative"));
  t.config.privacy = {PrivacyMode::kCentral, 1.0f, std::nan("")};
  EXPECT_THAT(Decode(Encode(t)), StatusIs(absl::StatusCode::kInvalidArgument, "not finite"));
  t.config.privacy = {static_cast<PrivacyMode>(4), 1.0f, 1.0};
  EXPECT_THAT(Decode(Encode(t)), StatusIs(absl::StatusCode::kInvalidArgument, "not 0-3"));
}

}  // namespace
}  // namespace fedge::protocol
