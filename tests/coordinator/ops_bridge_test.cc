// The bridge between a Coordinator (driven in-process, sans I/O) and the
// operator interface: what it publishes, and the commands it runs on the
// coordinator's thread.

#include "coordinator/ops_bridge.h"

#include <future>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "ops/render.h"
#include "tests/coordinator/fakes.h"
#include "tests/ops/prometheus_parser.h"
#include "tests/testing/status_matchers.h"

namespace fedge::coordinator {
namespace {

using ::fedge::testing::IsOk;

class OpsBridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto control = ops::ControlChannel::Create();
    ASSERT_THAT(control, IsOk());
    control_ = *std::move(control);
    OpsBridgeOptions o;
    o.version = "test";
    o.rounds = 3;
    o.config = std::make_shared<const std::vector<ops::ConfigEntry>>(
        std::vector<ops::ConfigEntry>{{"rounds", "3", false}});
    o.enrolled = [] { return size_t{7}; };
    o.export_model = [](Coordinator& c) -> absl::StatusOr<std::string> {
      return absl::StrCat("model v", c.model_version());
    };
    bridge_ = std::make_unique<OpsBridge>(o, nullptr, &board_, control_.get(), &reports_, now_);
    CoordinatorConfig cfg;
    cfg.rounds = 3;
    cfg.min_clients = 2;
    cfg.quorum = 2;
    cfg.training.batch_size = 8;
    auto c = Coordinator::Create(cfg, TinyModel(), &outbox_, nullptr, bridge_.get(), now_);
    ASSERT_THAT(c, IsOk());
    coord_ = *std::move(c);
  }
  void Hello(const std::string& peer, uint64_t id) {
    protocol::Hello h;
    h.client_id = id;
    h.num_examples = 50 * id;
    coord_->OnFrame(peer, protocol::Encode(h), now_);
  }
  void Update(const std::string& peer, uint64_t id) {
    protocol::Update u;
    u.round = coord_->round();
    u.model_version = coord_->model_version();
    u.client_id = id;
    u.num_examples = 50 * id;
    u.delta = {1, 1, 1, 1};
    coord_->OnFrame(peer, protocol::Encode(u), now_);
  }
  // Runs `command` as an HTTP thread would while this thread plays the loop.
  ops::CommandReply Call(ops::Command command) {
    auto reply = std::async(std::launch::async, [&] {
      return control_->Call(command, absl::Seconds(60));
    });
    while (reply.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) {
      bridge_->OnLoop(*coord_, now_);
    }
    absl::StatusOr<ops::CommandReply> r = reply.get();
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *r : ops::CommandReply{};
  }

  absl::Time now_ = absl::FromUnixSeconds(5000);
  ops::StatusBoard board_;
  std::unique_ptr<ops::ControlChannel> control_;
  Reports reports_;
  std::unique_ptr<OpsBridge> bridge_;
  RecordingOutbox outbox_;
  std::unique_ptr<Coordinator> coord_;
};

