// The status page (ops/status_page.html, served at "/") rendered by a real
// browser against a real run: fedge-coordinator --http_listen with two
// fedge-client processes on Fashion-MNIST. The run is paused after two
// completed rounds so that /status holds still, then headless Chromium
// (Debian's chromium, which scripts/setup.sh installs) dumps the page's DOM
// and the figures it shows must be the ones /status reports. Waits are on
// the run's metrics file (inotify) or bounded polls; no sleeps.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <httplib.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "base/file_util.h"
#include "tests/integration/file_watch.h"
#include "tests/integration/sim_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge {
namespace {

using ::fedge::testing::IsOk;
using ::testing::HasSubstr;

constexpr char kChromium[] = "/usr/bin/chromium";
constexpr char kNoValue[] = "\xe2\x80\x93";  // "–", what the page shows before any status

// ---- Just enough JSON to read /status ----------------------------------------

struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;

  // The member `key`; a null value when absent.
  const Json& operator[](const std::string& key) const {
    static const Json kNone;
    auto it = object.find(key);
    return it == object.end() ? kNone : it->second;
  }
  bool is_number() const { return type == Type::kNumber; }
};

// Objects, arrays, strings (a \u escape reads as '?'), numbers, true, false,
// null; nullopt on anything else.
class JsonReader {
 public:
  static std::optional<Json> Parse(absl::string_view text) {
    JsonReader r(text);
    Json v;
    if (!r.Value(&v, 0)) return std::nullopt;
    r.Space();
    if (r.pos_ != text.size()) return std::nullopt;
    return v;
  }

