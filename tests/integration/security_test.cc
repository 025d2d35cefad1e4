// Real fedge-keygen, fedge-coordinator and fedge-client processes over real
// CURVE sockets: an enrolled device trains, an unknown key cannot register
// (the coordinator counts the refusal, the client gives up naming the cause),
// a device claiming a client id it is not enrolled for is told so, a plain
// TCP client cannot talk to a CURVE coordinator, and missing keys are usage
// errors.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <regex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "simulations/results.h"
#include "tests/integration/process_test_util.h"
#include "tests/testing/idx_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge {
namespace {

using ::fedge::testing::CapturedOutput;
using ::fedge::testing::IsOk;
using ::testing::HasSubstr;

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fedge::testing::WriteSyntheticIdx(dir_.path(), "train", 400);
    fedge::testing::WriteSyntheticIdx(dir_.path(), "t10k", 100);
    keys_ = dir_.File("keys");
    allow_ = keys_ + "/allowlist.txt";
    ASSERT_EQ(Keygen({"coordinator", "--out", keys_}), 0);
    ASSERT_EQ(Keygen({"device", "--out", keys_, "--name", "phone"}), 0);
    ASSERT_EQ(Keygen({"device", "--out", keys_, "--name", "stranger"}), 0);
    ASSERT_EQ(Keygen({"enrol", "--allowlist", allow_, "--pub", keys_ + "/phone.pub",
                      "--client_ids", "0"}),
              0);
  }

  // Runs fedge-keygen; its exit code.
  int Keygen(std::vector<std::string> args) {
    args.insert(args.begin(), fedge::testing::Bin("fedge-keygen"));
    absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(args);
    EXPECT_THAT(p, IsOk());
    return fedge::testing::Finish(*p, absl::Seconds(30)).exit_code;
  }

  std::vector<std::string> CoordinatorFlags() {
    return {"--min_clients=1", "--rounds=1", "--model=mlp", "--quiet",
            "--key_file=" + keys_ + "/coordinator.key", "--allowlist=" + allow_};
  }
  std::vector<std::string> ClientFlags(const std::string& endpoint, const std::string& device,
                                       const std::string& ids = "0") {
    return {"--coordinator=" + endpoint, "--data_dir=" + dir_.path(), "--client_ids=" + ids,
            "--give_up_after=3s", "--key_file=" + keys_ + "/" + device + ".key",
            "--coordinator_pub=" + keys_ + "/coordinator.pub"};
  }

  fedge::testing::TempDir dir_;
  std::string keys_, allow_;
};

TEST_F(SecurityTest, EnrolledDeviceCompletesARoundOverCurveWithSignedModels) {
  const std::string metrics = dir_.File("metrics.jsonl");
  std::vector<std::string> flags = CoordinatorFlags();
  flags.push_back("--metrics_out=" + metrics);
  std::string endpoint;
  sim::Subprocess coordinator =
      fedge::testing::StartCoordinator("tcp://127.0.0.1:*", flags, &endpoint);
  ASSERT_FALSE(endpoint.empty());
  sim::Subprocess client = fedge::testing::StartClient(ClientFlags(endpoint, "phone"));
  EXPECT_TRUE(fedge::testing::Finish(coordinator, absl::Seconds(120)).ok());
  EXPECT_TRUE(fedge::testing::Finish(client, absl::Seconds(60)).ok());
  absl::StatusOr<std::vector<sim::RoundRow>> rows = sim::ReadMetrics(metrics);
  ASSERT_THAT(rows, IsOk());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_TRUE((*rows)[0].completed);
  EXPECT_EQ((*rows)[0].clients, 1);
}

TEST_F(SecurityTest, UnenrolledKeyCannotRegisterAndTheRefusalIsCounted) {
  CapturedOutput coordinator_log(dir_.File("coordinator.log"));
  CapturedOutput client_log(dir_.File("client.log"));
  std::string endpoint;
  sim::Subprocess coordinator = fedge::testing::StartCoordinator(
      "tcp://127.0.0.1:*", CoordinatorFlags(), &endpoint, -1, coordinator_log.fd());
  sim::Subprocess stranger =
      fedge::testing::StartClient(ClientFlags(endpoint, "stranger"), client_log.fd());
  // The client gives up after --give_up_after and says why.
  sim::ExitInfo e = fedge::testing::Finish(stranger, absl::Seconds(60));
  EXPECT_EQ(e.exit_code, 1) << e.ToString();
  EXPECT_THAT(client_log.Read(), HasSubstr("giving up"));
  EXPECT_THAT(client_log.Read(), HasSubstr("not in the coordinator's allow-list"));
  coordinator.Kill(SIGTERM);
  EXPECT_TRUE(fedge::testing::Finish(coordinator, absl::Seconds(30)).ok());
  const std::string log = coordinator_log.Read();
  EXPECT_THAT(log, HasSubstr("is not in the allow-list"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex("security: 0 connections accepted, ([0-9]+) "
                                                   "refused by the allow-list")))
      << log;
  EXPECT_GE(std::stoi(m[1]), 1);
}

