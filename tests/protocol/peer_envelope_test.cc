// The routed envelope (protocol/wire.h): peer strings, the pure parser of a
// ROUTER message's parts, and channels over a real ROUTER and DEALER on
// loopback TCP.

#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "protocol/wire.h"
#include "tests/testing/status_matchers.h"

namespace fedge::protocol {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

constexpr absl::Duration kTimeout = absl::Seconds(10);

// ---- Peer strings -------------------------------------------------------------

TEST(PeerAddressTest, EncodeDecodeRoundTrips) {
  const std::string rid_with_nul("\0ab\xff", 4);  // libzmq's generated ids start with 0
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"dealer-1", ""},
      {"dealer-1", "17"},
      {rid_with_nul, ""},
      {rid_with_nul, std::string("\0\x01", 2)},
      {std::string(kMaxRoutingIdBytes, 'r'), std::string(kMaxChannelBytes, 'c')},
      {"x", "1"},
  };
  for (const auto& [rid, channel] : cases) {
    const std::string peer = EncodePeer(rid, channel);
    ASSERT_EQ(peer.size(), 1 + rid.size() + channel.size());
    absl::StatusOr<PeerAddress> back = DecodePeer(peer);
    ASSERT_THAT(back, IsOk()) << absl::CHexEscape(peer);
    EXPECT_EQ(back->routing_id, rid);
    EXPECT_EQ(back->channel, channel);
  }
}

TEST(PeerAddressTest, ConcatenationsThatCollideEncodeToDifferentPeers) {
  // Plain rid + channel would make both "dev17".
  EXPECT_NE(EncodePeer("dev", "17"), EncodePeer("dev1", "7"));
  EXPECT_NE(EncodePeer("dev17", ""), EncodePeer("dev", "17"));
}

TEST(PeerAddressTest, DecodeRefusesAnEmptyPeer) {
  EXPECT_THAT(DecodePeer(""), StatusIs(absl::StatusCode::kInvalidArgument, "empty"));
}

TEST(PeerAddressTest, DecodeRefusesAZeroLengthRoutingId) {
  EXPECT_THAT(DecodePeer(std::string("\0abc", 4)),
              StatusIs(absl::StatusCode::kInvalidArgument, "zero-length routing id"));
}

TEST(PeerAddressTest, DecodeRefusesALengthPastTheEnd) {
  EXPECT_THAT(DecodePeer("\x05" "abcd"),
              StatusIs(absl::StatusCode::kInvalidArgument, "5-byte routing id"));
  EXPECT_THAT(DecodePeer("\x01"), StatusIs(absl::StatusCode::kInvalidArgument, "only 0 bytes"));
}

TEST(PeerAddressTest, DecodeRefusesAChannelLongerThanTheLimit) {
  const std::string peer = "\x03" "rid" + std::string(kMaxChannelBytes + 1, '9');
  EXPECT_THAT(DecodePeer(peer), StatusIs(absl::StatusCode::kInvalidArgument, "33-byte channel"));
}

TEST(PeerAddressTest, EncodeOutOfRangeGivesAPeerThatDoesNotDecode) {
  EXPECT_FALSE(DecodePeer(EncodePeer("", "7")).ok());
  EXPECT_FALSE(DecodePeer(EncodePeer(std::string(kMaxRoutingIdBytes + 1, 'r'), "")).ok());
  EXPECT_FALSE(DecodePeer(EncodePeer("rid", std::string(kMaxChannelBytes + 1, 'c'))).ok());
}

TEST(PeerAddressTest, DescribeShowsTheRoutingIdAndTheChannel) {
  EXPECT_EQ(DescribePeer(EncodePeer("dev", "")), "dev");
  EXPECT_EQ(DescribePeer(EncodePeer(std::string("\0\x01", 2), "17")), "\\x00\\x01#17");
  EXPECT_EQ(DescribePeer(EncodePeer("dev", "17")), "dev#17");
  EXPECT_EQ(DescribePeer(EncodePeer("dev", "\n")), "dev#\\n");
  // Not a peer at all (a test's hand-made name): shown escaped as a whole.
  EXPECT_EQ(DescribePeer("client-3"), "client-3");
  EXPECT_EQ(DescribePeer(""), "");
}

// ---- The parts of a ROUTER message ---------------------------------------------

absl::StatusOr<RoutedParts> Parse(std::vector<absl::string_view> parts) {
  return ParseRoutedParts(parts);
}

