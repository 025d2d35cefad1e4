#include "simulations/device_profiles.h"

#include <cmath>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::sim {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

TEST(DeviceProfilesTest, SlowPicksTheRoundedFractionBySeed) {
  auto p = DeviceProfilesFromSpec("slow=0.3:5", 100, 0);
  ASSERT_THAT(p, IsOk());
  ASSERT_EQ(p->size(), 100u);
  int slow = 0;
  for (const auto& [id, d] : *p) {
    EXPECT_TRUE(d.slowdown == 1 || d.slowdown == 5);
    EXPECT_EQ(d.online, 1);
    slow += d.slowdown == 5;
  }
  EXPECT_EQ(slow, 30);
  auto again = DeviceProfilesFromSpec("slow=0.3:5", 100, 0);
  auto other = DeviceProfilesFromSpec("slow=0.3:5", 100, 1);
  EXPECT_EQ(*p, *again);
  EXPECT_NE(*p, *other);
  auto few = DeviceProfilesFromSpec("slow=0.25:2", 10, 0);  // 2.5 rounds to 3 (half away from 0)
  int n = 0;
  for (const auto& [id, d] : *few) n += d.slowdown == 2;
  EXPECT_EQ(n, 3);
}

TEST(DeviceProfilesTest, BaseMultipliesEveryDeviceAndKeepsTheSlowOnes) {
  auto plain = DeviceProfilesFromSpec("slow=0.3:5", 100, 0);
  auto based = DeviceProfilesFromSpec("base=4,slow=0.3:5", 100, 0);
  ASSERT_THAT(based, IsOk());
  for (const auto& [id, d] : *based) {
    // The same seed-chosen 30 % are 5x slower than the rest, all 4x slower
    // than this machine.
    EXPECT_EQ(d.slowdown, 4 * plain->at(id).slowdown) << id;
  }
  EXPECT_EQ(DeviceProfilesFromSpec("base=2.5", 3, 0)->at(1).slowdown, 2.5);
}

TEST(DeviceProfilesTest, LognormalSpreadsFromTheFastest) {
  auto p = DeviceProfilesFromSpec("lognormal=0.5,online=0.9", 4000, 3);
  ASSERT_THAT(p, IsOk());
  double min = 1e9, sum = 0, sum2 = 0;
  for (const auto& [id, d] : *p) {
    min = std::min(min, d.slowdown);
    EXPECT_EQ(d.online, 0.9);
    const double l = std::log(d.slowdown);
    sum += l;
    sum2 += l * l;
  }
  EXPECT_EQ(min, 1);  // the fastest runs at full speed
  const double mean = sum / 4000, sd = std::sqrt(sum2 / 4000 - mean * mean);
  EXPECT_NEAR(sd, 0.5, 0.03);  // log-slowdowns keep sigma
}

TEST(DeviceProfilesTest, FileListsSomeClients) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/d.txt";
  std::ofstream(path) << "2 3 0.5\n";
  auto p = DeviceProfilesFromSpec("file=" + path, 4, 0);
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->at(2), (client::DeviceProfile{3, 0.5}));
  EXPECT_EQ(p->at(0), client::DeviceProfile());
  EXPECT_THAT(DeviceProfilesFromSpec("file=" + path, 2, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, "lists client 2 of 2"));
}

TEST(DeviceProfilesTest, BadSpecsNameTheFlagAndTerm) {
  for (const char* spec : {"slow=1.5:2", "slow=0.3:0.5", "slow=0.3", "lognormal=-1",
                           "online=0", "online=2", "fast=2", "slow=0.1:2,lognormal=1",
                           "file=/x,online=0.5", "file=/does/not/exist", "base=0.5", "base=x",
                           "file=/x,base=2"}) {
    auto p = DeviceProfilesFromSpec(spec, 10, 0);
    EXPECT_THAT(p, StatusIs(absl::StatusCode::kInvalidArgument,
                            std::string("--device_profile=") + spec))
        << spec;
  }
}

TEST(DeviceProfilesTest, DescribesWhatWasAssigned) {
  auto p = DeviceProfilesFromSpec("slow=0.3:5,online=0.5", 10, 0);
  EXPECT_EQ(DescribeDeviceProfiles(*p),
            "3 of 10 clients slower than this machine (up to 5.00x, mean 2.20x); 10 take a "
            "task with probability < 1 (mean 0.500)");
}

}  // namespace
}  // namespace fedge::sim
