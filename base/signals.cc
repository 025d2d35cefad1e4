#include "base/signals.h"

#include <signal.h>

#include <thread>

namespace fedge {

void HandleSignals(const std::vector<int>& signals, std::function<void(int signal)> on_signal) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, on_signal = std::move(on_signal)] {
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) == 0) on_signal(sig);
    }
  }).detach();
}

void HandleTerminationSignals(std::function<void(int signal)> on_signal) {
  HandleSignals({SIGINT, SIGTERM}, std::move(on_signal));
}

}  // namespace fedge
