// The operator interface on real processes: fedge-sim's coordinator with
// --http_listen, scraped over HTTP and controlled with the real fedge-ctl;
// the token rule off loopback; the progress line.

#include <signal.h>

#include <regex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <rapidjson/document.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "client/model_file.h"
#include "tests/integration/sim_test_util.h"
#include "tests/ops/prometheus_parser.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::testing {
namespace {

using ::testing::HasSubstr;

// Polls `read` until `done` accepts what it returns, or `timeout`.
template <typename F, typename P>
bool PollUntil(F read, P done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done(read())) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

// The status page's URL fedge-sim logs once its coordinator serves HTTP.
std::string StatusPageUrl(const std::string& out) {
  std::string url;
  PollUntil([&] { return ReadFile(out + "/sim.log").value_or(""); },
            [&](const std::string& log) {
              std::smatch m;
              if (!std::regex_search(log, m, std::regex("status page: (http://[0-9.:]+)/"))) {
                return false;
              }
              url = m[1];
              return true;
            },
            absl::Seconds(60));
  return url;
}

rapidjson::Document Json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  EXPECT_FALSE(d.HasParseError()) << text;
  return d;
}

// Runs fedge-ctl with `args`; its exit code and stdout.
std::pair<int, std::string> Ctl(const std::string& dir, const std::vector<std::string>& args) {
  const std::string out = dir + "/ctl.out";
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  std::vector<std::string> argv = {Bin("fedge-ctl")};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(argv, {}, -1, fd, -1);
  ::close(fd);
  EXPECT_TRUE(p.ok()) << p.status();
  sim::ExitInfo e = Finish(*p, absl::Seconds(60));
  return {e.exit_code, ReadFile(out).value_or("")};
}

