#include "base/config_file.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/file_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

// The settings of a pretend binary: the flags of this file.
ABSL_FLAG(uint64_t, cf_rounds, 10, "test: a number");
ABSL_FLAG(std::string, cf_name, "", "test: a string");
ABSL_FLAG(absl::Duration, cf_timeout, absl::Minutes(5), "test: a duration");
ABSL_FLAG(bool, cf_quiet, false, "test: a boolean");
ABSL_FLAG(double, cf_lr, 0.05, "test: a double");

ABSL_DECLARE_FLAG(std::string, config);

namespace fedge {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

// As the binaries do: this file's flags and config_file.cc's (--config,
// which shows in --help but a file may not set).
bool IsOwn(absl::string_view file) {
  return absl::EndsWith(file, "/config_file_test.cc") || absl::EndsWith(file, "/config_file.cc");
}

class ConfigFileTest : public ::testing::Test {
 protected:
  absl::Status Apply(absl::string_view text) {
    return ApplyConfigText(text, "test.conf", "fedge-test", IsOwn);
  }
  // The file's error message, which must be InvalidArgument.
  std::string ErrorOf(absl::string_view text) {
    absl::Status s = Apply(text);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument)) << text;
    return std::string(s.message());
  }
  std::string WriteConfig(absl::string_view text, const std::string& name = "test.conf") {
    const std::string path = dir_.File(name);
    EXPECT_THAT(WriteFileAtomically(path, text), IsOk());
    return path;
  }

  absl::FlagSaver saver_;  // every test starts from the defaults
  fedge::testing::TempDir dir_;
};

TEST_F(ConfigFileTest, EverySyntaxFormSetsItsFlag) {
  ASSERT_THAT(Apply("cf_rounds = 7\n"
                    "--cf_name=two words\n"
                    "  -cf_timeout\t=\t90s  \n"
                    "cf_quiet\n"
                    "cf_lr=0.5"),  // no newline at the end
              IsOk());
  EXPECT_EQ(absl::GetFlag(FLAGS_cf_rounds), 7u);
  EXPECT_EQ(absl::GetFlag(FLAGS_cf_name), "two words");
  EXPECT_EQ(absl::GetFlag(FLAGS_cf_timeout), absl::Seconds(90));
  EXPECT_TRUE(absl::GetFlag(FLAGS_cf_quiet));
  EXPECT_EQ(absl::GetFlag(FLAGS_cf_lr), 0.5);
}

TEST_F(ConfigFileTest, BooleansTakeTheNoFormAndExplicitValues) {
  absl::SetFlag(&FLAGS_cf_quiet, true);
  ASSERT_THAT(Apply("nocf_quiet\n"), IsOk());
  EXPECT_FALSE(absl::GetFlag(FLAGS_cf_quiet));
  ASSERT_THAT(Apply("cf_quiet = yes\n"), IsOk());
  EXPECT_TRUE(absl::GetFlag(FLAGS_cf_quiet));
  ASSERT_THAT(Apply("--cf_quiet=false\n"), IsOk());
  EXPECT_FALSE(absl::GetFlag(FLAGS_cf_quiet));
}

TEST_F(ConfigFileTest, CommentsBlankLinesAndCarriageReturnsAreIgnored) {
  ASSERT_THAT(Apply("# a comment line\r\n"
                    "\r\n"
                    "   # an indented comment = not a setting\n"
                    "\t\n"
                    "cf_name = a#b   # a '#' inside a word stays, after a space it starts a "
                    "comment\r\n"
                    "cf_rounds = 3\t# after a tab too\n"
                    "cf_lr=0.25 #\n"),
              IsOk());
  EXPECT_EQ(absl::GetFlag(FLAGS_cf_name), "a#b");
  EXPECT_EQ(absl::GetFlag(FLAGS_cf_rounds), 3u);
  EXPECT_EQ(absl::GetFlag(FLAGS_cf_lr), 0.25);
}

TEST_F(ConfigFileTest, AnEmptyValueSetsAnEmptyString) {
  absl::SetFlag(&FLAGS_cf_name, "before");
  ASSERT_THAT(Apply("cf_name =   # nothing\n"), IsOk());
  EXPECT_EQ(absl::GetFlag(FLAGS_cf_name), "");
}

TEST_F(ConfigFileTest, AnUnknownSettingIsNamedWithItsLineAndANearbyName) {
  EXPECT_EQ(ErrorOf("# settings\n\ncf_roundz = 5\n"),
            "test.conf:3: unknown setting 'cf_roundz'; did you mean 'cf_rounds'? "
            "(fedge-test --help lists the settings)");
  EXPECT_EQ(ErrorOf("cf_quiet\nwhatever = 1\n"),
            "test.conf:2: unknown setting 'whatever' (fedge-test --help lists the settings)");
}

