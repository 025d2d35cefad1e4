// A network partition that heals while both sides live. The clients reach
// the coordinator through a TCP relay (tcp_relay.h) that the test switches to
// a blackhole long enough for the coordinator to drop the clients (10 missed
// heartbeats) and for the clients to notice its silence and reconnect, then
// heals. Waits are on what the processes write, with timeouts; no sleeps.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "simulations/results.h"
#include "simulations/sim_keys.h"
#include "tests/integration/file_watch.h"
#include "tests/integration/sim_test_util.h"
#include "tests/integration/tcp_relay.h"
#include "tests/testing/idx_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge {
namespace {

using ::fedge::testing::CountInFile;
using ::fedge::testing::IsOk;
using ::fedge::testing::TcpRelay;
using ::fedge::testing::WaitUntil;

// ---- The relay itself, over raw sockets -------------------------------------

int Listen(uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  EXPECT_EQ(::listen(fd, 8), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

int Connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  return fd;
}

// Up to `n` bytes that arrive on `fd` within `timeout`.
std::string Receive(int fd, size_t n, absl::Duration timeout) {
  std::string got;
  const absl::Time deadline = absl::Now() + timeout;
  while (got.size() < n && absl::Now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now())) + 1) <= 0) {
      break;
    }
    char buf[256];
    ssize_t r = ::read(fd, buf, std::min(sizeof(buf), n - got.size()));
    if (r <= 0) break;
    got.append(buf, static_cast<size_t>(r));
  }
  return got;
}

TEST(TcpRelayTest, ForwardsBothWaysAndHoldsEverythingWhileBlackholed) {
  uint16_t port = 0;
  const int upstream = Listen(&port);
  absl::StatusOr<std::unique_ptr<TcpRelay>> relay = TcpRelay::Start(port);
  ASSERT_THAT(relay, IsOk());
  const int a = Connect(testing::PortOf((*relay)->endpoint()));
  const int a_up = ::accept(upstream, nullptr, nullptr);
  ASSERT_GE(a_up, 0);
  ASSERT_EQ(::write(a, "ping", 4), 4);
  EXPECT_EQ(Receive(a_up, 4, absl::Seconds(10)), "ping");
  ASSERT_EQ(::write(a_up, "pong", 4), 4);
  EXPECT_EQ(Receive(a, 4, absl::Seconds(10)), "pong");

  (*relay)->Blackhole();
  ASSERT_EQ(::write(a, "held", 4), 4);
  const int b = Connect(testing::PortOf((*relay)->endpoint()));  // accepted, not forwarded
  ASSERT_EQ(::write(b, "new", 3), 3);
  EXPECT_EQ(Receive(a_up, 4, absl::Milliseconds(300)), "");
  EXPECT_EQ((*relay)->upstream_opened(), 1u);

  (*relay)->Heal();
  EXPECT_EQ(Receive(a_up, 4, absl::Seconds(10)), "held");
  const int b_up = ::accept(upstream, nullptr, nullptr);
  ASSERT_GE(b_up, 0);
  EXPECT_EQ(Receive(b_up, 3, absl::Seconds(10)), "new");
  EXPECT_EQ((*relay)->accepted(), 2u);
  EXPECT_EQ((*relay)->upstream_opened(), 2u);
  ::close(a);  // the close is passed on
  EXPECT_EQ(Receive(a_up, 1, absl::Seconds(10)), "");
  for (int fd : {b, a_up, b_up, upstream}) ::close(fd);
}

// ---- Real processes ----------------------------------------------------------

