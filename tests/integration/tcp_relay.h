#ifndef FEDGE_TESTS_INTEGRATION_TCP_RELAY_H_
#define FEDGE_TESTS_INTEGRATION_TCP_RELAY_H_

// A TCP relay that can partition the network between real processes. It
// listens on 127.0.0.1 (a free port) and forwards each accepted connection,
// byte for byte in both directions, to 127.0.0.1:target_port.
//
// Blackhole() partitions: the relay keeps accepting connections but moves no
// byte on any of them, old or new, and opens no upstream connection; what the
// peers send waits (in the relay's buffers and the kernel's), as it would in
// TCP retransmission queues. Heal() resumes forwarding and opens the upstream
// side of the connections accepted meanwhile. A connection whose upstream
// cannot be opened (nothing listens) is closed.
//
// One poll(2) thread does all the I/O; the public methods are thread-safe.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace fedge::testing {

class TcpRelay {
 public:
  // Internal if the listening socket or the thread cannot be set up.
  static absl::StatusOr<std::unique_ptr<TcpRelay>> Start(uint16_t target_port);
  ~TcpRelay();  // stops the thread and closes every connection

  // tcp://127.0.0.1:PORT, for clients.
  std::string endpoint() const;

  void Blackhole();
  void Heal();

  // Connections accepted from clients, and upstream connections opened.
  uint64_t accepted() const { return accepted_.load(); }
  uint64_t upstream_opened() const { return upstream_opened_.load(); }

 private:
  struct Connection;
  TcpRelay(int listen_fd, uint16_t port, uint16_t target_port, int wake_read, int wake_write);
  void Wake();
  void Loop();

  const int listen_fd_;
  const uint16_t port_;
  const uint16_t target_port_;
  const int wake_read_, wake_write_;
  std::atomic<bool> blackhole_{false};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> upstream_opened_{0};
  std::thread thread_;
};

// The port of a tcp://HOST:PORT endpoint; 0 if there is none.
uint16_t PortOf(const std::string& endpoint);

}  // namespace fedge::testing

#endif  // FEDGE_TESTS_INTEGRATION_TCP_RELAY_H_
