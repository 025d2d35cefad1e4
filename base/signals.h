#ifndef FEDGE_BASE_SIGNALS_H_
#define FEDGE_BASE_SIGNALS_H_

#include <functional>
#include <vector>

namespace fedge {

// Runs `on_signal` on a dedicated thread when one of `signals` arrives,
// outside signal context, so it may lock, log or touch sockets. The signals
// are blocked in the calling thread (and so in every thread it starts
// afterwards); one delivered to a thread started earlier, by a library
// before main(), is forwarded by a handler instead of killing the process.
// Call from main() before starting other threads; at most once.
void HandleSignals(const std::vector<int>& signals, std::function<void(int signal)> on_signal);

// HandleSignals for SIGINT and SIGTERM.
void HandleTerminationSignals(std::function<void(int signal)> on_signal);

}  // namespace fedge

#endif  // FEDGE_BASE_SIGNALS_H_