 private:
  explicit JsonReader(absl::string_view s) : s_(s) {}
  void Space() {
    while (pos_ < s_.size() && absl::string_view(" \t\r\n").find(s_[pos_]) != absl::string_view::npos) ++pos_;
  }
  bool Eat(char c) {
    Space();
    if (pos_ >= s_.size() || s_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  bool Word(absl::string_view w) {
    if (s_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  bool String(std::string* out) {
    if (!Eat('"')) return false;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c == '\\' && pos_ < s_.size()) {
        c = s_[pos_++];
        if (c == 'u') {  // the code point is of no interest here
          pos_ += 4;
          c = '?';
        } else if (c == 'n' || c == 't' || c == 'r' || c == 'b' || c == 'f') {
          c = ' ';
        }
      }
      out->push_back(c);
    }
    return Eat('"');
  }
  bool Value(Json* v, int depth) {
    Space();
    if (depth > 16 || pos_ >= s_.size()) return false;
    if (Eat('{')) {
      v->type = Json::Type::kObject;
      if (Eat('}')) return true;
      do {
        std::string key;
        Json item;
        if (!String(&key) || !Eat(':') || !Value(&item, depth + 1)) return false;
        v->object[key] = std::move(item);
      } while (Eat(','));
      return Eat('}');
    }
    if (Eat('[')) {
      v->type = Json::Type::kArray;
      if (Eat(']')) return true;
      do {
        v->array.emplace_back();
        if (!Value(&v->array.back(), depth + 1)) return false;
      } while (Eat(','));
      return Eat(']');
    }
    if (s_[pos_] == '"') {
      v->type = Json::Type::kString;
      return String(&v->string);
    }
    if (Word("null")) return true;
    if (Word("true") || Word("false")) {
      v->type = Json::Type::kBool;
      v->boolean = s_[pos_ - 1] == 'e' && s_[pos_ - 2] == 'u';  // "true"
      return true;
    }
    const size_t end = s_.find_first_not_of("+-0123456789.eE", pos_);
    const absl::string_view digits = s_.substr(pos_, end - pos_);
    pos_ += digits.size();
    v->type = Json::Type::kNumber;
    return !digits.empty() && absl::SimpleAtod(digits, &v->number);
  }

  absl::string_view s_;
  size_t pos_ = 0;
};

// Rounds in /status's history with a server-side test accuracy.
int EvaluatedRounds(const Json& status) {
  int n = 0;
  for (const Json& r : status["history"].array) n += r["accuracy"].is_number() ? 1 : 0;
  return n;
}

std::string Integer(const Json& v) { return absl::StrFormat("%.0f", v.number); }

// ---- Reading the DOM Chromium dumped --------------------------------------------

// The opening tag of the element whose id is `id`; "" if there is none.
std::string OpeningTag(const std::string& dom, const std::string& id) {
  std::smatch m;
  if (!std::regex_search(dom, m, std::regex("<[a-z]+[^>]*\\sid=\"" + id + "\"[^>]*>"))) return "";
  return m.str(0);
}

// The text of the element whose id is `id` (up to its first child tag);
// nullopt if there is no such element.
std::optional<std::string> ElementText(const std::string& dom, const std::string& id) {
  const std::string tag = OpeningTag(dom, id);
  if (tag.empty()) return std::nullopt;
  const size_t start = dom.find(tag) + tag.size();
  return dom.substr(start, dom.find('<', start) - start);
}

// The value of attribute `name` in the opening tag `tag`; nullopt if absent.
std::optional<std::string> Attribute(const std::string& tag, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(tag, m, std::regex("\\s" + name + "(=\"([^\"]*)\")?[\\s>/]"))) {
    return std::nullopt;
  }
  return m.str(2);
}

// ---- The run ---------------------------------------------------------------------

int OpenLog(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

std::string Tail(const std::string& path, size_t bytes = 3000) {
  const std::string text = ReadFile(path).value_or("(cannot read " + path + ")");
  return text.size() > bytes ? "..." + text.substr(text.size() - bytes) : text;
}

class StatusPageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::access(kChromium, X_OK), 0)
        << kChromium << " is missing: run scripts/setup.sh as root (it installs Debian's "
        << "chromium, which this test renders the status page with)";
    ASSERT_THAT(MakeDirs(logs_), IsOk());
  }

  void TearDown() override {  // whatever an early failure left running (no-ops once reaped)
    std::vector<std::optional<sim::Subprocess>*> all = {&coordinator_};
    for (std::optional<sim::Subprocess>& c : clients_) all.push_back(&c);
    for (std::optional<sim::Subprocess>* p : all) {
      if (!p->has_value()) continue;
      (*p)->Kill(SIGKILL);
      (*p)->Wait();
    }
  }

  // Starts fedge-coordinator (5 rounds of the mlp, two clients, evaluated on
  // the Fashion-MNIST test set, `extra` flags added) and reads the two lines
  // of --ready_fd: the ZeroMQ endpoint, then the HTTP base URL. Then starts
  // one fedge-client process per logical client.
  void StartRun(const std::vector<std::string>& extra) {
    testing::Pipe ready;
    std::vector<std::string> argv = {
        testing::Bin("fedge-coordinator"), "--listen=tcp://127.0.0.1:*",
        absl::StrCat("--ready_fd=", ready.write), "--http_listen=127.0.0.1:0", "--insecure",
        "--model=mlp", "--rounds=5", "--min_clients=2", "--max_examples=3000",
        absl::StrCat("--test_data=", testing::kFashionMnist), "--metrics_out=" + metrics_,
        "--quiet"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const int log = OpenLog(coordinator_log_);
    absl::StatusOr<sim::Subprocess> p =
        sim::Subprocess::Start(argv, {"OMP_NUM_THREADS=1"}, ready.write, -1, log);
    ::close(log);
    ASSERT_THAT(p, IsOk());
    coordinator_.emplace(*std::move(p));
    ready.CloseWrite();
    absl::StatusOr<std::string> endpoint = sim::ReadLineWithTimeout(ready.read, absl::Seconds(60));
    ASSERT_THAT(endpoint, IsOk()) << Tail(coordinator_log_);
    absl::StatusOr<std::string> url = sim::ReadLineWithTimeout(ready.read, absl::Seconds(10));
    ASSERT_THAT(url, IsOk()) << "no HTTP base URL after the endpoint on --ready_fd\n"
                             << Tail(coordinator_log_);
    ASSERT_THAT(*url, ::testing::MatchesRegex("http://127\\.0\\.0\\.1:[0-9]+")) << *url;
    url_ = *url;
    http_ = std::make_unique<httplib::Client>(url_);
    http_->set_connection_timeout(5);
    http_->set_read_timeout(15);
    if (!token_.empty()) http_->set_bearer_token_auth(token_);

    for (int id : {0, 1}) {
      const int client_log = OpenLog(ClientLog(id));
      clients_.emplace_back(testing::StartClient(
          {"--coordinator=" + *endpoint, absl::StrCat("--data_dir=", testing::kFashionMnist),
           absl::StrCat("--client_ids=", id), "--give_up_after=60s", "--insecure"},
          client_log));
      ::close(client_log);
    }
  }

  std::string ClientLog(int id) const { return absl::StrCat(logs_, "/client-", id, ".log"); }

  // /status parsed; an error naming what went wrong.
  absl::StatusOr<Json> Status() {
    httplib::Result r = http_->Get("/status");
    if (!r) return absl::UnavailableError("GET /status: " + httplib::to_string(r.error()));
    if (r->status != 200) {
      return absl::UnavailableError(absl::StrCat("GET /status: HTTP ", r->status, " ", r->body));
    }
    std::optional<Json> j = JsonReader::Parse(r->body);
    if (!j || j->type != Json::Type::kObject) {
      return absl::DataLossError("GET /status: not a JSON object: " + r->body);
    }
    return *std::move(j);
  }

  // Polls /status (whenever the metrics file changes, or every 250 ms) until
  // `done` holds for it, for at most `timeout`. The last status read.
  Json StatusWhen(const std::function<bool(const Json&)>& done, absl::Duration timeout,
                  const std::string& what) {
    Json last;
    std::string error;
    const bool ok = testing::WaitUntil(
        logs_,
        [&] {
          absl::StatusOr<Json> s = Status();
          if (!s.ok()) {
            error = s.status().ToString();
            return false;
          }
          last = *std::move(s);
          return done(last);
        },
        timeout);
    EXPECT_TRUE(ok) << "no " << what << " within " << absl::FormatDuration(timeout)
                    << "; last error: " << error << "\n" << Tail(coordinator_log_);
    return last;
  }

  // POST `path`; its HTTP status (-1 when the request failed).
  int Post(const std::string& path) {
    httplib::Result r = http_->Post(path);
    return r ? r->status : -1;
  }

  // Runs until two rounds completed, pauses, and waits for the pause to take
  // effect (after the round open at the request). The paused status.
  Json PauseAfterTwoRounds() {
    StatusWhen([](const Json& s) { return s["completed_rounds"].number >= 2; }, absl::Minutes(3),
               "two completed rounds");
    EXPECT_EQ(Post("/control/pause"), 200);
    Json paused = StatusWhen([](const Json& s) { return s["phase"].string == "paused"; },
                             absl::Minutes(2), "pause");
    EXPECT_TRUE(paused["paused"].boolean);
    EXPECT_LT(paused["completed_rounds"].number, 5) << "the pause came too late to see";
    return paused;
  }

  // Stops the run: the coordinator exits 0, then the clients it told to
  // shut down exit too.
  void StopRun() {
    EXPECT_EQ(Post("/control/stop"), 200);
    const sim::ExitInfo e = testing::Finish(*coordinator_, absl::Minutes(1));
    EXPECT_TRUE(e.ok()) << e.ToString() << "\n" << Tail(coordinator_log_);
    for (size_t id = 0; id < clients_.size(); ++id) {
      const sim::ExitInfo c = testing::Finish(*clients_[id], absl::Minutes(1));
      EXPECT_TRUE(c.ok()) << "client " << id << ": " << c.ToString() << "\n" << Tail(ClientLog(id));
    }
  }

  // The page's DOM after headless Chromium ran it for 5 s of virtual time
  // (about five polls of /status), opened at the base URL plus `path`.
  std::string Render(const std::string& path) {
    const std::string out = dir_.File("dom.html"), log = dir_.File("chromium.log");
    const int out_fd = OpenLog(out), log_fd = OpenLog(log);
    absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(
        {kChromium, "--headless=new", "--no-sandbox", "--disable-gpu",
         "--user-data-dir=" + dir_.File("chromium-profile"), "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--virtual-time-budget=5000", "--dump-dom", url_ + path},
        {"XDG_CONFIG_HOME=" + dir_.path(), "XDG_CACHE_HOME=" + dir_.path()}, -1, out_fd, log_fd);
    ::close(out_fd);
    ::close(log_fd);
    EXPECT_THAT(p, IsOk());
    if (!p.ok()) return "";
    const sim::ExitInfo e = testing::Finish(*p, absl::Seconds(90));  // killed if it overstays
    EXPECT_TRUE(e.ok()) << "chromium: " << e.ToString() << "\n" << Tail(log);
    return ReadFile(out).value_or("");
  }

  // The DOM shows what `status` says: the round, its total, the phase,
  // completed rounds, model version, connected clients, one accuracy and one
  // loss point per evaluated round, and no error.
  void ExpectPageShows(const std::string& dom, const Json& status) {
    EXPECT_EQ(ElementText(dom, "round"), Integer(status["round"])) << dom;
    EXPECT_EQ(ElementText(dom, "rounds"), Integer(status["rounds"]));
    EXPECT_EQ(ElementText(dom, "phase"), status["phase"].string);
    EXPECT_EQ(ElementText(dom, "completed-rounds"), Integer(status["completed_rounds"]));
    EXPECT_EQ(ElementText(dom, "model-version"), Integer(status["model_version"]));
    EXPECT_EQ(ElementText(dom, "clients-connected"), Integer(status["clients"]["connected"]));
    const int evaluated = EvaluatedRounds(status);
    EXPECT_GE(evaluated, 2);  // every completed round is evaluated (--test_data)
    EXPECT_EQ(Attribute(OpeningTag(dom, "accuracy-curve"), "data-points"),
              absl::StrCat(evaluated));
    EXPECT_EQ(Attribute(OpeningTag(dom, "loss-curve"), "data-points"), absl::StrCat(evaluated));
    const std::string error = OpeningTag(dom, "error");
    ASSERT_FALSE(error.empty()) << dom;
    EXPECT_TRUE(Attribute(error, "hidden").has_value())
        << "the error banner shows: " << ElementText(dom, "error").value_or("");
    EXPECT_NE(ElementText(dom, "last-update"), kNoValue);
  }

  testing::TempDir dir_;
  const std::string logs_ = dir_.File("logs");
  const std::string metrics_ = logs_ + "/metrics.jsonl";
  const std::string coordinator_log_ = logs_ + "/coordinator.log";
  std::string token_;  // empty: none
  std::string url_;    // the coordinator's HTTP base URL
  std::unique_ptr<httplib::Client> http_;
  std::optional<sim::Subprocess> coordinator_;
  std::vector<std::optional<sim::Subprocess>> clients_;
};