TEST(RoutedPartsTest, PlainMessageIsTheConnectionsPeer) {
  absl::StatusOr<RoutedParts> p = Parse({"rid", "frame"});
  ASSERT_THAT(p, IsOk());
  EXPECT_TRUE(p->well_formed);
  EXPECT_EQ(p->peer, EncodePeer("rid", ""));
  EXPECT_EQ(p->frame_part, 1u);
}

TEST(RoutedPartsTest, ChannelMessageIsTheChannelsPeer) {
  absl::StatusOr<RoutedParts> p = Parse({"rid", "17", "frame"});
  ASSERT_THAT(p, IsOk());
  EXPECT_TRUE(p->well_formed);
  EXPECT_EQ(p->peer, EncodePeer("rid", "17"));
  EXPECT_EQ(p->frame_part, 2u);
}

TEST(RoutedPartsTest, MalformedMessagesAreTheConnectionsPeerWithNoFrame) {
  const std::string too_long(kMaxChannelBytes + 1, '1');
  const std::vector<std::vector<absl::string_view>> malformed = {
      {"rid"},                          // no frame
      {"rid", "", "frame"},             // empty channel
      {"rid", too_long, "frame"},       // channel too long
      {"rid", "1", "2", "3"},           // three data parts
      {"rid", "1", "2", "3", "4", "5"}, // more
  };
  for (const auto& parts : malformed) {
    absl::StatusOr<RoutedParts> p = Parse(parts);
    ASSERT_THAT(p, IsOk());
    EXPECT_FALSE(p->well_formed) << parts.size() << " parts";
    EXPECT_EQ(p->peer, EncodePeer("rid", ""));
  }
}

TEST(RoutedPartsTest, UnaddressableMessagesAreRefused) {
  EXPECT_THAT(Parse({}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Parse({"", "frame"}), StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string long_rid(kMaxRoutingIdBytes + 1, 'r');
  EXPECT_THAT(Parse({long_rid, "frame"}), StatusIs(absl::StatusCode::kInvalidArgument));
}

// ---- Over real sockets -----------------------------------------------------------

std::string Str(const zmq::message_t& m) { return std::string(View(m)); }

class PeerEnvelopeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(ConfigureSocket(router_, SocketConfig()), IsOk());
    absl::StatusOr<std::string> bound = Bind(router_, "tcp://127.0.0.1:*");
    ASSERT_THAT(bound, IsOk());
    endpoint_ = *bound;
  }

  zmq::socket_t Dealer(const std::string& routing_id) {
    zmq::socket_t dealer(ctx_, zmq::socket_type::dealer);
    SocketConfig cfg;
    cfg.routing_id = routing_id;
    EXPECT_THAT(ConfigureSocket(dealer, cfg), IsOk());
    EXPECT_THAT(Connect(dealer, endpoint_), IsOk());
    return dealer;
  }

  static bool WaitReadable(zmq::socket_t& socket, absl::Time deadline) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    absl::StatusOr<int> ready = Poll(&item, 1, deadline - absl::Now());
    return ready.ok() && *ready > 0;
  }

  // The next message at the ROUTER, or nullopt after kTimeout.
  std::optional<RoutedFrame> NextRouted() {
    const absl::Time deadline = absl::Now() + kTimeout;
    for (;;) {
      absl::StatusOr<std::optional<RoutedFrame>> in = ReceiveRouted(router_);
      EXPECT_THAT(in, IsOk());
      if (!in.ok()) return std::nullopt;
      if (in->has_value()) return std::move(**in);
      if (absl::Now() >= deadline) return std::nullopt;
      WaitReadable(router_, deadline);
    }
  }

  static std::optional<ChannelFrame> NextOnChannel(zmq::socket_t& dealer) {
    const absl::Time deadline = absl::Now() + kTimeout;
    for (;;) {
      absl::StatusOr<std::optional<ChannelFrame>> in = ReceiveOnChannel(dealer);
      EXPECT_THAT(in, IsOk());
      if (!in.ok()) return std::nullopt;
      if (in->has_value()) return std::move(**in);
      if (absl::Now() >= deadline) return std::nullopt;
      WaitReadable(dealer, deadline);
    }
  }

  static void SendParts(zmq::socket_t& socket, const std::vector<std::string>& parts) {
    for (size_t i = 0; i < parts.size(); ++i) {
      const auto flags = i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      ASSERT_TRUE(socket.send(zmq::buffer(parts[i]), flags));
    }
  }

  zmq::context_t ctx_;
  zmq::socket_t router_{ctx_, zmq::socket_type::router};
  std::string endpoint_;
};

