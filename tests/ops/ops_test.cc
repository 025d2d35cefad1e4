// The operator interface's parts on their own: renderings (checked by
// independent parsers), the control channel, and the HTTP server on real
// loopback sockets.

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <rapidjson/document.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ops/control_channel.h"
#include "ops/http_server.h"
#include "ops/render.h"
#include "ops/status_board.h"
#include "tests/ops/prometheus_parser.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::ops {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::HasSubstr;

RunStatus SampleStatus() {
  RunStatus s;
  s.version = "0.1.0";
  s.now_unix = 1700000000.25;
  s.started_unix = 1699999000;
  s.config = std::make_shared<const std::vector<ConfigEntry>>(std::vector<ConfigEntry>{
      {"model", "cnn", false}, {"note", "quote\" back\\slash\nnew \x01 line \xc3\xa9 \xff", false}});
  s.phase = "training";
  s.round = 3;
  s.rounds = 10;
  s.completed_rounds = 2;
  s.failed_rounds = 1;
  s.model_version = 2;
  s.progress = RoundProgress{4, 10, 9.5, 290.5};
  s.clients_connected = 10;
  s.clients_enrolled = 12;
  s.registrations = 11;
  s.clients_dropped = 1;
  s.clients_left = 2;
  s.refused_total = 3;
  s.refused_by_reason = {{"NOT_ENROLLED", 1}, {"WRONG_ROUND", 2}};
  s.handshakes_accepted = 10;
  s.handshakes_refused = 1;
  s.handshakes_failed = 2;
  s.bytes_in = 123456789;
  s.bytes_out = 987654321;
  s.frames_in = 100;
  s.frames_out = 200;
  s.test_accuracy = 0.8125;
  s.test_loss = 0.5;
  for (double sec : {0.05, 0.3, 0.3, 7.0, 1000.0}) s.round_seconds.Add(sec);
  auto history = std::make_shared<std::vector<RoundPoint>>();
  RoundPoint a;
  a.round = 1;
  a.completed = true;
  a.accuracy = 0.5;
  a.loss = 1.5;
  a.train_loss = 1.75;
  a.seconds = 1.25;
  history->push_back(a);
  RoundPoint b;
  b.round = 2;
  b.failure = "deadline without a quorum";
  history->push_back(b);
  s.history = history;
  return s;
}

TEST(RenderTest, StatusJsonParsesAndCarriesEveryFigure) {
  const std::string json = StatusJson(SampleStatus());
  rapidjson::Document d;
  ASSERT_FALSE(d.Parse(json.c_str()).HasParseError()) << json;
  EXPECT_EQ(d["phase"].GetString(), std::string("training"));
  EXPECT_EQ(d["round"].GetUint64(), 3u);
  EXPECT_EQ(d["rounds"].GetUint64(), 10u);
  EXPECT_EQ(d["progress"]["inputs"].GetUint64(), 4u);
  EXPECT_EQ(d["progress"]["deadline_in_s"].GetDouble(), 290.5);
  EXPECT_EQ(d["clients"]["enrolled"].GetUint64(), 12u);
  EXPECT_EQ(d["clients"]["refused"]["WRONG_ROUND"].GetUint64(), 2u);
  EXPECT_EQ(d["bytes"]["out"].GetUint64(), 987654321u);
  EXPECT_EQ(d["test"]["accuracy"].GetDouble(), 0.8125);
  EXPECT_EQ(d["now"].GetDouble(), 1700000000.25);
  ASSERT_EQ(d["history"].Size(), 2u);
  EXPECT_EQ(d["history"][0]["train_loss"].GetDouble(), 1.75);
  EXPECT_TRUE(d["history"][1]["accuracy"].IsNull());
  EXPECT_EQ(d["history"][1]["failure"].GetString(), std::string("deadline without a quorum"));
  // Quotes, backslashes, control characters and UTF-8 survive; a byte that
  // is not UTF-8 becomes U+FFFD.
  EXPECT_EQ(d["config"][1]["value"].GetString(),
            std::string("quote\" back\\slash\nnew \x01 line \xc3\xa9 \xef\xbf\xbd"));
}

TEST(RenderTest, StatusJsonWithoutOptionalPartsHasNulls) {
  RunStatus s;
  s.phase = "waiting";
  rapidjson::Document d;
  ASSERT_FALSE(d.Parse(StatusJson(s).c_str()).HasParseError());
  EXPECT_TRUE(d["progress"].IsNull());
  EXPECT_TRUE(d["test"].IsNull());
  EXPECT_TRUE(d["clients"]["enrolled"].IsNull());
  EXPECT_EQ(d["history"].Size(), 0u);
  EXPECT_EQ(d["config"].Size(), 0u);
}