TEST_F(StatusPageTest, PageShowsWhatStatusReportsForAPausedRun) {
  ASSERT_NO_FATAL_FAILURE(StartRun({}));
  const Json paused = PauseAfterTwoRounds();
  ASSERT_FALSE(HasFailure());
  const std::string dom = Render("/");
  ExpectPageShows(dom, paused);
  EXPECT_EQ(ElementText(dom, "phase"), "paused");
  std::printf("paused at round %s of %s after %s completed rounds; the page shows round %s, "
              "%s accuracy points\n",
              Integer(paused["round"]).c_str(), Integer(paused["rounds"]).c_str(),
              Integer(paused["completed_rounds"]).c_str(),
              ElementText(dom, "round").value_or("?").c_str(),
              Attribute(OpeningTag(dom, "accuracy-curve"), "data-points").value_or("?").c_str());
  // Nothing moved while the browser looked.
  absl::StatusOr<Json> after = Status();
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ((*after)["completed_rounds"].number, paused["completed_rounds"].number);
  EXPECT_EQ(EvaluatedRounds(*after), EvaluatedRounds(paused));
  StopRun();
}

// With --http_token_file every route needs the token: the page opened as
// /?token=T sends it on its own requests and shows the same figures; opened
// without it, it shows the error banner and no figures.
TEST_F(StatusPageTest, PageWithATokenShowsTheRunAndWithoutOneTheError) {
  std::random_device random;  // /dev/urandom
  for (int i = 0; i < 32; ++i) token_.push_back("0123456789abcdef"[random() % 16]);
  const std::string token_file = dir_.File("http.token");
  const int fd = ::open(token_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, (token_ + "\n").data(), token_.size() + 1),
            static_cast<ssize_t>(token_.size() + 1));
  ::close(fd);

  ASSERT_NO_FATAL_FAILURE(StartRun({"--http_token_file=" + token_file}));
  const Json paused = PauseAfterTwoRounds();
  ASSERT_FALSE(HasFailure());
  ExpectPageShows(Render("/?token=" + token_), paused);

  httplib::Client anonymous(url_);
  httplib::Result refused = anonymous.Get("/status");
  ASSERT_TRUE(refused) << httplib::to_string(refused.error());
  EXPECT_EQ(refused->status, 401);

  const std::string dom = Render("/");
  const std::string error = OpeningTag(dom, "error");
  EXPECT_FALSE(error.empty())
      << "GET / without the token did not serve the page (the server refused the page itself), "
         "so the page could not show its error banner; the browser got:\n"
      << dom;
  if (!error.empty()) {
    EXPECT_FALSE(Attribute(error, "hidden").has_value());
    EXPECT_THAT(ElementText(dom, "error").value_or(""), HasSubstr("401"));
    EXPECT_EQ(ElementText(dom, "round"), kNoValue);  // no figure reached the page
    EXPECT_EQ(ElementText(dom, "completed-rounds"), kNoValue);
  }
  StopRun();
}

}  // namespace
}  // namespace fedge
