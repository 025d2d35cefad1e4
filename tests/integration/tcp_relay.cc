#include "tests/integration/tcp_relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <list>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace fedge::testing {
namespace {

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

constexpr size_t kChunk = 64 * 1024;

}  // namespace

// Side 0 is the client's socket, side 1 the upstream one. buffer[s] holds
// bytes read from side s and not yet written to the other side.
struct TcpRelay::Connection {
  int fd[2] = {-1, -1};
  std::string buffer[2];
  bool eof[2] = {false, false};       // side s sent FIN
  bool shut[2] = {false, false};      // FIN passed on from side s
  bool dead = false;
  ~Connection() {
    for (int f : fd) {
      if (f >= 0) ::close(f);
    }
  }
  bool finished() const { return dead || (shut[0] && shut[1]); }
};

absl::StatusOr<std::unique_ptr<TcpRelay>> TcpRelay::Start(uint16_t target_port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("relay: socket failed");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("relay: cannot listen: errno ", errno));
  }
  int wake[2];
  if (::pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    ::close(fd);
    return absl::InternalError("relay: pipe failed");
  }
  std::unique_ptr<TcpRelay> relay(
      new TcpRelay(fd, ntohs(addr.sin_port), target_port, wake[0], wake[1]));
  relay->thread_ = std::thread([r = relay.get()] { r->Loop(); });
  return relay;
}

TcpRelay::TcpRelay(int listen_fd, uint16_t port, uint16_t target_port, int wake_read,
                   int wake_write)
    : listen_fd_(listen_fd),
      port_(port),
      target_port_(target_port),
      wake_read_(wake_read),
      wake_write_(wake_write) {}

TcpRelay::~TcpRelay() {
  stop_.store(true);
  Wake();
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
  ::close(wake_read_);
  ::close(wake_write_);
}

std::string TcpRelay::endpoint() const { return absl::StrCat("tcp://127.0.0.1:", port_); }

void TcpRelay::Blackhole() {
  blackhole_.store(true);
  Wake();
}

void TcpRelay::Heal() {
  blackhole_.store(false);
  Wake();
}

void TcpRelay::Wake() {
  const char b = 1;
  ssize_t ignored = ::write(wake_write_, &b, 1);  // a full pipe already wakes the loop
  (void)ignored;
}

void TcpRelay::Loop() {
  std::list<Connection> conns;
  std::vector<pollfd> fds;
  std::vector<std::pair<Connection*, int>> owner;  // per pollfd after the first two
  char chunk[kChunk];
  while (!stop_.load()) {
    const bool hole = blackhole_.load();
    if (!hole) {
      for (Connection& c : conns) {
        if (c.fd[1] >= 0 || c.dead) continue;
        // Loopback: a blocking connect completes (or is refused) at once.
        c.fd[1] = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in to = Loopback(target_port_);
        if (c.fd[1] < 0 || ::connect(c.fd[1], reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
          c.dead = true;
          continue;
        }
        ::fcntl(c.fd[1], F_SETFL, ::fcntl(c.fd[1], F_GETFL) | O_NONBLOCK);
        upstream_opened_.fetch_add(1);
      }
    }
    conns.remove_if([](const Connection& c) { return c.finished(); });

    fds.assign({{wake_read_, POLLIN, 0}, {listen_fd_, POLLIN, 0}});
    owner.clear();
    if (!hole) {
      for (Connection& c : conns) {
        for (int s = 0; s < 2; ++s) {
          short events = 0;
          if (c.buffer[s].empty() && !c.eof[s]) events |= POLLIN;  // read side s
          if (!c.buffer[1 - s].empty()) events |= POLLOUT;        // write to side s
          if (events == 0) continue;
          fds.push_back({c.fd[s], events, 0});
          owner.emplace_back(&c, s);
        }
      }
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents) {
      while (::read(wake_read_, chunk, sizeof(chunk)) > 0) {
      }
    }
    if (fds[1].revents & POLLIN) {
      while (true) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        conns.emplace_back();
        conns.back().fd[0] = fd;
        accepted_.fetch_add(1);
      }
    }
    if (blackhole_.load()) continue;  // partitioned since the poll: move nothing
    for (size_t i = 2; i < fds.size(); ++i) {
      Connection& c = *owner[i - 2].first;
      const int s = owner[i - 2].second;
      if (c.dead) continue;
      const short ev = fds[i].revents;
      if ((fds[i].events & POLLIN) && (ev & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = ::read(c.fd[s], chunk, sizeof(chunk));
        if (n > 0) {
          c.buffer[s].append(chunk, static_cast<size_t>(n));
        } else if (n == 0) {
          c.eof[s] = true;
        } else if (errno != EAGAIN && errno != EINTR) {
          c.dead = true;
          continue;
        }
      }
      std::string& out = c.buffer[1 - s];
      if ((fds[i].events & POLLOUT) && (ev & (POLLOUT | POLLERR | POLLHUP)) && !out.empty()) {
        ssize_t n = ::send(c.fd[s], out.data(), out.size(), MSG_NOSIGNAL);
        if (n > 0) {
          out.erase(0, static_cast<size_t>(n));
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          c.dead = true;
          continue;
        }
      }
    }
    for (Connection& c : conns) {
      for (int s = 0; s < 2 && !c.dead; ++s) {
        if (c.eof[s] && c.buffer[s].empty() && !c.shut[s] && c.fd[1 - s] >= 0) {
          ::shutdown(c.fd[1 - s], SHUT_WR);
          c.shut[s] = true;
        }
      }
    }
  }
}

uint16_t PortOf(const std::string& endpoint) {
  const size_t colon = endpoint.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(endpoint.substr(colon + 1), &port) ||
      port > 65535) {
    return 0;
  }
  return static_cast<uint16_t>(port);
}

}  // namespace fedge::testing
