#include "base/signals.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace fedge {
namespace {

// The write end of the pipe the handler reports signals through.
int signal_pipe_write = -1;

// Runs in whichever thread the kernel picked: only async-signal-safe calls.
void ForwardSignal(int sig) {
  const int saved = errno;
  const unsigned char byte = static_cast<unsigned char>(sig);
  (void)!::write(signal_pipe_write, &byte, 1);  // full pipe: the signal is dropped
  errno = saved;
}

}  // namespace

void HandleSignals(const std::vector<int>& signals, std::function<void(int signal)> on_signal) {
  // Threads that libraries started before main() (OpenBLAS starts its pool
  // when it is loaded) do not have the mask set below, and a signal the
  // kernel hands to one of them would take its default action: kill the
  // process. So every signal gets a handler that forwards it through a
  // pipe; the mask keeps it away from this thread and those it starts, and
  // the forwarding thread takes it.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  ::fcntl(fds[1], F_SETFL, O_NONBLOCK);
  signal_pipe_write = fds[1];
  sigset_t set;
  sigemptyset(&set);
  struct sigaction action = {};
  action.sa_handler = ForwardSignal;
  sigfillset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int s : signals) {
    sigaddset(&set, s);
    ::sigaction(s, &action, nullptr);
  }
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  const int read_fd = fds[0];
  std::thread([read_fd, set, on_signal = std::move(on_signal)] {
    // The one thread of ours that takes the signals: when no library thread
    // leaves them unblocked, the kernel delivers them here.
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    while (true) {
      unsigned char byte;
      const ssize_t n = ::read(read_fd, &byte, 1);
      if (n == 1) {
        on_signal(byte);
      } else if (n < 0 && errno != EINTR) {
        return;
      }
    }
  }).detach();
}

void HandleTerminationSignals(std::function<void(int signal)> on_signal) {
  HandleSignals({SIGINT, SIGTERM}, std::move(on_signal));
}

}  // namespace fedge
