// --config=FILE on the real binaries: the annotated docs/coordinator.conf
// starts a fedge-coordinator (its paths and endpoint replaced on the command
// line), the command line overrides the file, and a broken file stops
// fedge-coordinator or fedge-sim with exit code 2 naming FILE:LINE before
// anything starts.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "tests/integration/process_test_util.h"
#include "tests/testing/idx_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge {
namespace {

using ::fedge::testing::Bin;
using ::fedge::testing::CapturedOutput;
using ::fedge::testing::Finish;
using ::fedge::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kExample = std::string(FEDGE_SOURCE_DIR) + "/docs/coordinator.conf";

// The value of `name = value` in the example (the first such line).
std::string ExampleSetting(const std::string& name) {
  absl::StatusOr<std::string> text = ReadFile(kExample);
  EXPECT_THAT(text, IsOk());
  std::smatch m;
  const std::string s = text.ok() ? *text : "";
  if (!std::regex_search(s, m, std::regex("(^|\n)" + name + " = ([^ \n#]+)"))) {
    ADD_FAILURE() << kExample << " sets no " << name;
    return "";
  }
  return m[2];
}

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

class ConfigFileIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fedge::testing::WriteSyntheticIdx(dir_.path(), "t10k", 100);
    keys_ = dir_.File("keys");
    ASSERT_EQ(Run({Bin("fedge-keygen"), "coordinator", "--out", keys_}).exit_code, 0);
    ASSERT_EQ(Run({Bin("fedge-keygen"), "device", "--out", keys_, "--name", "phone"}).exit_code,
              0);
    ASSERT_EQ(Run({Bin("fedge-keygen"), "enrol", "--allowlist", keys_ + "/allowlist.txt", "--pub",
                   keys_ + "/phone.pub", "--client_ids", "0"})
                  .exit_code,
              0);
  }

  // Runs `argv` to its exit (within 60 s), capturing its output.
  Outcome Run(const std::vector<std::string>& argv) {
    CapturedOutput out(dir_.File("stdout.txt")), err(dir_.File("stderr.txt"));
    absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(argv, {}, -1, out.fd(), err.fd());
    EXPECT_THAT(p, IsOk());
    if (!p.ok()) return {};
    Outcome o;
    o.exit_code = Finish(*p, absl::Seconds(60)).exit_code;
    o.out = out.Read();
    o.err = err.Read();
    return o;
  }

  std::string WriteConfig(const std::string& name, absl::string_view text) {
    const std::string path = dir_.File(name);
    EXPECT_THAT(WriteFileAtomically(path, text), IsOk());
    return path;
  }

  // The example with what cannot work in a test replaced on the command line:
  // keys, data and output paths (fedge::testing::StartCoordinator adds
  // --listen=tcp://127.0.0.1:* and --ready_fd).
  std::vector<std::string> ExampleFlags() {
    return {"--config=" + kExample,
            "--key_file=" + keys_ + "/coordinator.key",
            "--allowlist=" + keys_ + "/allowlist.txt",
            "--test_data=" + dir_.path(),
            "--state_dir=" + dir_.File("state"),
            "--metrics_out=" + dir_.File("metrics.jsonl"),
            "--model_out=" + dir_.File("final.fms"),
            // Tests run in parallel: any free port, not the example's 8080.
            "--http_listen=127.0.0.1:0"};
  }

  // Starts a coordinator with `flags`, stops it with SIGTERM once it listens,
  // and returns its log.
  std::string StartAndStop(const std::vector<std::string>& flags, std::string* endpoint) {
    CapturedOutput log(dir_.File("coordinator.log"));
    sim::Subprocess coordinator =
        fedge::testing::StartCoordinator("tcp://127.0.0.1:*", flags, endpoint, -1, log.fd());
    coordinator.Kill(SIGTERM);
    sim::ExitInfo e = Finish(coordinator, absl::Seconds(30));
    const std::string text = log.Read();
    // It handles the signal (from the ready line on, a signal stops it cleanly).
    EXPECT_EQ(e.signal, 0) << e.ToString() << "\n" << text;
    EXPECT_EQ(e.exit_code, 0) << e.ToString() << "\n" << text;
    EXPECT_THAT(text, HasSubstr("signal 15: stopping")) << text;
    return text;
  }

  fedge::testing::TempDir dir_;
  std::string keys_;
};

TEST_F(ConfigFileIntegrationTest, TheExampleStartsACoordinatorWithItsSettings) {
  std::string endpoint;
  const std::string log = StartAndStop(ExampleFlags(), &endpoint);
  // The command line's endpoint replaced the example's tcp://0.0.0.0:7070.
  EXPECT_THAT(endpoint, HasSubstr("tcp://127.0.0.1:"));
  const std::string model = ExampleSetting("model");
  const std::string rounds = ExampleSetting("rounds");
  ASSERT_EQ(model, "cnn");
  EXPECT_THAT(log, HasSubstr("listening on " + endpoint +
                             " (CURVE, 1 devices in the allow-list), model " + model))
      << log;
  EXPECT_THAT(log, HasSubstr("signed), " + rounds + " rounds")) << log;
  EXPECT_THAT(log, Not(HasSubstr("WARNING"))) << log;  // not --insecure
}

