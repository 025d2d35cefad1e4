#include "base/id_list.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace fedge {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::ElementsAre;

TEST(IdListTest, ItemsAndInclusiveRanges) {
  absl::StatusOr<std::vector<uint64_t>> ids = ParseIdList(" 0-2, 7 ,9-9", "--client_ids");
  ASSERT_THAT(ids, IsOk());
  EXPECT_THAT(*ids, ElementsAre(0, 1, 2, 7, 9));
}

TEST(IdListTest, BadItemsAreNamed) {
  for (const char* bad : {"x", "3-1", "1-2-3", "-4", "0-100001", "5,"}) {
    absl::StatusOr<std::vector<uint64_t>> ids = ParseIdList(bad, "--client_ids");
    if (std::string(bad) == "5,") {
      EXPECT_THAT(ids, IsOk());  // a trailing comma is harmless
      continue;
    }
    EXPECT_THAT(ids, StatusIs(absl::StatusCode::kInvalidArgument, "--client_ids: bad item"))
        << bad;
  }
  EXPECT_THAT(ParseIdList(" , ", "--ids"),
              StatusIs(absl::StatusCode::kInvalidArgument, "--ids names no client"));
}

}  // namespace
}  // namespace fedge

namespace fedge {
namespace {

TEST(FormatIdListTest, CompactsRunsAndRoundTrips) {
  EXPECT_EQ(FormatIdList({5, 0, 1, 2, 8, 7}), "0-2,5,7-8");
  EXPECT_EQ(FormatIdList({3}), "3");
  EXPECT_EQ(FormatIdList({}), "");
  absl::StatusOr<std::vector<uint64_t>> back = ParseIdList(FormatIdList({9, 4, 5, 6, 1}), "x");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, (std::vector<uint64_t>{1, 4, 5, 6, 9}));
}

}  // namespace
TEST(ShortIdListTest, CutsLongListsAndSaysHowMany) {
  EXPECT_EQ(ShortIdList({0, 1, 2, 9}), "0-2,9");
  std::vector<uint64_t> even;
  for (uint64_t i = 0; i < 1000; i += 2) even.push_back(i);
  EXPECT_EQ(ShortIdList(even), "0,2,4,6,8,10,12,14,16,18,20,22,... (500 ids)");
}

}  // namespace fedge