TEST_F(PeerEnvelopeTest, TwoChannelsOnOneDealerArriveAsTwoPeers) {
  zmq::socket_t dealer = Dealer("host-a");
  ASSERT_THAT(SendOnChannel(dealer, "7", ToMessage("from 7")), IsOk());
  ASSERT_THAT(SendOnChannel(dealer, "12", ToMessage("from 12")), IsOk());

  std::optional<RoutedFrame> first = NextRouted();
  std::optional<RoutedFrame> second = NextRouted();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(first->peer, second->peer);
  EXPECT_EQ(first->peer, EncodePeer("host-a", "7"));
  EXPECT_EQ(second->peer, EncodePeer("host-a", "12"));
  EXPECT_EQ(Str(first->frame), "from 7");
  EXPECT_EQ(Str(second->frame), "from 12");
  EXPECT_EQ(first->user_id, "");  // plain connection

  // Each reply reaches the DEALER on its channel.
  ASSERT_THAT(SendRouted(router_, second->peer, ToMessage("to 12")), IsOk());
  ASSERT_THAT(SendRouted(router_, first->peer, ToMessage("to 7")), IsOk());
  std::optional<ChannelFrame> reply = NextOnChannel(dealer);
  ASSERT_TRUE(reply.has_value());
  EXPECT_TRUE(reply->well_formed);
  EXPECT_EQ(reply->channel, "12");
  EXPECT_EQ(Str(reply->frame), "to 12");
  reply = NextOnChannel(dealer);
  ASSERT_TRUE(reply.has_value());
  EXPECT_TRUE(reply->well_formed);
  EXPECT_EQ(reply->channel, "7");
  EXPECT_EQ(Str(reply->frame), "to 7");
}

TEST_F(PeerEnvelopeTest, PlainMessageGetsAPlainReply) {
  zmq::socket_t dealer = Dealer("host-a");
  ASSERT_THAT(SendFrame(dealer, ToMessage("plain")), IsOk());
  std::optional<RoutedFrame> in = NextRouted();
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->peer, EncodePeer("host-a", ""));
  EXPECT_EQ(Str(in->frame), "plain");

  ASSERT_THAT(SendRouted(router_, in->peer, ToMessage("plain reply")), IsOk());
  ASSERT_TRUE(WaitReadable(dealer, absl::Now() + kTimeout));
  absl::StatusOr<std::optional<zmq::message_t>> reply = ReceiveFrame(dealer);
  ASSERT_THAT(reply, IsOk());
  ASSERT_TRUE(reply->has_value());
  EXPECT_EQ(Str(**reply), "plain reply");
}

TEST_F(PeerEnvelopeTest, ConnectionsWhoseConcatenationsCollideStayApart) {
  zmq::socket_t dev = Dealer("dev");
  zmq::socket_t dev1 = Dealer("dev1");
  ASSERT_THAT(SendOnChannel(dev, "17", ToMessage("I am dev#17")), IsOk());
  ASSERT_THAT(SendOnChannel(dev1, "7", ToMessage("I am dev1#7")), IsOk());
  std::optional<RoutedFrame> a = NextRouted();
  std::optional<RoutedFrame> b = NextRouted();
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  EXPECT_NE(a->peer, b->peer);
  // Each answer goes back to the connection that sent the message.
  for (const RoutedFrame* in : {&*a, &*b}) {
    ASSERT_THAT(SendRouted(router_, in->peer, ToMessage("answer to " + Str(in->frame))), IsOk());
  }
  std::optional<ChannelFrame> to_dev = NextOnChannel(dev);
  std::optional<ChannelFrame> to_dev1 = NextOnChannel(dev1);
  ASSERT_TRUE(to_dev.has_value());
  ASSERT_TRUE(to_dev1.has_value());
  EXPECT_EQ(to_dev->channel, "17");
  EXPECT_EQ(Str(to_dev->frame), "answer to I am dev#17");
  EXPECT_EQ(to_dev1->channel, "7");
  EXPECT_EQ(Str(to_dev1->frame), "answer to I am dev1#7");
}

TEST_F(PeerEnvelopeTest, MalformedEnvelopesHaveNoFrameAndTheConnectionsPeer) {
  zmq::socket_t dealer = Dealer("host-a");
  const std::vector<std::vector<std::string>> malformed = {
      {"7", "frame", "extra"},                                 // three data parts
      {"", "frame"},                                           // empty channel
      {std::string(kMaxChannelBytes + 1, '7'), "frame"},       // 33-byte channel
  };
  for (const auto& parts : malformed) SendParts(dealer, parts);
  // The longest channel still goes through, and shows the stream goes on.
  SendParts(dealer, {std::string(kMaxChannelBytes, '7'), "longest channel"});

  for (size_t i = 0; i < malformed.size(); ++i) {
    std::optional<RoutedFrame> in = NextRouted();
    ASSERT_TRUE(in.has_value()) << "message " << i;
    EXPECT_EQ(in->frame.size(), 0u) << "message " << i;
    EXPECT_EQ(in->peer, EncodePeer("host-a", "")) << "message " << i;
  }
  std::optional<RoutedFrame> in = NextRouted();
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->peer, EncodePeer("host-a", std::string(kMaxChannelBytes, '7')));
  EXPECT_EQ(Str(in->frame), "longest channel");
}