TEST(RenderTest, JsonStringEscapesEverythingJsonForbids) {
  EXPECT_EQ(JsonString("a\"b\\c\n\t\x1f\x7f"), "\"a\\\"b\\\\c\\n\\t\\u001f\\u007f\"");
  // Overlong, surrogate and truncated sequences are not UTF-8.
  EXPECT_EQ(JsonString("\xc0\x80|\xed\xa0\x80|\xe2\x82"),
            "\"\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\"");
  EXPECT_EQ(JsonString("\xe2\x82\xac \xf0\x9f\x98\x80"), "\"\xe2\x82\xac \xf0\x9f\x98\x80\"");
}

TEST(RenderTest, PrometheusTextIsValidAndMatchesTheStatus) {
  ProcessStats process;
  process.rss_kb = 1000;
  process.open_fds = 42;
  absl::StatusOr<testing::Scrape> m = testing::ParsePrometheusText(PrometheusText(SampleStatus(), process));
  ASSERT_THAT(m, IsOk());
  const auto& v = m->samples;
  EXPECT_EQ(v.at("fedge_rounds_completed_total"), 2);
  EXPECT_EQ(v.at("fedge_rounds_failed_total"), 1);
  EXPECT_EQ(v.at("fedge_round_inputs"), 4);
  EXPECT_EQ(v.at("fedge_round_expected_inputs"), 10);
  EXPECT_EQ(v.at("fedge_clients_connected"), 10);
  EXPECT_EQ(v.at("fedge_clients_enrolled"), 12);
  EXPECT_EQ(v.at("fedge_messages_refused_total{reason=\"WRONG_ROUND\"}"), 2);
  EXPECT_EQ(v.at("fedge_handshakes_total{result=\"refused\"}"), 1);
  EXPECT_EQ(v.at("fedge_received_bytes_total"), 123456789);
  EXPECT_EQ(v.at("fedge_test_accuracy"), 0.8125);
  EXPECT_EQ(v.at("process_resident_memory_bytes"), 1024000);
  EXPECT_EQ(v.at("process_open_fds"), 42);
  // Durations 0.05, 0.3, 0.3, 7, 1000: cumulative buckets.
  EXPECT_EQ(v.at("fedge_round_duration_seconds_bucket{le=\"0.1\"}"), 1);
  EXPECT_EQ(v.at("fedge_round_duration_seconds_bucket{le=\"0.5\"}"), 3);
  EXPECT_EQ(v.at("fedge_round_duration_seconds_bucket{le=\"10\"}"), 4);
  EXPECT_EQ(v.at("fedge_round_duration_seconds_bucket{le=\"600\"}"), 4);
  EXPECT_EQ(v.at("fedge_round_duration_seconds_bucket{le=\"+Inf\"}"), 5);
  EXPECT_DOUBLE_EQ(v.at("fedge_round_duration_seconds_sum"), 1007.65);
  EXPECT_EQ(m->types.at("fedge_round_duration_seconds"), "histogram");
  EXPECT_EQ(m->types.at("fedge_rounds_completed_total"), "counter");
}

TEST(RenderTest, ParserRejectsWhatPrometheusWould) {
  // The parser is strict enough to catch the renderer's likely mistakes.
  EXPECT_FALSE(testing::ParsePrometheusText("x 1\n").ok());  // no TYPE
  EXPECT_FALSE(testing::ParsePrometheusText("# TYPE x gauge\nx 1").ok());  // no newline
  EXPECT_FALSE(testing::ParsePrometheusText("# TYPE x gauge\nx{a=\"1} 1\n").ok());
  EXPECT_FALSE(testing::ParsePrometheusText("# TYPE x counter\nx -1\n").ok());
  EXPECT_FALSE(testing::ParsePrometheusText("# TYPE x gauge\nx 1e\n").ok());
  EXPECT_FALSE(testing::ParsePrometheusText(
                   "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n")
                   .ok());
  EXPECT_TRUE(testing::ParsePrometheusText("# TYPE x gauge\nx{a=\"q\\\"\"} +Inf\n").ok());
}

TEST(ControlChannelTest, CallIsAnsweredByTheLoop) {
  auto channel = ControlChannel::Create();
  ASSERT_THAT(channel, IsOk());
  std::thread caller([&] {
    absl::StatusOr<CommandReply> r = (*channel)->Call(Command::kPause, absl::Seconds(30));
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(r->body, "pause done");
  });
  // The loop's side: wait for the wake-up descriptor, then serve.
  struct pollfd p{(*channel)->wake_fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 30000), 1);
  (*channel)->Serve([](Command c) {
    CommandReply r;
    r.body = absl::StrCat(CommandName(c), " done");
    return r;
  });
  caller.join();
}

