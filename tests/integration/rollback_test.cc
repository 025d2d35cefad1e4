// Real fedge-keygen, fedge-coordinator and fedge-client processes over CURVE
// with signed models: a client with --state_dir that verified model version 2
// still refuses version 0 after a restart, when a fresh coordinator with the
// same key (and no checkpoint) starts again from version 0; the same restart
// without --state_dir trains version 0.

#include <fcntl.h>
#include <unistd.h>

#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "client/verified_version_store.h"
#include "simulations/results.h"
#include "tests/integration/file_watch.h"
#include "tests/integration/process_test_util.h"
#include "tests/testing/idx_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge {
namespace {

using ::fedge::testing::IsOk;
using ::testing::HasSubstr;

// A file a child's stderr goes to.
class LogFile {
 public:
  explicit LogFile(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    EXPECT_GE(fd_, 0);
  }
  ~LogFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  std::string Read() const {
    absl::StatusOr<std::string> s = ReadFile(path_);
    return s.ok() ? *s : std::string();
  }

 private:
  std::string path_;
  int fd_ = -1;
};

class RollbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fedge::testing::WriteSyntheticIdx(dir_.path(), "train", 400);
    keys_ = dir_.File("keys");
    allow_ = keys_ + "/allowlist.txt";
    state_ = dir_.File("state");
    ASSERT_EQ(Keygen({"coordinator", "--out", keys_}), 0);
    ASSERT_EQ(Keygen({"device", "--out", keys_, "--name", "phone"}), 0);
    ASSERT_EQ(Keygen({"enrol", "--allowlist", allow_, "--pub", keys_ + "/phone.pub",
                      "--client_ids", "0"}),
              0);
  }

  int Keygen(std::vector<std::string> args) {
    args.insert(args.begin(), fedge::testing::Bin("fedge-keygen"));
    absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(args);
    EXPECT_THAT(p, IsOk());
    return fedge::testing::Finish(*p, absl::Seconds(30)).exit_code;
  }

  // A coordinator with no checkpoint: its first task carries model version 0.
  sim::Subprocess StartCoordinator(int rounds, std::string* endpoint, int stderr_fd = -1,
                                   const std::string& metrics = "") {
    std::vector<std::string> flags = {
        "--min_clients=1", absl::StrCat("--rounds=", rounds), "--model=mlp", "--quiet",
        "--heartbeat_interval=300ms", "--key_file=" + keys_ + "/coordinator.key",
        "--allowlist=" + allow_};
    if (!metrics.empty()) flags.push_back("--metrics_out=" + metrics);
    return fedge::testing::StartCoordinator("tcp://127.0.0.1:*", flags, endpoint, -1, stderr_fd);
  }
  sim::Subprocess StartClient(const std::string& endpoint, bool with_state_dir,
                              int stderr_fd = -1) {
    std::vector<std::string> flags = {
        "--coordinator=" + endpoint, "--data_dir=" + dir_.path(), "--client_ids=0",
        "--give_up_after=30s", "--key_file=" + keys_ + "/phone.key",
        "--coordinator_pub=" + keys_ + "/coordinator.pub"};
    if (with_state_dir) flags.push_back("--state_dir=" + state_);
    return fedge::testing::StartClient(flags, stderr_fd);
  }
  // The version recorded for client 0 in --state_dir.
  uint64_t RecordedVersion() {
    absl::StatusOr<std::string> bytes =
        ReadFile(state_ + "/" + client::VerifiedVersionStore::FileName(0));
    EXPECT_THAT(bytes, IsOk());
    if (!bytes.ok()) return ~uint64_t{0};
    absl::StatusOr<client::VerifiedVersionRecord> r = client::DecodeVerifiedVersionFile(*bytes);
    EXPECT_THAT(r, IsOk());
    return r.ok() ? r->model_version : ~uint64_t{0};
  }

  fedge::testing::TempDir dir_;
  std::string keys_, allow_, state_;
};