TEST(OperationsTest, MetricsMatchTheRunAndFedgeCtlControlsIt) {
  TempDir dir;
  const std::string out = dir.path() + "/run";
  ASSERT_TRUE(MakeDirs(out).ok());
  sim::Subprocess sim = StartSim(out, {"--clients=3", "--rounds=60", "--insecure",
                                       "--max_examples=12000", "--http_listen=127.0.0.1:0"});
  const std::string url = StatusPageUrl(out);
  ASSERT_FALSE(url.empty()) << ReadFile(out + "/sim.log").value_or("");
  const std::string server = "--server=" + url;
  httplib::Client http(url);
  http.set_read_timeout(std::chrono::seconds(30));
  auto status = [&] {
    auto r = http.Get("/status");
    return r && r->status == 200 ? r->body : std::string("{}");
  };
  ASSERT_TRUE(PollUntil(status, [](const std::string& s) {
    rapidjson::Document d = Json(s);
    return d.HasMember("completed_rounds") && d["completed_rounds"].GetUint64() >= 2;
  }, absl::Minutes(3)));

  auto [code, text] = Ctl(dir.path(), {server, "pause"});
  ASSERT_EQ(code, 0) << text;
  EXPECT_THAT(text, HasSubstr("pause: phase"));
  // Paused once the open round ended: then nothing moves but heartbeats.
  ASSERT_TRUE(PollUntil(status, [](const std::string& s) {
    rapidjson::Document d = Json(s);
    return d.HasMember("phase") && std::string(d["phase"].GetString()) == "paused";
  }, absl::Minutes(2)));
  // The metrics line of the last round is written after the round's report
  // reaches the bridge; wait until the file has caught up.
  rapidjson::Document st = Json(status());
  const uint64_t completed = st["completed_rounds"].GetUint64();
  std::string jsonl;
  ASSERT_TRUE(PollUntil([&] { return ReadFile(out + "/metrics.jsonl").value_or(""); },
                        [&](const std::string& j) {
                          jsonl = j;
                          return std::count(j.begin(), j.end(), '\n') ==
                                 static_cast<long>(completed);
                        },
                        absl::Seconds(30)));
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  absl::StatusOr<Scrape> m = ParsePrometheusText(metrics->body);
  ASSERT_THAT(m, IsOk()) << metrics->body;
  const auto& v = m->samples;
  // The coordinator's own records: metrics.jsonl and /status.
  const std::vector<std::string> lines = absl::StrSplit(jsonl, '\n', absl::SkipEmpty());
  EXPECT_EQ(v.at("fedge_rounds_completed_total"), completed);
  EXPECT_EQ(v.at("fedge_rounds_failed_total"), 0);
  EXPECT_EQ(v.at("fedge_model_version"), Field(jsonl, "model_version").back());
  EXPECT_EQ(v.at("fedge_paused"), 1);
  EXPECT_EQ(v.at("fedge_clients_connected"), 3);
  EXPECT_EQ(v.at("fedge_client_registrations_total"), 3);
  EXPECT_EQ(v.at("fedge_round_duration_seconds_count"), completed);
  std::smatch acc;
  ASSERT_TRUE(std::regex_search(lines.back(), acc, std::regex("\"test_accuracy\":([0-9.]+)")));
  EXPECT_NEAR(v.at("fedge_test_accuracy"), std::stod(acc[1]), 1e-6);
  int64_t up = 0, down = 0;
  for (int64_t b : Field(jsonl, "bytes_up")) up += b;
  for (int64_t b : Field(jsonl, "bytes_down")) down += b;
  // Rounds' bytes plus Hellos and heartbeats.
  EXPECT_GE(v.at("fedge_received_bytes_total"), up);
  EXPECT_GE(v.at("fedge_sent_bytes_total"), down);
  EXPECT_LT(v.at("fedge_received_bytes_total"), up + 1e6);
  EXPECT_GT(v.at("process_resident_memory_bytes"), 1e6);
  EXPECT_GT(v.at("process_open_fds"), 3);
  st = Json(status());
  ASSERT_EQ(st["history"].Size(), completed);
  EXPECT_NEAR(st["history"][completed - 1]["accuracy"].GetDouble(), std::stod(acc[1]), 1e-6);

  std::tie(code, text) = Ctl(dir.path(), {server, "status"});
  ASSERT_EQ(code, 0);
  EXPECT_THAT(text, HasSubstr("phase      paused"));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("(", completed, " completed")));
  std::tie(code, text) = Ctl(dir.path(), {server, "clients"});
  ASSERT_EQ(code, 0);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4) << text;  // header + 3

  const std::string model = dir.path() + "/exported.fms";
  std::tie(code, text) = Ctl(dir.path(), {server, "export", "--out=" + model});
  ASSERT_EQ(code, 0) << text;
  absl::StatusOr<std::string> bytes = ReadFile(model);
  ASSERT_THAT(bytes, IsOk());
  absl::StatusOr<client::ModelFile> file = client::DecodeModelFile(*bytes, size_t{64} << 20);
  ASSERT_THAT(file, IsOk());
  EXPECT_EQ(file->version, st["model_version"].GetUint64());

  std::tie(code, text) = Ctl(dir.path(), {server, "resume"});
  ASSERT_EQ(code, 0);
  ASSERT_TRUE(PollUntil(status, [&](const std::string& s) {
    rapidjson::Document d = Json(s);
    return d.HasMember("completed_rounds") && d["completed_rounds"].GetUint64() > completed;
  }, absl::Minutes(2)));
  std::tie(code, text) = Ctl(dir.path(), {server, "stop"});
  ASSERT_EQ(code, 0) << text;
  sim::ExitInfo e = Finish(sim, absl::Minutes(2));
  const std::string log = ReadFile(out + "/sim.log").value_or("");
  EXPECT_TRUE(e.ok()) << e.ToString() << log;
  EXPECT_THAT(log, HasSubstr("stopped by the operator after"));
  // After the run, fedge-ctl says clearly that nobody answers.
  std::tie(code, text) = Ctl(dir.path(), {server, "status"});
  EXPECT_EQ(code, 1);
}