TEST_F(PeerEnvelopeTest, SendRoutedRefusesAnUndecodablePeer) {
  EXPECT_THAT(SendRouted(router_, "", ToMessage("x")),
              StatusIs(absl::StatusCode::kInvalidArgument, "empty"));
  EXPECT_THAT(SendRouted(router_, "host-a", ToMessage("x")),  // a raw routing id
              StatusIs(absl::StatusCode::kInvalidArgument, "cannot send to host-a"));
}

TEST_F(PeerEnvelopeTest, SendRoutedToAnUnknownConnectionIsUnavailable) {
  EXPECT_THAT(SendRouted(router_, EncodePeer("nobody", "7"), ToMessage("x")),
              StatusIs(absl::StatusCode::kUnavailable, "not connected"));
}

TEST_F(PeerEnvelopeTest, SendOnChannelRefusesABadChannelAndSendsNothing) {
  zmq::socket_t dealer = Dealer("host-a");
  EXPECT_THAT(SendOnChannel(dealer, "", ToMessage("x")),
              StatusIs(absl::StatusCode::kInvalidArgument, "empty"));
  EXPECT_THAT(SendOnChannel(dealer, std::string(kMaxChannelBytes + 1, '1'), ToMessage("x")),
              StatusIs(absl::StatusCode::kInvalidArgument, "at most 32"));
  // Nothing of either went out: the next message is the first at the ROUTER.
  ASSERT_THAT(SendOnChannel(dealer, "1", ToMessage("first")), IsOk());
  std::optional<RoutedFrame> in = NextRouted();
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(Str(in->frame), "first");
}

// ---- Bad input at the DEALER -------------------------------------------------------

TEST_F(PeerEnvelopeTest, ReceiveOnChannelWithNothingWaitingIsNullopt) {
  zmq::socket_t dealer = Dealer("host-a");
  absl::StatusOr<std::optional<ChannelFrame>> in = ReceiveOnChannel(dealer);
  ASSERT_THAT(in, IsOk());
  EXPECT_FALSE(in->has_value());
}

TEST_F(PeerEnvelopeTest, ReceiveOnChannelFlagsEveryOtherShape) {
  zmq::socket_t dealer = Dealer("host-a");
  // The ROUTER learns the connection from its first message.
  ASSERT_THAT(SendFrame(dealer, ToMessage("hello")), IsOk());
  std::optional<RoutedFrame> hello = NextRouted();
  ASSERT_TRUE(hello.has_value());
  const std::string rid = DecodePeer(hello->peer)->routing_id;

  SendParts(router_, {rid, "single part"});
  SendParts(router_, {rid, "7", "frame", "extra"});
  SendParts(router_, {rid, std::string(kMaxChannelBytes + 1, '7'), "frame"});
  SendParts(router_, {rid, "", "frame"});
  SendParts(router_, {rid, "7", "good"});

  std::optional<ChannelFrame> single = NextOnChannel(dealer);
  ASSERT_TRUE(single.has_value());
  EXPECT_FALSE(single->well_formed);
  EXPECT_EQ(single->channel, "");
  EXPECT_EQ(Str(single->frame), "single part");  // a reply to the connection
  for (const char* what : {"three parts", "long channel", "empty channel"}) {
    std::optional<ChannelFrame> bad = NextOnChannel(dealer);
    ASSERT_TRUE(bad.has_value()) << what;
    EXPECT_FALSE(bad->well_formed) << what;
    EXPECT_EQ(bad->channel, "") << what;
    EXPECT_EQ(bad->frame.size(), 0u) << what;
  }
  // Every part of the bad messages was drained: the good one reads whole.
  std::optional<ChannelFrame> good = NextOnChannel(dealer);
  ASSERT_TRUE(good.has_value());
  EXPECT_TRUE(good->well_formed);
  EXPECT_EQ(good->channel, "7");
  EXPECT_EQ(Str(good->frame), "good");
}

}  // namespace
}  // namespace fedge::protocol
