#include "client/device_profile.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace fedge::client {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

TEST(DeviceProfileTest, FileRoundTripsExactly) {
  std::map<uint64_t, DeviceProfile> p = {{0, {1, 1}}, {7, {5, 0.9}}, {12, {1.2345678901234567, 0.1}}};
  absl::StatusOr<std::map<uint64_t, DeviceProfile>> back =
      ParseDeviceProfiles(FormatDeviceProfiles(p), "devices.txt");
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, p);
}

TEST(DeviceProfileTest, BadLinesAreNamedWithTheirLine) {
  EXPECT_THAT(ParseDeviceProfiles("# c\n1 2 0.5\n2 0.5 1\n", "d.txt"),
              StatusIs(absl::StatusCode::kInvalidArgument, "d.txt:3: slowdown 0.5"));
  EXPECT_THAT(ParseDeviceProfiles("1 2 0\n", "d.txt"),
              StatusIs(absl::StatusCode::kInvalidArgument, "d.txt:1: online 0"));
  EXPECT_THAT(ParseDeviceProfiles("1 2\n", "d.txt"),
              StatusIs(absl::StatusCode::kInvalidArgument, "d.txt:1: 2 fields"));
  EXPECT_THAT(ParseDeviceProfiles("1 2 1\n1 3 1\n", "d.txt"),
              StatusIs(absl::StatusCode::kInvalidArgument, "d.txt:2: client 1 listed again"));
  EXPECT_THAT(ParseDeviceProfiles("x 2 1\n", "d.txt"),
              StatusIs(absl::StatusCode::kInvalidArgument, "not numbers"));
  EXPECT_THAT(ParseDeviceProfiles("1 inf 1\n", "d.txt"),
              StatusIs(absl::StatusCode::kInvalidArgument, "finite"));
}

TEST(DeviceProfileTest, TakesTaskIsASeededCoinWithTheGivenRate) {
  const DeviceProfile p{1, 0.3};
  int taken = 0;
  const int n = 20000;
  for (int round = 1; round <= n; ++round) {
    const bool t = TakesTask(p, /*seed=*/42, /*client_id=*/7, round);
    EXPECT_EQ(t, TakesTask(p, 42, 7, round));  // the same answer again
    taken += t;
  }
  // Binomial(20000, 0.3): sd 64.8; 5 sd.
  EXPECT_NEAR(taken, 0.3 * n, 5 * std::sqrt(n * 0.3 * 0.7));
  // Other clients and seeds draw other coins.
  int same_client_other_seed = 0, other_client = 0;
  for (int round = 1; round <= 1000; ++round) {
    same_client_other_seed += TakesTask(p, 43, 7, round) == TakesTask(p, 42, 7, round);
    other_client += TakesTask(p, 42, 8, round) == TakesTask(p, 42, 7, round);
  }
  // Independent coins agree with probability 0.3^2 + 0.7^2 = 0.58.
  EXPECT_NEAR(same_client_other_seed, 580, 80);
  EXPECT_NEAR(other_client, 580, 80);
  EXPECT_TRUE(TakesTask(DeviceProfile{1, 1}, 1, 2, 3));
}

TEST(DeviceProfileTest, HoldIsTheSlowerDevicesExtraTime) {
  EXPECT_EQ(HoldFor({5, 1}, absl::Milliseconds(200)), absl::Milliseconds(800));
  EXPECT_EQ(HoldFor({1, 1}, absl::Seconds(3)), absl::ZeroDuration());
  EXPECT_EQ(HoldFor({2.5, 1}, absl::Seconds(2)), absl::Seconds(3));
}

}  // namespace
}  // namespace fedge::client