TEST(ControlChannelTest, FullQueueTimeoutAndCloseAreErrorsNotHangs) {
  auto channel = ControlChannel::Create(/*max_pending=*/1);
  ASSERT_THAT(channel, IsOk());
  // Nobody serves: the call times out (and stays queued).
  EXPECT_THAT((*channel)->Call(Command::kStop, absl::Milliseconds(20)),
              StatusIs(absl::StatusCode::kDeadlineExceeded, "did not answer 'stop'"));
  EXPECT_THAT((*channel)->Call(Command::kStop, absl::Milliseconds(20)),
              StatusIs(absl::StatusCode::kUnavailable, "already waiting"));
  (*channel)->Close();
  EXPECT_THAT((*channel)->Call(Command::kStop, absl::Seconds(30)),
              StatusIs(absl::StatusCode::kUnavailable, "stopped serving"));
}

TEST(ControlChannelTest, CloseReleasesAWaitingCaller) {
  auto channel = ControlChannel::Create();
  ASSERT_THAT(channel, IsOk());
  std::thread caller([&] {
    EXPECT_THAT((*channel)->Call(Command::kListClients, absl::Seconds(60)),
                StatusIs(absl::StatusCode::kUnavailable, "shutting down"));
  });
  struct pollfd p{(*channel)->wake_fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 30000), 1);  // the call is queued
  (*channel)->Close();
  caller.join();
}

TEST(HttpListenTest, ParsesAndRefusesWithTheFlagName) {
  absl::StatusOr<HttpEndpoint> e = ParseHttpListen("127.0.0.1:8080", "--http_listen");
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 8080);
  e = ParseHttpListen("[::1]:0", "--http_listen");
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ(e->host, "::1");
  e = ParseHttpListen("8080", "--http_listen");  // a port alone: loopback
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 8080);
  EXPECT_THAT(ParseHttpListen("80800", "--http_listen"),
              StatusIs(absl::StatusCode::kInvalidArgument, "--http_listen=80800"));
  EXPECT_THAT(ParseHttpListen(":8080", "--http_listen"),
              StatusIs(absl::StatusCode::kInvalidArgument, "no host"));
  EXPECT_THAT(ParseHttpListen("example.com:80", "--http_listen"),
              StatusIs(absl::StatusCode::kInvalidArgument, "not an IP address"));
  EXPECT_THAT(ParseHttpListen("127.0.0.1:70000", "--http_listen"),
              StatusIs(absl::StatusCode::kInvalidArgument, "port"));
  EXPECT_TRUE(IsLoopbackHost("127.3.2.1"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
  EXPECT_THAT(CheckHttpExposure({"0.0.0.0", 80}, false),
              StatusIs(absl::StatusCode::kInvalidArgument, "--http_token_file"));
  EXPECT_THAT(CheckHttpExposure({"0.0.0.0", 80}, true), IsOk());
  EXPECT_THAT(CheckHttpExposure({"127.0.0.1", 80}, false), IsOk());
}

TEST(HttpListenTest, TokenFileMustBePrivateAndLongEnough) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/token";
  auto write = [&](const std::string& text, mode_t mode) {
    std::ofstream(path, std::ios::trunc) << text;
    ::chmod(path.c_str(), mode);
  };
  write("0123456789abcdef0123\n", 0644);
  EXPECT_THAT(ReadTokenFile(path), StatusIs(absl::StatusCode::kPermissionDenied, "--http_token_file"));
  write("short\n", 0600);
  EXPECT_THAT(ReadTokenFile(path), StatusIs(absl::StatusCode::kInvalidArgument, "at least 16"));
  write("0123456789abcdef0123\n", 0600);
  absl::StatusOr<std::string> token = ReadTokenFile(path);
  ASSERT_THAT(token, IsOk());
  EXPECT_EQ(*token, "0123456789abcdef0123");
}

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(std::string token = "") {
    auto channel = ControlChannel::Create();
    ASSERT_THAT(channel, IsOk());
    control_ = *std::move(channel);
    HttpOptions o;
    o.endpoint = {"127.0.0.1", 0};
    o.token = std::move(token);
    o.page = "<html>page</html>";
    o.command_timeout = absl::Seconds(30);
    auto s = HttpServer::Start(std::move(o), &board_, control_.get());
    ASSERT_THAT(s, IsOk());
    server_ = *std::move(s);
  }
  httplib::Client Client() {
    httplib::Client c(server_->url());
    c.set_read_timeout(std::chrono::seconds(30));
    return c;
  }

  StatusBoard board_;
  std::unique_ptr<ControlChannel> control_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, ServesThePublishedStatusAndHealth) {
  Start();
  httplib::Client c = Client();
  auto r = c.Get("/status");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);  // nothing published yet
  EXPECT_EQ(c.Get("/healthz")->status, 503);
  board_.Publish(std::make_shared<const RunStatus>(SampleStatus()), absl::Now());
  r = c.Get("/status");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, StatusJson(SampleStatus()));
  EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store");
  r = c.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_THAT(testing::ParsePrometheusText(r->body), IsOk());
  EXPECT_THAT(r->get_header_value("Content-Type"), HasSubstr("version=0.0.4"));
  r = c.Get("/healthz");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok\n");
  r = c.Get("/");
  EXPECT_EQ(r->body, "<html>page</html>");
  EXPECT_THAT(r->get_header_value("Content-Security-Policy"), HasSubstr("connect-src 'self'"));
  r = c.Get("/nothing");
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(r->body, HasSubstr("no route GET /nothing"));
}