int OpenLog(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

// Completed rounds in the metrics file at `path`.
int CompletedRounds(const std::string& path) {
  return CountInFile(path, "\"completed\":true");
}

// The transport of a partition run: plain TCP (--insecure) or CURVE with an
// allow-list and signed models (keys made as fedge-sim makes them).
enum class Transport { kInsecure, kCurve };

// Two client processes reach the coordinator through the relay. After round
// 2 the relay blackholes until the coordinator has dropped both clients as
// silent and both have given up on their connection; then it heals. The run
// completes all its rounds: the round open at the partition fails (its
// cohort vanished), each round id appears once, and the completed rounds'
// model versions run 1..N without a gap or a repeat. Returns the
// coordinator's log.
std::string RunHealedPartition(Transport transport) {
  constexpr int kRounds = 8;
  testing::TempDir dir;
  testing::WriteSyntheticIdx(dir.path(), "train", 2000);
  testing::WriteSyntheticIdx(dir.path(), "t10k", 200);
  const std::string logs = dir.File("logs");
  EXPECT_THAT(MakeDirs(logs), IsOk());
  const std::string metrics = logs + "/metrics.jsonl";
  const std::string coordinator_log = logs + "/coordinator.log";
  std::vector<std::string> coordinator_security = {"--insecure"};
  std::vector<std::vector<std::string>> client_security = {{"--insecure"}, {"--insecure"}};
  if (transport == Transport::kCurve) {
    // One device per client process, each enrolled for its own client id.
    absl::StatusOr<sim::SimKeys> keys = sim::MakeSimKeys(dir.File("keys"), {{0}, {1}});
    EXPECT_THAT(keys, IsOk());
    if (!keys.ok()) return "";
    coordinator_security = {"--key_file=" + keys->coordinator_key,
                            "--allowlist=" + keys->allowlist};
    for (int id : {0, 1}) {
      client_security[id] = {"--key_file=" + keys->device_keys[id],
                             "--coordinator_pub=" + keys->coordinator_pub};
    }
  }
  int fd = OpenLog(coordinator_log);
  std::vector<std::string> coordinator_flags = {
      "--min_clients=2", "--quorum=2", absl::StrCat("--rounds=", kRounds), "--model=mlp",
      "--test_data=" + dir.path(), "--metrics_out=" + metrics, "--quiet",
      "--heartbeat_interval=200ms", "--round_timeout=60s"};
  coordinator_flags.insert(coordinator_flags.end(), coordinator_security.begin(),
                           coordinator_security.end());
  std::string endpoint;
  sim::Subprocess coordinator =
      testing::StartCoordinator("tcp://127.0.0.1:*", coordinator_flags, &endpoint, -1, fd);
  ::close(fd);
  EXPECT_FALSE(endpoint.empty());
  if (endpoint.empty()) return "";
  absl::StatusOr<std::unique_ptr<TcpRelay>> relay = TcpRelay::Start(testing::PortOf(endpoint));
  EXPECT_THAT(relay, IsOk());
  if (!relay.ok()) return "";

  std::vector<sim::Subprocess> clients;
  for (int id : {0, 1}) {
    fd = OpenLog(absl::StrCat(logs, "/client-", id, ".log"));
    std::vector<std::string> flags = {
        "--coordinator=" + (*relay)->endpoint(), "--data_dir=" + dir.path(),
        absl::StrCat("--client_ids=", id), "--coordinator_timeout=1s", "--give_up_after=60s"};
    flags.insert(flags.end(), client_security[id].begin(), client_security[id].end());
    clients.push_back(testing::StartClient(flags, fd));
    ::close(fd);
  }
  auto client_log = [&](int id) { return absl::StrCat(logs, "/client-", id, ".log"); };

  EXPECT_TRUE(WaitUntil(logs, [&] { return CompletedRounds(metrics) >= 2; }, absl::Minutes(2)));
  (*relay)->Blackhole();
  const absl::Time partitioned = absl::Now();
  EXPECT_TRUE(WaitUntil(
      logs,
      [&] {
        return CountInFile(coordinator_log, "went silent; dropped") >= 2 &&
               CountInFile(client_log(0), "coordinator silent; reconnecting") >= 1 &&
               CountInFile(client_log(1), "coordinator silent; reconnecting") >= 1;
      },
      absl::Seconds(60)));
  const int completed_at_heal = CompletedRounds(metrics);
  const uint64_t accepted_at_heal = (*relay)->accepted();
  (*relay)->Heal();
  const absl::Time healed = absl::Now();
  EXPECT_TRUE(WaitUntil(
      logs, [&] { return CompletedRounds(metrics) > completed_at_heal; }, absl::Minutes(2)));
  const double heal_to_round = absl::ToDoubleSeconds(absl::Now() - healed);

  EXPECT_TRUE(testing::Finish(coordinator, absl::Minutes(2)).ok());
  for (sim::Subprocess& c : clients) EXPECT_TRUE(testing::Finish(c, absl::Minutes(1)).ok());

  EXPECT_LT(completed_at_heal, kRounds);  // rounds were left to run after the heal
  absl::StatusOr<std::string> text = ReadFile(metrics);
  EXPECT_THAT(text, IsOk());
  if (!text.ok()) return "";
  absl::StatusOr<std::vector<sim::RoundRow>> rows = sim::ParseMetrics(*text);
  EXPECT_THAT(rows, IsOk());
  if (!rows.ok()) return "";
  const std::vector<int64_t> model_versions = testing::Field(*text, "model_version");
  EXPECT_EQ(model_versions.size(), rows->size()) << *text;
  std::vector<int64_t> versions;  // of the completed rounds
  int failed = 0;
  for (size_t i = 0; i < rows->size() && i < model_versions.size(); ++i) {
    EXPECT_EQ((*rows)[i].round, static_cast<int64_t>(i) + 1) << *text;  // each id once, in order
    if ((*rows)[i].completed) {
      versions.push_back(model_versions[i]);
      EXPECT_EQ((*rows)[i].clients, 2) << *text;
    } else {
      ++failed;
    }
  }
  EXPECT_EQ(versions.size(), static_cast<size_t>(kRounds)) << *text;
  for (size_t i = 0; i < versions.size(); ++i) EXPECT_EQ(versions[i], static_cast<int64_t>(i) + 1);
  EXPECT_LE(failed, 1);  // at most the round open when the partition began
  // Reconnect evidence: new connections through the relay during the
  // partition, and each client counted its own reconnects.
  EXPECT_GT(accepted_at_heal, 2u);
  for (int id : {0, 1}) {
    absl::StatusOr<std::string> log = ReadFile(client_log(id));
    EXPECT_THAT(log, IsOk());
    if (!log.ok()) continue;
    std::smatch m;
    EXPECT_TRUE(std::regex_search(*log, m, std::regex(R"(reconnects (\d+))"))) << *log;
    if (!m.empty()) {
      EXPECT_GE(std::stoi(m[1]), 1) << *log;
    }
  }
  std::printf("%s: partition %.2f s; heal to the next completed round %.2f s; %d failed round(s)\n",
              transport == Transport::kCurve ? "CURVE" : "plain TCP",
              absl::ToDoubleSeconds(healed - partitioned), heal_to_round, failed);
  ::testing::Test::RecordProperty("heal_to_round_ms", static_cast<int>(heal_to_round * 1000));
  absl::StatusOr<std::string> log = ReadFile(coordinator_log);
  return log.ok() ? *log : "";
}

TEST(NetworkPartitionTest, PartitionThatHealsEveryRoundCompletesOnceAndClientsReconnect) {
  RunHealedPartition(Transport::kInsecure);
}

// The same over CURVE with an allow-list and signed models: each reconnect is
// a fresh CURVE handshake through the relay, authenticated by the allow-list
// again; the clients accept the continuing signed versions (no refusal as a
// rollback or a bad signature) and no handshake fails.
TEST(NetworkPartitionTest, PartitionThatHealsOverCurveEveryRoundCompletesOnceAndClientsReconnect) {
  const std::string log = RunHealedPartition(Transport::kCurve);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      log, m,
      std::regex(R"(security: (\d+) connections accepted, (\d+) refused by the allow-list, )"
                 R"((\d+) handshakes failed; (\d+) Hellos/updates refused as NOT_ENROLLED; )"
                 R"((\d+) tasks refused by clients)")))
      << log;
  std::printf("CURVE handshakes accepted: %s\n", m[1].str().c_str());
  EXPECT_GE(std::stoi(m[1]), 4) << log;  // both clients, before and after the partition
  EXPECT_EQ(std::stoi(m[2]), 0) << log;
  EXPECT_EQ(std::stoi(m[3]), 0) << log;
  EXPECT_EQ(std::stoi(m[4]), 0) << log;
  EXPECT_EQ(std::stoi(m[5]), 0) << log;
}

}  // namespace
}  // namespace fedge
