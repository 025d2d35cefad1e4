#include "base/process_stats.h"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "gtest/gtest.h"

namespace fedge {
namespace {

TEST(ProcessStatsTest, CountsDescriptorsAndResidentMemory) {
  const ProcessStats before = ReadProcessStats();
  ASSERT_GT(before.rss_kb, 0);
  ASSERT_GT(before.open_fds, 2);  // at least stdin, stdout, stderr

  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ReadProcessStats().open_fds, before.open_fds + 1);
  ::close(fd);
  EXPECT_EQ(ReadProcessStats().open_fds, before.open_fds);

  // 64 MiB touched page by page is resident.
  std::vector<char> big(64 << 20);
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = 1;
  EXPECT_GE(ReadProcessStats().rss_kb, before.rss_kb + 60 * 1024);
  EXPECT_EQ(big[4096], 1);
}

}  // namespace
}  // namespace fedge