TEST_F(ConfigFileTest, ABadValueKeepsTheParsersMessage) {
  EXPECT_EQ(ErrorOf("cf_name = x\ncf_rounds = abc\n"),
            "test.conf:2: cf_rounds = abc: Illegal value 'abc' specified for flag 'cf_rounds'");
  EXPECT_THAT(ErrorOf("cf_timeout = 5 minutes"),
              HasSubstr("test.conf:1: cf_timeout = 5 minutes: Illegal value '5 minutes' "
                        "specified for flag 'cf_timeout'"));
  EXPECT_THAT(ErrorOf("cf_quiet = maybe"), HasSubstr("test.conf:1: cf_quiet = maybe: Illegal"));
  EXPECT_THAT(ErrorOf("cf_rounds ="), HasSubstr("test.conf:1: cf_rounds = : Illegal value ''"));
}

TEST_F(ConfigFileTest, ASettingGivenTwiceIsRefused) {
  EXPECT_EQ(ErrorOf("cf_rounds = 1\ncf_name = x\n\n--cf_rounds=2\n"),
            "test.conf:4: cf_rounds is set twice (first on line 1); keep one");
  EXPECT_EQ(ErrorOf("cf_quiet\nnocf_quiet\n"),
            "test.conf:2: cf_quiet is set twice (first on line 1); keep one");
}

TEST_F(ConfigFileTest, ALineWithoutAProperNameIsRefused) {
  EXPECT_EQ(ErrorOf("= 5\n"), "test.conf:1: '= 5' has no setting name; write name = value");
  EXPECT_EQ(ErrorOf("--\n"), "test.conf:1: '--' has no setting name; write name = value");
  EXPECT_EQ(ErrorOf("cf_rounds 10\n"),
            "test.conf:1: 'cf_rounds 10' is not a setting name (letters, digits and '_'); "
            "write name = value");
  EXPECT_THAT(ErrorOf("cf rounds = 10\n"), HasSubstr("'cf rounds' is not a setting name"));
}

TEST_F(ConfigFileTest, AFlagThatIsNotTheProgramsOwnIsRefused) {
  // Abseil's own flag (absl/flags/parse.cc), not in this binary's --help.
  EXPECT_EQ(ErrorOf("flagfile = other.flags\n"),
            "test.conf:1: 'flagfile' is not a setting of fedge-test (fedge-test --help lists the "
            "settings)");
  // --config is the program's but a file cannot name another file.
  EXPECT_EQ(ErrorOf("config = other.conf\n"),
            "test.conf:1: config: a config file cannot load another one; give all settings in "
            "one file");
  // Nothing of another file is ever suggested.
  EXPECT_THAT(ErrorOf("flagfil = x\n"), Not(HasSubstr("did you mean")));
}

TEST_F(ConfigFileTest, BareNamesAndQuotesAreRefusedWithTheFix) {
  EXPECT_EQ(ErrorOf("cf_rounds\n"), "test.conf:1: cf_rounds needs a value; write cf_rounds = VALUE");
  EXPECT_EQ(ErrorOf("cf_name = \"/etc/x\"\n"),
            "test.conf:1: cf_name = \"/etc/x\": values are taken literally, without quotes; "
            "write cf_name = /etc/x");
  EXPECT_THAT(ErrorOf("cf_name = 'x'\n"), HasSubstr("without quotes"));
  EXPECT_EQ(ErrorOf("nocf_quiet = true\n"),
            "test.conf:1: nocf_quiet takes no value; write cf_quiet = true");
}

TEST_F(ConfigFileTest, EveryErrorIsReportedAndThenNoFlagChanges) {
  const std::string message = ErrorOf(
      "cf_rounds = 4\n"
      "cf_roundz = 5\n"
      "cf_name = fine\n"
      "cf_lr = fast\n"
      "cf_rounds = 6\n");
  EXPECT_EQ(message,
            "test.conf has 3 errors:\n"
            "  test.conf:2: unknown setting 'cf_roundz'; did you mean 'cf_rounds'? (fedge-test "
            "--help lists the settings)\n"
            "  test.conf:4: cf_lr = fast: Illegal value 'fast' specified for flag 'cf_lr'\n"
            "  test.conf:5: cf_rounds is set twice (first on line 1); keep one");
  // The good lines were undone.
  EXPECT_EQ(absl::GetFlag(FLAGS_cf_rounds), 10u);
  EXPECT_EQ(absl::GetFlag(FLAGS_cf_name), "");
}

TEST_F(ConfigFileTest, ManyErrorsAreCutAtTwenty) {
  std::string text;
  for (int i = 0; i < 25; ++i) absl::StrAppend(&text, "bogus", i, " = 1\n");
  const std::string message = ErrorOf(text);
  EXPECT_THAT(message, HasSubstr("test.conf has 25 errors:\n  test.conf:1: unknown setting"));
  EXPECT_THAT(message, HasSubstr("test.conf:20: unknown setting 'bogus19'"));
  EXPECT_THAT(message, Not(HasSubstr("test.conf:21:")));
  EXPECT_TRUE(absl::EndsWith(message, "\n  ... and 5 more")) << message;
}

TEST_F(ConfigFileTest, AFileThatCannotBeReadSaysWhy) {
  const std::string missing = dir_.File("missing.conf");
  EXPECT_THAT(ApplyConfigFile(missing, "fedge-test", IsOwn),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       missing + ": cannot read: open " + missing + ": No such file or directory"));
  EXPECT_THAT(ApplyConfigFile(dir_.path(), "fedge-test", IsOwn),
              StatusIs(absl::StatusCode::kInvalidArgument, "Is a directory"));
}

