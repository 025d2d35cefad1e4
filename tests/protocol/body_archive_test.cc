// The body reader under a body that declares the other byte order (the first
// byte of a cereal portable-binary body): scalars are swapped, raw bytes are
// not, and nothing is read past the bytes asked for.

#include "protocol/body_archive.h"

#include <array>
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

namespace fedge::protocol::internal {
namespace {

TEST(BodyArchiveTest, RawBytesOfABigEndianBodyAreTakenAsTheyAre) {
  // [0: big-endian][u16 0x0102 big-endian][5 raw bytes]
  const std::string body("\x00\x01\x02\x0a\x0b\x0c\x0d\x0e", 8);
  BodyReader r(body);
  uint16_t scalar = 0;
  r.Scalar(scalar, "scalar");
  EXPECT_EQ(scalar, 0x0102);
  std::array<uint8_t, 5> raw{};
  r.Bytes(raw.data(), raw.size(), "raw");
  EXPECT_EQ(raw, (std::array<uint8_t, 5>{0x0a, 0x0b, 0x0c, 0x0d, 0x0e}));
}

}  // namespace
}  // namespace fedge::protocol::internal