TEST_F(HttpServerTest, HealthzReportsAStalledLoop) {
  Start();
  board_.Publish(std::make_shared<const RunStatus>(SampleStatus()), absl::Now() - absl::Minutes(5));
  auto r = Client().Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_THAT(r->body, HasSubstr("stalled"));
}

TEST_F(HttpServerTest, CommandsReachTheLoopAndCarryItsReply) {
  Start();
  std::atomic<bool> done{false};
  std::thread loop([&] {
    while (!done.load()) {
      struct pollfd p{control_->wake_fd(), POLLIN, 0};
      if (::poll(&p, 1, 20) == 1) {
        control_->Serve([](Command c) {
          CommandReply r;
          r.body = CommandName(c);
          r.headers.emplace_back("X-Fedge-Model-Version", "7");
          return r;
        });
      }
    }
  });
  httplib::Client c = Client();
  auto r = c.Post("/control/pause", "", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "pause");
  EXPECT_EQ(c.Post("/control/stop", "", "text/plain")->body, "stop");
  EXPECT_EQ(c.Get("/clients")->body, "clients");
  EXPECT_EQ(c.Get("/model")->get_header_value("X-Fedge-Model-Version"), "7");
  EXPECT_EQ(c.Get("/control/pause")->status, 404);  // GET is not a command
  done.store(true);
  loop.join();
}

TEST_F(HttpServerTest, TokenIsRequiredEverywhereWhenSet) {
  const std::string token = "s3cret-token-0123456789";
  Start(token);
  board_.Publish(std::make_shared<const RunStatus>(SampleStatus()), absl::Now());
  httplib::Client c = Client();
  for (const char* path : {"/status", "/metrics", "/healthz", "/clients", "/model"}) {
    auto r = c.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path;
    EXPECT_EQ(r->get_header_value("WWW-Authenticate").substr(0, 6), "Bearer");
    r = c.Get(path, {{"Authorization", "Bearer " + token + "x"}});
    EXPECT_EQ(r->status, 401) << path;
    r = c.Get(path, {{"Authorization", "Bearer " + token.substr(0, 10)}});
    EXPECT_EQ(r->status, 401) << path;
  }
  EXPECT_EQ(c.Post("/control/stop", "", "text/plain")->status, 401);
  // The page is served without it: it holds no data, and its own fetches
  // of /status carry the token from its URL.
  auto page = c.Get("/");
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->body, "<html>page</html>");
  EXPECT_EQ(c.Get("/status", {{"Authorization", "Bearer " + token}})->status, 200);
  EXPECT_EQ(c.Get(("/status?token=" + token).c_str())->status, 200);
  EXPECT_EQ(c.Get("/status?token=wrong-token-0123456789")->status, 401);
}

TEST_F(HttpServerTest, ConnectionsThatNeverSendDoNotStopPublishing) {
  // 200 connections that never finish a request hold every worker; the
  // board, which is all the round loop touches, is never blocked by them.
  Start();
  std::vector<int> idle;
  const std::string url = server_->url();
  const int port = std::stoi(url.substr(url.rfind(':') + 1));
  for (int i = 0; i < 200; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(::write(fd, "GET /sta", 8), 8);  // and never the rest
    idle.push_back(fd);
  }
  for (int i = 0; i < 1000; ++i) {
    board_.Publish(std::make_shared<const RunStatus>(SampleStatus()), absl::Now());
  }
  EXPECT_NE(board_.Current(), nullptr);
  for (int fd : idle) ::close(fd);
  // And the server still answers once they are gone.
  auto r = Client().Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace fedge::ops
