#include "secure/secret_bytes.h"

#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace fedge::secure {
namespace {

const std::vector<uint8_t> kKey = {1, 2, 3, 4, 5};

TEST(SecretBytesTest, StartsZeroedAndCopiesOnRequest) {
  SecretBytes zeros(4);
  EXPECT_TRUE(zeros.Equals(std::vector<uint8_t>(4, 0)));
  SecretBytes key = SecretBytes::CopyOf(kKey);
  EXPECT_EQ(key.size(), kKey.size());
  EXPECT_TRUE(key.Equals(kKey));
  SecretBytes copy = key.Copy();
  EXPECT_TRUE(copy.Equals(kKey));
  EXPECT_NE(copy.data(), key.data());
}

TEST(SecretBytesTest, MovingLeavesTheSourceEmpty) {
  SecretBytes key = SecretBytes::CopyOf(kKey);
  const uint8_t* storage = key.data();
  SecretBytes moved(std::move(key));
  EXPECT_EQ(moved.data(), storage);  // the bytes moved, no copy was left behind
  EXPECT_TRUE(key.empty());          // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(key.data(), nullptr);    // NOLINT(bugprone-use-after-move)

  SecretBytes target = SecretBytes::CopyOf({9, 9});
  target = std::move(moved);
  EXPECT_TRUE(target.Equals(kKey));
  EXPECT_TRUE(moved.empty());  // NOLINT(bugprone-use-after-move)
}

TEST(SecretBytesTest, EqualsComparesLengthAndContents) {
  SecretBytes key = SecretBytes::CopyOf(kKey);
  EXPECT_FALSE(key.Equals(std::vector<uint8_t>{1, 2, 3, 4}));
  EXPECT_FALSE(key.Equals(std::vector<uint8_t>{1, 2, 3, 4, 6}));
  EXPECT_TRUE(SecretBytes().Equals({}));
}

}  // namespace
}  // namespace fedge::secure