TEST_F(ConfigFileIntegrationTest, TheCommandLineOverridesTheFile) {
  ASSERT_NE(ExampleSetting("rounds"), "3");
  ASSERT_NE(ExampleSetting("model"), "mlp");
  std::vector<std::string> flags = ExampleFlags();
  // Before and after --config: the position does not matter.
  flags.insert(flags.begin(), "--rounds=3");
  flags.push_back("--model=mlp");
  std::string endpoint;
  const std::string log = StartAndStop(flags, &endpoint);
  EXPECT_THAT(log, HasSubstr("model mlp (199210 parameters, signed), 3 rounds")) << log;
}

TEST_F(ConfigFileIntegrationTest, ABrokenFileIsAUsageErrorNamingEachLine) {
  const std::string path = WriteConfig("broken.conf",
                                       "# rounds and deadline\n"
                                       "rounds = 10\n"
                                       "roundz = 5\n"
                                       "round_timeout = soon\n"
                                       "--rounds=20\n"
                                       "flagfile = more.flags\n"
                                       "config = other.conf\n");
  Outcome o = Run({Bin("fedge-coordinator"), "--config=" + path, "--insecure"});
  EXPECT_EQ(o.exit_code, 2) << o.err;
  EXPECT_THAT(o.err, HasSubstr("fedge-coordinator: --config: " + path + " has 5 errors:\n"));
  EXPECT_THAT(o.err, HasSubstr(path + ":3: unknown setting 'roundz'; did you mean 'rounds'? "
                                      "(fedge-coordinator --help lists the settings)\n"));
  EXPECT_THAT(o.err, HasSubstr(path + ":4: round_timeout = soon: Illegal value 'soon' "
                                      "specified for flag 'round_timeout'"));
  EXPECT_THAT(o.err, HasSubstr(path + ":5: rounds is set twice (first on line 2); keep one"));
  EXPECT_THAT(o.err, HasSubstr(path + ":6: 'flagfile' is not a setting of fedge-coordinator"));
  EXPECT_THAT(o.err, HasSubstr(path + ":7: config: a config file cannot load another one"));
  // Nothing started: not even the --insecure warning.
  EXPECT_THAT(o.err, Not(HasSubstr("WARNING")));
  EXPECT_THAT(o.err, Not(HasSubstr("listening")));
}

TEST_F(ConfigFileIntegrationTest, AMissingFileIsAUsageErrorSayingWhy) {
  const std::string path = dir_.File("nowhere.conf");
  Outcome o = Run({Bin("fedge-coordinator"), "--config", path, "--insecure"});
  EXPECT_EQ(o.exit_code, 2) << o.err;
  EXPECT_EQ(o.err, "fedge-coordinator: --config: " + path + ": cannot read: open " + path +
                       ": No such file or directory\n");
}

TEST_F(ConfigFileIntegrationTest, HelpListsTheConfigFlag) {
  Outcome o = Run({Bin("fedge-coordinator"), "--help"});
  EXPECT_THAT(o.out, HasSubstr("-config (Read settings from this file before the command line"));
  o = Run({Bin("fedge-sim"), "--help"});
  EXPECT_THAT(o.out, HasSubstr("-config (Read settings from this file before the command line"));
}

// fedge-sim's file sets fedge-sim's flags: --launcher is checked after the
// flags are parsed, and its message shows which value won.
TEST_F(ConfigFileIntegrationTest, FedgeSimTakesItsOwnFlagsFromTheFile) {
  const std::string path = WriteConfig("sim.conf", "launcher = from_the_file\nrounds = 2\n");
  Outcome o = Run({Bin("fedge-sim"), "--config=" + path});
  EXPECT_EQ(o.exit_code, 2) << o.err;
  EXPECT_THAT(o.err, HasSubstr("--launcher=from_the_file: want local or mpi")) << o.err;
  o = Run({Bin("fedge-sim"), "--config=" + path, "--launcher=from_the_command_line"});
  EXPECT_EQ(o.exit_code, 2) << o.err;
  EXPECT_THAT(o.err, HasSubstr("--launcher=from_the_command_line: want local or mpi")) << o.err;
}

TEST_F(ConfigFileIntegrationTest, FedgeSimRefusesACoordinatorOnlySetting) {
  // --key_file is fedge-coordinator's; fedge-sim makes its own keys.
  const std::string path = WriteConfig("sim.conf", "rounds = 2\n\nkey_file = /etc/x.key\n");
  Outcome o = Run({Bin("fedge-sim"), "--config=" + path});
  EXPECT_EQ(o.exit_code, 2) << o.err;
  EXPECT_THAT(o.err, HasSubstr("fedge-sim: --config: " + path + ":3: unknown setting 'key_file'"));
  EXPECT_THAT(o.err, HasSubstr("(fedge-sim --help lists the settings)"));
}

}  // namespace
}  // namespace fedge