TEST_F(RollbackTest, RestartedClientWithStateDirRefusesAnOlderSignedVersionWithoutItAccepts) {
  // 1. Three rounds: the client verifies versions 0, 1 and 2.
  {
    std::string endpoint;
    sim::Subprocess coordinator = StartCoordinator(3, &endpoint);
    ASSERT_FALSE(endpoint.empty());
    sim::Subprocess client = StartClient(endpoint, /*with_state_dir=*/true);
    EXPECT_TRUE(fedge::testing::Finish(coordinator, absl::Seconds(120)).ok());
    EXPECT_TRUE(fedge::testing::Finish(client, absl::Seconds(60)).ok());
  }
  ASSERT_EQ(RecordedVersion(), 2u);

  // 2. A fresh coordinator with the same key, back at version 0 (a replay of
  //    an old, correctly signed model): the restarted client refuses it.
  {
    LogFile coordinator_log(dir_.File("coordinator-b.log"));
    LogFile client_log(dir_.File("client-b.log"));
    std::string endpoint;
    sim::Subprocess coordinator = StartCoordinator(1, &endpoint, coordinator_log.fd());
    ASSERT_FALSE(endpoint.empty());
    sim::Subprocess client = StartClient(endpoint, true, client_log.fd());
    const bool refused = fedge::testing::WaitUntil(
        dir_.path(),
        [&] { return fedge::testing::CountInFile(coordinator_log.path(), "(ROLLBACK)") > 0; },
        absl::Seconds(60));
    client.Kill(SIGTERM);
    coordinator.Kill(SIGTERM);
    EXPECT_TRUE(fedge::testing::Finish(client, absl::Seconds(30)).ok());
    EXPECT_TRUE(fedge::testing::Finish(coordinator, absl::Seconds(30)).ok());
    const std::string log = coordinator_log.Read();
    ASSERT_TRUE(refused) << log << client_log.Read();
    EXPECT_THAT(log, HasSubstr("model version 0 is older than version 2"));
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        log, m, std::regex("([0-9]+) tasks refused by clients \\(bad signature or rollback\\)")))
        << log;
    EXPECT_GE(std::stoi(m[1]), 1);
    EXPECT_THAT(client_log.Read(), HasSubstr("refusing model versions below 2"));
    EXPECT_THAT(log, HasSubstr("stopped after 0 completed rounds"));
  }
  EXPECT_EQ(RecordedVersion(), 2u);

  // 3. The same restart without --state_dir: version 0 is trained.
  {
    const std::string metrics = dir_.File("metrics-c.jsonl");
    std::string endpoint;
    sim::Subprocess coordinator = StartCoordinator(1, &endpoint, -1, metrics);
    ASSERT_FALSE(endpoint.empty());
    sim::Subprocess client = StartClient(endpoint, /*with_state_dir=*/false);
    EXPECT_TRUE(fedge::testing::Finish(coordinator, absl::Seconds(120)).ok());
    EXPECT_TRUE(fedge::testing::Finish(client, absl::Seconds(60)).ok());
    absl::StatusOr<std::vector<sim::RoundRow>> rows = sim::ReadMetrics(metrics);
    ASSERT_THAT(rows, IsOk());
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_TRUE((*rows)[0].completed);
    EXPECT_EQ((*rows)[0].clients, 1);
  }
}

TEST_F(RollbackTest, CorruptStateFileIsAnErrorAtStart) {
  ASSERT_THAT(MakeDirs(state_), IsOk());
  const std::string path = state_ + "/" + client::VerifiedVersionStore::FileName(0);
  std::string bytes = client::EncodeVerifiedVersionFile({0, 9});
  bytes[20] ^= 0x08;  // 9 -> 1: a silent rollback if accepted
  ASSERT_THAT(WriteFileAtomically(path, bytes), IsOk());
  LogFile client_log(dir_.File("client.log"));
  // No coordinator is needed: the client stops before connecting.
  sim::Subprocess client = StartClient("tcp://127.0.0.1:1", true, client_log.fd());
  sim::ExitInfo e = fedge::testing::Finish(client, absl::Seconds(30));
  EXPECT_EQ(e.exit_code, 1) << e.ToString();
  EXPECT_THAT(client_log.Read(), HasSubstr("--state_dir: " + path));
  EXPECT_THAT(client_log.Read(), HasSubstr("SHA-256 mismatch"));
}

TEST_F(RollbackTest, StateDirWithoutModelVerificationIsAUsageError) {
  sim::Subprocess client = fedge::testing::StartClient(
      {"--coordinator=tcp://127.0.0.1:1", "--insecure", "--state_dir=" + state_});
  EXPECT_EQ(fedge::testing::Finish(client, absl::Seconds(30)).exit_code, 2);
}

}  // namespace
}  // namespace fedge
