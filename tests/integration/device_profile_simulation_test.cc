// fedge-sim --device_profile on real processes: the profiles fedge-sim
// writes are the ones its seed gives, every client process leaves exactly
// the tasks its seeded coin says it is offline for, and a slower client
// holds each update back for (slowdown - 1) x the training it just did.

#include <fcntl.h>

#include <regex>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "base/file_util.h"
#include "client/device_profile.h"
#include "simulations/device_profiles.h"
#include "tests/integration/sim_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::testing {
namespace {

TEST(DeviceProfileSimulationTest, ClientsSkipAndHoldExactlyAsTheirProfilesSay) {
  TempDir dir;
  const std::string out = dir.path() + "/run";
  const std::string spec = "slow=0.5:3,online=0.6";
  const uint64_t seed = 5;
  ASSERT_TRUE(MakeDirs(out).ok());
  const std::string log_path = out + "/sim.log";
  int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(
      {Bin("fedge-sim"), "--model=mlp", "--max_examples=4000", "--partition=iid",
       "--out=" + out, absl::StrCat("--data_dir=", kFashionMnist), "--clients=4",
       "--clients_per_process=2", "--rounds=3", "--insecure", "--round_timeout=4s",
       absl::StrCat("--seed=", seed), "--device_profile=" + spec, "--timeout=4m"},
      {"FEDGE_LOG_LEVEL=debug"}, -1, fd, fd);
  ::close(fd);
  ASSERT_TRUE(p.ok());
  sim::ExitInfo e = Finish(*p, absl::Minutes(4));
  const std::string log = ReadFile(log_path).value_or("");
  ASSERT_TRUE(e.ok()) << e.ToString() << log;

  // devices.txt is what the seed gives.
  absl::StatusOr<std::string> text = ReadFile(out + "/devices.txt");
  ASSERT_THAT(text, IsOk());
  absl::StatusOr<std::map<uint64_t, client::DeviceProfile>> written =
      client::ParseDeviceProfiles(*text, "devices.txt");
  ASSERT_THAT(written, IsOk());
  absl::StatusOr<std::map<uint64_t, client::DeviceProfile>> expected =
      sim::DeviceProfilesFromSpec(spec, 4, seed);
  ASSERT_THAT(expected, IsOk());
  EXPECT_EQ(*written, *expected);
  EXPECT_THAT(log, ::testing::HasSubstr("2 of 4 clients slower than this machine"));

  // The rounds that started (every client was in each cohort).
  std::set<uint64_t> rounds;
  const std::regex round_line(R"(round ([0-9]+) started with 4 clients)");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), round_line);
       it != std::sregex_iterator(); ++it) {
    rounds.insert(std::stoull((*it)[1]));
  }
  ASSERT_FALSE(rounds.empty()) << log;

  // Skipped tasks: exactly where the coin says offline.
  std::set<std::pair<uint64_t, uint64_t>> skipped, want_skipped;
  const std::regex offline(R"(client ([0-9]+): round ([0-9]+): offline for this task)");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), offline);
       it != std::sregex_iterator(); ++it) {
    skipped.insert({std::stoull((*it)[1]), std::stoull((*it)[2])});
  }
  for (uint64_t r : rounds) {
    for (uint64_t c = 0; c < 4; ++c) {
      if (!client::TakesTask(expected->at(c), seed, c, r)) want_skipped.insert({c, r});
    }
  }
  EXPECT_EQ(skipped, want_skipped) << log;
  EXPECT_FALSE(want_skipped.empty());  // the seed makes some; else the test shows nothing

  // Held updates: only by slower clients that took the task, for twice the
  // training they report (slowdown 3).
  const std::regex held(
      R"(client ([0-9]+): round ([0-9]+): trained in ([0-9.a-z]+), held ([0-9.a-z]+) more)");
  int held_count = 0;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), held);
       it != std::sregex_iterator(); ++it) {
    const uint64_t c = std::stoull((*it)[1]), r = std::stoull((*it)[2]);
    absl::Duration trained, hold;
    ASSERT_TRUE(absl::ParseDuration((*it)[3].str(), &trained));
    ASSERT_TRUE(absl::ParseDuration((*it)[4].str(), &hold));
    EXPECT_EQ(expected->at(c).slowdown, 3) << "client " << c;
    EXPECT_EQ(skipped.count({c, r}), 0u);
    EXPECT_NEAR(absl::FDivDuration(hold, trained), 2.0, 1e-6);
    ++held_count;
  }
  EXPECT_GT(held_count, 0) << log;
}

TEST(DeviceProfileSimulationTest, ImpossibleProfilesAreUsageErrors) {
  TempDir dir;
  for (const char* spec : {"slow=2:3", "online=0", "lognormal=1,slow=0.1:2"}) {
    sim::Subprocess p = StartSim(dir.path(), {"--clients=2", "--rounds=1", "--insecure",
                                              std::string("--device_profile=") + spec});
    sim::ExitInfo e = Finish(p, absl::Minutes(1));
    EXPECT_EQ(e.exit_code, 2) << spec;
    EXPECT_THAT(ReadFile(dir.path() + "/sim.log").value_or(""),
                ::testing::HasSubstr(std::string("--device_profile=") + spec));
  }
}

}  // namespace
}  // namespace fedge::testing
