// A real fedge-coordinator process probed over real ZeroMQ sockets: hostile
// frames from a raw socket are answered with specific errors and do not stop a
// real fedge-client from completing the round; a client survives its
// coordinator being killed and replaced.
//
// These run over plain TCP (--insecure): they probe the protocol layer with a
// raw socket, and the replaced coordinator starts again at model version 0,
// which a client verifying signatures would rightly refuse as a rollback.
// security_integration_test covers the CURVE transport and signed models.

#include <signal.h>

#include <zmq.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "protocol/codec.h"
#include "protocol/envelope.h"
#include "protocol/wire.h"
#include "simulations/results.h"
#include "tests/integration/process_test_util.h"
#include "tests/testing/idx_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge {
namespace {

using ::fedge::testing::IsOk;
using protocol::ErrorCode;

// A hand-driven DEALER standing in for a hostile or buggy device.
class RawPeer {
 public:
  RawPeer(zmq::context_t& ctx, const std::string& endpoint) : socket_(ctx, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::routing_id, "raw-peer");
    socket_.connect(endpoint);
  }
  void SendBytes(const std::string& bytes) { socket_.send(zmq::buffer(bytes)); }
  template <typename T>
  void Send(const T& m) { SendBytes(protocol::Encode(m)); }

  // Next message that is not a heartbeat, waiting at most `timeout`.
  absl::StatusOr<protocol::Message> Next(absl::Duration timeout = absl::Seconds(30)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      auto ready = protocol::Poll(&item, 1, deadline - absl::Now());
      if (!ready.ok()) return ready.status();
      if (*ready == 0) continue;
      zmq::message_t msg;
      if (!socket_.recv(msg, zmq::recv_flags::dontwait)) continue;
      absl::StatusOr<protocol::Message> m = protocol::Decode(protocol::View(msg));
      if (!m.ok()) return m.status();
      if (std::holds_alternative<protocol::Heartbeat>(*m)) continue;
      return m;
    }
    return absl::DeadlineExceededError("no message");
  }
  ErrorCode NextErrorCode() {
    absl::StatusOr<protocol::Message> m = Next();
    if (!m.ok() || !std::holds_alternative<protocol::ErrorReply>(*m)) {
      ADD_FAILURE() << "expected an ErrorReply, got "
                    << (m.ok() ? std::to_string(m->index()) : m.status().ToString());
      return ErrorCode::kInternal;
    }
    return std::get<protocol::ErrorReply>(*m).code;
  }

 private:
  zmq::socket_t socket_;
};

class WireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fedge::testing::WriteSyntheticIdx(dir_.path(), "train", 400);
    fedge::testing::WriteSyntheticIdx(dir_.path(), "t10k", 100);
  }
  std::vector<std::string> ClientFlags(const std::string& endpoint) {
    return {"--coordinator=" + endpoint, "--data_dir=" + dir_.path(), "--client_ids=0",
            "--give_up_after=60s", "--insecure"};
  }
  fedge::testing::TempDir dir_;
  zmq::context_t ctx_;
};