TEST(OperationsTest, AnAddressOffLoopbackNeedsAToken) {
  TempDir dir;
  const std::string err = dir.path() + "/err";
  int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(
      {Bin("fedge-coordinator"), "--insecure", "--listen=tcp://127.0.0.1:*",
       "--http_listen=0.0.0.0:0"},
      {}, -1, -1, fd);
  ::close(fd);
  ASSERT_TRUE(p.ok());
  sim::ExitInfo e = Finish(*p, absl::Seconds(60));
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_THAT(ReadFile(err).value_or(""), HasSubstr("give --http_token_file"));

  // With a token: requests without it, or with another, are refused.
  const std::string token_file = dir.path() + "/token";
  const std::string token = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
  ASSERT_TRUE(WriteFileAtomically(token_file, token + "\n", 0600).ok());
  std::string endpoint;
  Pipe ready;
  absl::StatusOr<sim::Subprocess> c = sim::Subprocess::Start(
      {Bin("fedge-coordinator"), "--insecure", "--listen=tcp://127.0.0.1:*",
       "--http_listen=0.0.0.0:0", "--http_token_file=" + token_file,
       absl::StrCat("--ready_fd=", ready.write)},
      {}, ready.write, -1, -1);
  ASSERT_TRUE(c.ok());
  ready.CloseWrite();
  ASSERT_THAT(sim::ReadLineWithTimeout(ready.read, absl::Seconds(60)), IsOk());
  absl::StatusOr<std::string> url = sim::ReadLineWithTimeout(ready.read, absl::Seconds(60));
  ASSERT_THAT(url, IsOk());
  // Bound to every address: reach it on loopback.
  const std::string port = url->substr(url->rfind(':') + 1);
  httplib::Client http("127.0.0.1", std::stoi(port));
  EXPECT_EQ(http.Get("/metrics")->status, 401);
  EXPECT_EQ(http.Get("/metrics", {{"Authorization", "Bearer nope-nope-nope-nope"}})->status, 401);
  EXPECT_EQ(http.Get("/metrics", {{"Authorization", "Bearer " + token}})->status, 200);
  auto [code, text] = Ctl(dir.path(), {"--server=http://127.0.0.1:" + port, "status"});
  EXPECT_EQ(code, 1);  // refused without the token file
  std::tie(code, text) = Ctl(dir.path(), {"--server=http://127.0.0.1:" + port,
                                          "--token_file=" + token_file, "stop"});
  EXPECT_EQ(code, 0) << text;
  // No client ever came: the stop ends the run at once, exit 0.
  e = Finish(*c, absl::Seconds(60));
  EXPECT_EQ(e.exit_code, 0) << e.ToString();
}

// OpenBLAS starts threads when it is loaded, before main() masks signals; a
// signal the kernel handed to one of them used to kill the coordinator (no
// clean stop, no --model_out, SIGHUP fatal). Run without OMP_NUM_THREADS,
// as an operator would.
TEST(OperationsTest, SignalsStopCleanlyWhicheverThreadTheyReach) {
  // Without OMP_NUM_THREADS OpenBLAS's threads are there to take a signal;
  // with it set to 1 only fedge's own threads are.
  for (const std::string env : {"FEDGE_TEST=1", "FEDGE_TEST=1", "OMP_NUM_THREADS=1"}) {
    TempDir dir;
    const std::string err = dir.path() + "/err";
    int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    Pipe ready;
    absl::StatusOr<sim::Subprocess> c = sim::Subprocess::Start(
        {Bin("fedge-coordinator"), "--insecure", "--listen=tcp://127.0.0.1:*",
         absl::StrCat("--ready_fd=", ready.write)},
        {env}, ready.write, -1, fd);
    ::close(fd);
    ASSERT_TRUE(c.ok());
    ready.CloseWrite();
    ASSERT_THAT(sim::ReadLineWithTimeout(ready.read, absl::Seconds(60)), IsOk());
    c->Kill(SIGHUP);
    c->Kill(SIGTERM);
    sim::ExitInfo e = Finish(*c, absl::Seconds(60));
    EXPECT_EQ(e.signal, 0) << e.ToString();
    EXPECT_EQ(e.exit_code, 0) << e.ToString();
    EXPECT_THAT(ReadFile(err).value_or(""), HasSubstr("signal 15: stopping"));
  }
}

TEST(OperationsTest, ProgressLineOnlyWhenAsked) {
  TempDir dir;
  for (const char* progress : {"--progress=on", "--progress=auto"}) {
    const std::string out = dir.path() + "/" + (progress + 11);
    ASSERT_TRUE(MakeDirs(out).ok());
    const std::string stdout_path = out + "/stdout";
    int fd = ::open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    std::vector<std::string> argv = {Bin("fedge-sim"), "--model=mlp", "--max_examples=3000",
                                     "--partition=iid", "--out=" + out, "--clients=2",
                                     "--rounds=3", "--insecure",
                                     absl::StrCat("--data_dir=", kFashionMnist)};
    // fedge-sim passes the coordinator its own stdout: a file here, not a terminal.
    argv.push_back(progress);
    absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(argv, {}, -1, fd, -1);
    ::close(fd);
    ASSERT_TRUE(p.ok());
    EXPECT_TRUE(Finish(*p, absl::Minutes(3)).ok());
    const std::string text = ReadFile(stdout_path).value_or("");
    if (std::string(progress) == "--progress=on") {
      EXPECT_THAT(text, HasSubstr("\r\033[K"));
      EXPECT_THAT(text, ::testing::ContainsRegex("updates in|evaluating"));
      EXPECT_THAT(text, HasSubstr("\r\033[Kround   3/3"));
    } else {
      EXPECT_THAT(text, ::testing::Not(HasSubstr("\r")));
      EXPECT_THAT(text, HasSubstr("round   3/3"));
    }
  }
}

}  // namespace
}  // namespace fedge::testing