TEST_F(OpsBridgeTest, PublishesTheRunAsTheCoordinatorSeesIt) {
  Hello("a", 1);
  Hello("b", 2);
  Update("a", 1);
  now_ += absl::Seconds(2);
  bridge_->OnLoop(*coord_, now_);
  std::shared_ptr<const ops::RunStatus> s = board_.Current();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(board_.last_publish(), now_);
  EXPECT_EQ(s->phase, "training");
  EXPECT_EQ(s->round, 1u);
  EXPECT_EQ(s->rounds, 3u);
  ASSERT_TRUE(s->progress.has_value());
  EXPECT_EQ(s->progress->inputs, 1u);
  EXPECT_EQ(s->progress->expected, 2u);
  EXPECT_DOUBLE_EQ(s->progress->elapsed_s, 2.0);
  EXPECT_EQ(s->clients_connected, 2u);
  EXPECT_EQ(s->clients_enrolled, 7u);
  EXPECT_EQ(s->registrations, 2u);
  EXPECT_EQ(s->bytes_in, coord_->stats().bytes_received);
  EXPECT_EQ(s->bytes_out, coord_->stats().bytes_sent);

  Update("b", 2);  // round 1 ends: the report reaches the history and the next observer
  bridge_->OnLoop(*coord_, now_);
  s = board_.Current();
  ASSERT_EQ(s->history->size(), 1u);
  EXPECT_TRUE((*s->history)[0].completed);
  EXPECT_EQ((*s->history)[0].aggregated, 2u);
  EXPECT_EQ(s->completed_rounds, 1u);
  EXPECT_EQ(s->round_seconds.count, 1u);
  EXPECT_EQ(reports_.reports.size(), 1u);
  absl::StatusOr<testing::Scrape> m =
      testing::ParsePrometheusText(ops::PrometheusText(*s, ProcessStats{}));
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->samples.at("fedge_rounds_completed_total"), 1);
  EXPECT_EQ(m->samples.at("fedge_model_version"), 1);
}

TEST_F(OpsBridgeTest, RefusalsArePublishedByReason) {
  Hello("a", 1);
  protocol::Update stray;
  stray.client_id = 1;
  stray.round = 99;
  stray.num_examples = 1;
  stray.delta = {0, 0, 0, 0};
  coord_->OnFrame("a", protocol::Encode(stray), now_);
  coord_->OnFrame("x", "garbage", now_);
  bridge_->OnLoop(*coord_, now_);
  std::shared_ptr<const ops::RunStatus> s = board_.Current();
  EXPECT_EQ(s->refused_total, coord_->stats().rejected_total);
  EXPECT_GE(s->refused_total, 2u);
  uint64_t sum = 0;
  for (const auto& [reason, count] : s->refused_by_reason) sum += count;
  EXPECT_EQ(sum, s->refused_total);
}

TEST_F(OpsBridgeTest, CommandsRunOnTheLoopThread) {
  Hello("a", 1);
  Hello("b", 2);
  ops::CommandReply r = Call(ops::Command::kPause);
  rapidjson::Document d;
  ASSERT_FALSE(d.Parse(r.body.c_str()).HasParseError()) << r.body;
  EXPECT_TRUE(d["paused"].IsTrue());
  EXPECT_EQ(d["phase"].GetString(), std::string("training"));  // round 1 runs on
  EXPECT_TRUE(coord_->paused());
  Update("a", 1);
  Update("b", 2);
  bridge_->OnLoop(*coord_, now_);
  EXPECT_EQ(board_.Current()->phase, "paused");

  r = Call(ops::Command::kListClients);
  ASSERT_FALSE(d.Parse(r.body.c_str()).HasParseError()) << r.body;
  ASSERT_EQ(d["clients"].Size(), 2u);
  EXPECT_EQ(d["clients"][1]["client_id"].GetUint64(), 2u);
  EXPECT_EQ(d["clients"][1]["examples"].GetUint64(), 100u);

  r = Call(ops::Command::kExportModel);
  EXPECT_EQ(r.body, "model v1");
  EXPECT_EQ(r.content_type, "application/octet-stream");

  r = Call(ops::Command::kResume);
  EXPECT_FALSE(coord_->paused());
  EXPECT_EQ(coord_->phase(), Coordinator::Phase::kTraining);
  r = Call(ops::Command::kStop);
  EXPECT_TRUE(coord_->stop_requested());
  Update("a", 1);
  Update("b", 2);
  EXPECT_TRUE(coord_->done());
  EXPECT_TRUE(coord_->stopped_by_operator());
  bridge_->OnLoop(*coord_, now_);
  EXPECT_EQ(board_.Current()->phase, "finished");
  EXPECT_EQ(board_.Current()->completed_rounds, 2u);
}

}  // namespace
}  // namespace fedge::coordinator