TEST_F(WireTest, HostileFramesAreRefusedAndTheRoundStillCompletes) {
  const std::string metrics = dir_.File("metrics.jsonl");
  std::string endpoint;
  sim::Subprocess coordinator = fedge::testing::StartCoordinator(
      "tcp://127.0.0.1:*",
      {"--min_clients=2", "--quorum=1", "--rounds=1", "--model=mlp", "--max_frame_mb=4",
       "--test_data=" + dir_.path(), "--metrics_out=" + metrics, "--quiet", "--insecure"},
      &endpoint);
  ASSERT_FALSE(endpoint.empty());

  RawPeer raw(ctx_, endpoint);
  raw.SendBytes("not a fedge frame");
  EXPECT_EQ(raw.NextErrorCode(), ErrorCode::kMalformed);
  std::string future = protocol::Encode(protocol::Heartbeat{});
  absl::little_endian::Store16(future.data() + 4, 42);
  raw.SendBytes(future);
  EXPECT_EQ(raw.NextErrorCode(), ErrorCode::kVersionMismatch);
  std::string unknown = protocol::Encode(protocol::Heartbeat{});
  absl::little_endian::Store16(unknown.data() + 6, 500);
  raw.SendBytes(unknown);
  EXPECT_EQ(raw.NextErrorCode(), ErrorCode::kUnknownKind);
  protocol::Update early;
  early.client_id = 99;
  early.delta = {1, 2, 3};
  raw.Send(early);
  EXPECT_EQ(raw.NextErrorCode(), ErrorCode::kNotRegistered);
  // 5 MB frame against a 4 MiB limit: libzmq drops the connection rather than
  // buffering it (ZMQ_MAXMSGSIZE), so no reply comes; the server lives on.

  // Register, then a real client joins and the round starts.
  raw.Send(protocol::Hello{99, 400, 0, "raw", {}});
  absl::StatusOr<protocol::Message> welcome = raw.Next();
  ASSERT_THAT(welcome, IsOk());
  ASSERT_TRUE(std::holds_alternative<protocol::Welcome>(*welcome));
  sim::Subprocess client = fedge::testing::StartClient(ClientFlags(endpoint));
  absl::StatusOr<protocol::Message> task = raw.Next();
  ASSERT_THAT(task, IsOk());
  ASSERT_TRUE(std::holds_alternative<protocol::Task>(*task));
  const protocol::Task& t = std::get<protocol::Task>(*task);

  protocol::Update bad;
  bad.round = t.round;
  bad.model_version = t.model_version;
  bad.client_id = 99;
  bad.num_examples = 400;
  bad.delta.assign(t.model.weights.size() - 1, 0.0f);
  raw.Send(bad);
  EXPECT_EQ(raw.NextErrorCode(), ErrorCode::kWrongLength);
  bad.delta.assign(t.model.weights.size(), 0.0f);
  bad.round = t.round + 1;
  raw.Send(bad);
  EXPECT_EQ(raw.NextErrorCode(), ErrorCode::kWrongRound);
  bad.round = t.round;
  bad.delta[17] = std::numeric_limits<float>::quiet_NaN();
  raw.Send(bad);
  EXPECT_EQ(raw.NextErrorCode(), ErrorCode::kNonFinite);

  // The real client's update completes the round; everyone is shut down.
  absl::StatusOr<protocol::Message> bye = raw.Next(absl::Seconds(120));
  ASSERT_THAT(bye, IsOk());
  EXPECT_TRUE(std::holds_alternative<protocol::Shutdown>(*bye));
  EXPECT_TRUE(fedge::testing::Finish(coordinator, absl::Seconds(60)).ok());
  EXPECT_TRUE(fedge::testing::Finish(client, absl::Seconds(60)).ok());

  absl::StatusOr<std::vector<sim::RoundRow>> rows = sim::ReadMetrics(metrics);
  ASSERT_THAT(rows, IsOk());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_TRUE((*rows)[0].completed);
  EXPECT_EQ((*rows)[0].clients, 1);  // only the honest client's update
  // The synthetic task is easy: one honest epoch is enough to learn it.
  EXPECT_GT((*rows)[0].test_accuracy, 0.5);
}

TEST_F(WireTest, OversizedFrameDoesNotTakeTheServerDown) {
  std::string endpoint;
  sim::Subprocess coordinator = fedge::testing::StartCoordinator(
      "tcp://127.0.0.1:*",
      {"--min_clients=1", "--rounds=1", "--max_frame_mb=1", "--quiet", "--insecure"},
      &endpoint);
  {
    RawPeer flooder(ctx_, endpoint);
    flooder.SendBytes(std::string(3 << 20, 'x'));
  }
  // A well-behaved peer is still served.
  RawPeer raw(ctx_, endpoint);
  raw.Send(protocol::Hello{5, 10, 0, "raw", {}});
  absl::StatusOr<protocol::Message> welcome = raw.Next();
  ASSERT_THAT(welcome, IsOk());
  EXPECT_TRUE(std::holds_alternative<protocol::Welcome>(*welcome));
  // SIGTERM is a clean stop for an operator.
  coordinator.Kill(SIGTERM);
  EXPECT_TRUE(fedge::testing::Finish(coordinator, absl::Seconds(30)).ok());
}

TEST_F(WireTest, ClientReconnectsWhenItsCoordinatorIsReplaced) {
  const std::string listen = absl::StrCat("ipc://", dir_.File("coord.sock"));
  fedge::testing::Pipe rounds;
  std::string endpoint;
  // The first coordinator runs many rounds; it is killed after the first.
  sim::Subprocess first = fedge::testing::StartCoordinator(
      listen, {"--min_clients=1", "--rounds=1000", "--model=mlp", "--insecure"}, &endpoint,
      rounds.write);
  rounds.CloseWrite();
  sim::Subprocess client = fedge::testing::StartClient(ClientFlags(endpoint));
  absl::StatusOr<std::string> line = sim::ReadLineWithTimeout(rounds.read, absl::Seconds(120));
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(*line, ::testing::HasSubstr("round   1/1000"));
  first.Kill(SIGKILL);
  fedge::testing::Finish(first, absl::Seconds(10));

  // A new coordinator on the same endpoint; the client finds it by itself.
  const std::string metrics = dir_.File("second.jsonl");
  sim::Subprocess second = fedge::testing::StartCoordinator(
      listen,
      {"--min_clients=1", "--rounds=2", "--model=mlp", "--metrics_out=" + metrics, "--quiet",
       "--insecure"},
      &endpoint);
  EXPECT_TRUE(fedge::testing::Finish(second, absl::Seconds(120)).ok());
  EXPECT_TRUE(fedge::testing::Finish(client, absl::Seconds(60)).ok());
  absl::StatusOr<std::vector<sim::RoundRow>> rows = sim::ReadMetrics(metrics);
  ASSERT_THAT(rows, IsOk());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_TRUE((*rows)[1].completed);
  EXPECT_EQ((*rows)[1].clients, 1);
}

}  // namespace
}  // namespace fedge
