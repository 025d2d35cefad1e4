// Gateways on real processes, started one by one: a gateway SIGKILLed in the
// middle of a round costs the root that round's sub-cohort only (the round
// completes from the other gateway), and once restarted on its endpoint its
// devices reconnect by themselves and are back in the next round. Gateways
// nest: one of the root's gateways serves a gateway of its own.

#include <csignal>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "tests/integration/process_test_util.h"
#include "tests/integration/sim_test_util.h"
#include "tests/testing/temp_dir.h"

namespace fedge::testing {
namespace {

size_t Lines(const std::string& path) {
  const std::string text = ReadFile(path).value_or("");
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

// Polls `path` until it has `n` lines (the root writes one per round).
bool WaitForLines(const std::string& path, size_t n, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (Lines(path) >= n) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

TEST(GatewayFaultTest, AGatewayKilledMidRoundCostsOnlyItsDevicesAndTheyComeBack) {
  TempDir dir;
  CapturedOutput log(dir.File("all.log"));
  const std::string metrics = dir.File("metrics.jsonl");
  std::string root;
  // Two gateways: a round starts with both (min_clients 2) and completes
  // with one (quorum 1); a silent gateway is dropped after 10 missed 200 ms
  // heartbeats.
  sim::Subprocess coordinator = StartCoordinator(
      "tcp://127.0.0.1:*",
      {"--insecure", "--model=mlp", "--rounds=5", "--min_clients=2", "--quorum=1",
       "--max_examples=300", "--heartbeat_interval=200ms", "--round_timeout=60s",
       "--metrics_out=" + metrics, "--quiet"},
      &root, -1, log.fd());
  const std::vector<std::string> common = {"--insecure", "--root=" + root,
                                           "--heartbeat_interval=200ms"};
  std::string a_endpoint, b_endpoint, c_endpoint;
  std::vector<std::string> a_flags = common;
  a_flags.insert(a_flags.end(), {"--gateway_id=100", "--min_devices=2"});
  sim::Subprocess a = StartGateway("tcp://127.0.0.1:*", a_flags, &a_endpoint, log.fd());
  std::vector<std::string> b_flags = common;
  b_flags.insert(b_flags.end(), {"--gateway_id=101", "--min_devices=2"});
  sim::Subprocess b = StartGateway("tcp://127.0.0.1:*", b_flags, &b_endpoint, log.fd());
  // Nested: gateway C is one of gateway A's two "devices".
  sim::Subprocess c = StartGateway(
      "tcp://127.0.0.1:*",
      {"--insecure", "--root=" + a_endpoint, "--heartbeat_interval=200ms", "--gateway_id=1",
       "--min_devices=1"},
      &c_endpoint, log.fd());
  // B's devices are 5x slower (their updates held back), so a round is
  // still running at B when the root's previous round ends.
  ASSERT_TRUE(WriteFileAtomically(dir.File("slow.txt"), "2 5 1\n3 5 1\n").ok());
  const std::vector<std::string> device = {"--insecure", "--multiplex",
                                           "--coordinator_timeout=2s"};
  auto client = [&](const std::string& endpoint, const std::string& ids,
                    std::vector<std::string> extra) {
    std::vector<std::string> flags = device;
    flags.push_back("--coordinator=" + endpoint);
    flags.push_back("--client_ids=" + ids);
    flags.insert(flags.end(), extra.begin(), extra.end());
    return StartClient(flags, log.fd());
  };
  sim::Subprocess at_a = client(a_endpoint, "0", {});
  sim::Subprocess at_b = client(b_endpoint, "2,3", {"--device_profile_file=" + dir.File("slow.txt")});
  sim::Subprocess at_c = client(c_endpoint, "4", {});

  ASSERT_TRUE(WaitForLines(metrics, 2, absl::Minutes(2))) << log.Read();
  // Round 3 is under way; B's devices are still holding their updates.
  b.Kill(SIGKILL);
  ASSERT_TRUE(b.Wait(absl::Seconds(10)).has_value());
  const size_t lines_at_kill = Lines(metrics);
  // The root finishes that round without B; the next waits for two
  // gateways. Restart B on the same endpoint after that round's line.
  ASSERT_TRUE(WaitForLines(metrics, lines_at_kill + 1, absl::Minutes(1))) << log.Read();
  std::string again;
  sim::Subprocess b2 = StartGateway(b_endpoint, b_flags, &again, log.fd());
  EXPECT_EQ(again, b_endpoint);
  const size_t lines_at_restart = Lines(metrics);

  sim::ExitInfo e = Finish(coordinator, absl::Minutes(3));
  EXPECT_TRUE(e.ok()) << e.ToString() << "\n" << log.Read();
  for (sim::Subprocess* p : {&a, &b2, &c, &at_a, &at_b, &at_c}) {
    sim::ExitInfo pe = Finish(*p, absl::Minutes(1));
    EXPECT_TRUE(pe.ok()) << pe.ToString();
  }
  const std::vector<int64_t> clients = Field(ReadFile(metrics).value_or(""), "clients");
  ASSERT_EQ(clients.size(), 5u) << log.Read();
  EXPECT_EQ(clients[0], 2);
  EXPECT_EQ(clients[1], 2);
  // The round B died in completed from A alone...
  ASSERT_EQ(lines_at_restart, lines_at_kill + 1);
  EXPECT_EQ(clients[lines_at_kill], 1) << ::testing::PrintToString(clients);
  // ...and the next round, after B's restart, had both again: its devices
  // came back by themselves.
  for (size_t r = lines_at_restart; r < clients.size(); ++r) {
    EXPECT_EQ(clients[r], 2) << r << ": " << ::testing::PrintToString(clients);
  }
  const std::string text = log.Read();
  EXPECT_THAT(text, ::testing::HasSubstr("[gateway 1] root round"));  // C relayed A's rounds
  EXPECT_THAT(text, ::testing::HasSubstr("finished: completed 5 rounds"));
}

}  // namespace
}  // namespace fedge::testing