TEST_F(ConfigFileTest, AFileIsReadAndNamedInItsErrors) {
  const std::string path = WriteConfig("cf_rounds = 12\ncf_name = from the file\n");
  ASSERT_THAT(ApplyConfigFile(path, "fedge-test", IsOwn), IsOk());
  EXPECT_EQ(absl::GetFlag(FLAGS_cf_rounds), 12u);
  EXPECT_EQ(absl::GetFlag(FLAGS_cf_name), "from the file");
  const std::string bad = WriteConfig("\ncf_rounds = -1\n", "bad.conf");
  EXPECT_THAT(ApplyConfigFile(bad, "fedge-test", IsOwn),
              StatusIs(absl::StatusCode::kInvalidArgument, bad + ":2: cf_rounds = -1: Illegal"));
}

// argv as main() gets it.
class Argv {
 public:
  explicit Argv(std::vector<std::string> args) : args_(std::move(args)) {
    for (std::string& a : args_) ptrs_.push_back(a.data());
    ptrs_.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(args_.size()); }
  char** argv() { return ptrs_.data(); }

 private:
  std::vector<std::string> args_;
  std::vector<char*> ptrs_;
};

TEST_F(ConfigFileTest, LoadConfigFromArgsFindsEveryFormOfTheFlag) {
  const std::string path = WriteConfig("cf_rounds = 21\n");
  for (std::vector<std::string> args :
       {std::vector<std::string>{"prog", "--cf_quiet", "--config=" + path},
        std::vector<std::string>{"prog", "--config", path, "--cf_lr=1"},
        std::vector<std::string>{"prog", "-config=" + path},
        std::vector<std::string>{"prog", "positional", "-config", path}}) {
    absl::SetFlag(&FLAGS_cf_rounds, 10);
    Argv a(args);
    ASSERT_THAT(LoadConfigFromArgs(a.argc(), a.argv(), IsOwn), IsOk()) << args[1];
    EXPECT_EQ(absl::GetFlag(FLAGS_cf_rounds), 21u) << args[1];
  }
}

TEST_F(ConfigFileTest, LoadConfigFromArgsWithoutAConfigChangesNothing) {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"prog"}, std::vector<std::string>{"prog", "--cf_rounds=3"},
        std::vector<std::string>{"prog", "--config="},
        std::vector<std::string>{"prog", "--configx=a"},
        // After a bare "--" everything is positional.
        std::vector<std::string>{"prog", "--", "--config=/nonexistent.conf"}}) {
    Argv a(args);
    EXPECT_THAT(LoadConfigFromArgs(a.argc(), a.argv(), IsOwn), IsOk()) << args.back();
  }
  EXPECT_EQ(absl::GetFlag(FLAGS_cf_rounds), 10u);
}

TEST_F(ConfigFileTest, LoadConfigFromArgsRefusesAMissingOrSecondFile) {
  Argv missing({"prog", "--cf_quiet", "--config"});
  EXPECT_THAT(LoadConfigFromArgs(missing.argc(), missing.argv(), IsOwn),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--config needs a file: --config=FILE"));
  Argv twice({"prog", "--config=a.conf", "--config", "b.conf"});
  EXPECT_THAT(LoadConfigFromArgs(twice.argc(), twice.argv(), IsOwn),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--config is given twice ('a.conf' and 'b.conf'); put the settings in one "
                       "file"));
}

TEST_F(ConfigFileTest, LoadConfigFromArgsNamesTheProgramByItsBaseName) {
  const std::string path = WriteConfig("cf_roundz = 1\n");
  Argv a({"/opt/fedge/bin/fedge-thing", "--config=" + path});
  EXPECT_THAT(LoadConfigFromArgs(a.argc(), a.argv(), IsOwn),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "(fedge-thing --help lists the settings)"));
}

// The one test that runs absl::ParseCommandLine (once per process).
TEST_F(ConfigFileTest, TheCommandLineOverridesTheFile) {
  const std::string path =
      WriteConfig("cf_rounds = 5\ncf_name = from the file\ncf_quiet\ncf_timeout = 1h\n");
  Argv a({"prog", "--cf_rounds=99", "--config", path, "--nocf_quiet"});
  ASSERT_THAT(LoadConfigFromArgs(a.argc(), a.argv(), IsOwn), IsOk());
  std::vector<char*> rest = absl::ParseCommandLine(a.argc(), a.argv());
  EXPECT_EQ(rest.size(), 1u);
  EXPECT_EQ(absl::GetFlag(FLAGS_cf_rounds), 99u);                // command line
  EXPECT_FALSE(absl::GetFlag(FLAGS_cf_quiet));                   // command line
  EXPECT_EQ(absl::GetFlag(FLAGS_cf_name), "from the file");       // file
  EXPECT_EQ(absl::GetFlag(FLAGS_cf_timeout), absl::Hours(1));     // file
  EXPECT_EQ(absl::GetFlag(FLAGS_config), path);
}

}  // namespace
}  // namespace fedge