TEST_F(SecurityTest, SighupReloadsTheAllowListAndTheCoordinatorCarriesOn) {
  fedge::testing::Pipe log;  // the coordinator's stderr, read line by line
  std::string endpoint;
  sim::Subprocess coordinator = fedge::testing::StartCoordinator(
      "tcp://127.0.0.1:*", CoordinatorFlags(), &endpoint, -1, log.write);
  log.CloseWrite();
  coordinator.Kill(SIGHUP);  // SIGHUP's default action would end the process
  std::vector<std::string> lines;
  while (lines.empty() || lines.back().find("reloaded") == std::string::npos) {
    absl::StatusOr<std::string> line = sim::ReadLineWithTimeout(log.read, absl::Seconds(30));
    ASSERT_THAT(line, IsOk()) << ::testing::PrintToString(lines);
    lines.push_back(*line);
  }
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("SIGHUP: re-reading the allow-list")));
  EXPECT_THAT(lines.back(), HasSubstr("reloaded: 1 devices"));
  // The read end stays open (a closed one would SIGPIPE the coordinator); the
  // few lines still to come fit in the pipe.
  sim::Subprocess client = fedge::testing::StartClient(ClientFlags(endpoint, "phone"));
  EXPECT_TRUE(fedge::testing::Finish(coordinator, absl::Seconds(120)).ok());
  EXPECT_TRUE(fedge::testing::Finish(client, absl::Seconds(60)).ok());
}

TEST_F(SecurityTest, EnrolledKeyClaimingAnotherClientIdIsToldItIsNotEnrolled) {
  CapturedOutput client_log(dir_.File("client.log"));
  std::string endpoint;
  sim::Subprocess coordinator =
      fedge::testing::StartCoordinator("tcp://127.0.0.1:*", CoordinatorFlags(), &endpoint);
  // "phone" is enrolled for client 0 only.
  sim::Subprocess client =
      fedge::testing::StartClient(ClientFlags(endpoint, "phone", "7"), client_log.fd());
  sim::ExitInfo e = fedge::testing::Finish(client, absl::Seconds(60));
  EXPECT_EQ(e.exit_code, 1) << e.ToString();
  EXPECT_THAT(client_log.Read(), HasSubstr("PERMISSION_DENIED: client 7"));
  EXPECT_THAT(client_log.Read(), HasSubstr("enrolled for client ids 0"));
  coordinator.Kill(SIGTERM);
  EXPECT_TRUE(fedge::testing::Finish(coordinator, absl::Seconds(30)).ok());
}

TEST_F(SecurityTest, InsecureClientAgainstACurveCoordinatorFailsCleanly) {
  CapturedOutput client_log(dir_.File("client.log"));
  std::string endpoint;
  sim::Subprocess coordinator =
      fedge::testing::StartCoordinator("tcp://127.0.0.1:*", CoordinatorFlags(), &endpoint);
  sim::Subprocess client = fedge::testing::StartClient(
      {"--coordinator=" + endpoint, "--data_dir=" + dir_.path(), "--client_ids=0",
       "--give_up_after=3s", "--insecure"},
      client_log.fd());
  sim::ExitInfo e = fedge::testing::Finish(client, absl::Seconds(60));
  EXPECT_EQ(e.exit_code, 1) << e.ToString();
  // Whichever side notices first, the client names the likely cause.
  EXPECT_THAT(client_log.Read(), HasSubstr("--insecure on one side only?"));
  coordinator.Kill(SIGTERM);
  EXPECT_TRUE(fedge::testing::Finish(coordinator, absl::Seconds(30)).ok());
}

TEST_F(SecurityTest, MissingOrExposedKeysAreUsageErrors) {
  struct Case {
    std::vector<std::string> argv;
    std::string message;
  };
  const std::string coordinator = fedge::testing::Bin("fedge-coordinator");
  const std::string client = fedge::testing::Bin("fedge-client");
  ASSERT_EQ(::chmod((keys_ + "/stranger.key").c_str(), 0644), 0);
  const std::vector<Case> cases = {
      {{coordinator}, "--key_file and --allowlist are required"},
      {{coordinator, "--key_file=" + keys_ + "/coordinator.key"}, "are required"},
      {{coordinator, "--insecure", "--allowlist=" + allow_}, "no effect with --insecure"},
      {{coordinator, "--key_file=" + keys_ + "/phone.key", "--allowlist=" + allow_},
       "want a 'coordinator' one"},
      {{client}, "--key_file and --coordinator_pub are required"},
      {{client, "--key_file=" + keys_ + "/stranger.key",
        "--coordinator_pub=" + keys_ + "/coordinator.pub"},
       "chmod 600"},
  };
  for (const Case& c : cases) {
    CapturedOutput log(dir_.File("usage.log"));
    absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(c.argv, {}, -1, -1, log.fd());
    ASSERT_THAT(p, IsOk());
    EXPECT_EQ(fedge::testing::Finish(*p, absl::Seconds(30)).exit_code, 2) << c.argv.back();
    EXPECT_THAT(log.Read(), HasSubstr(c.message)) << c.argv.back();
  }
}

TEST_F(SecurityTest, KeygenRefusesDuplicateEnrolmentsAndOverwrites) {
  EXPECT_EQ(Keygen({"enrol", "--allowlist", allow_, "--pub", keys_ + "/phone.pub",
                    "--client_ids", "1"}),
            1);
  EXPECT_EQ(Keygen({"enrol", "--allowlist", allow_, "--pub", keys_ + "/stranger.pub",
                    "--client_ids", "0"}),
            1);
  EXPECT_EQ(Keygen({"device", "--out", keys_, "--name", "phone"}), 1);
  EXPECT_EQ(Keygen({"device", "--out", keys_, "--name", "../escape"}), 2);
  EXPECT_EQ(Keygen({"enrol", "--allowlist", allow_}), 2);
  EXPECT_EQ(Keygen({"device", "--help"}), 0);
  absl::StatusOr<std::string> list = ReadFile(allow_);
  ASSERT_THAT(list, IsOk());
  EXPECT_EQ(std::count(list->begin(), list->end(), '\n'), 1);
}

}  // namespace
}  // namespace fedge
