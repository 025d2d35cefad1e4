#ifndef FEDGE_BASE_SIGNALS_H_
#define FEDGE_BASE_SIGNALS_H_

#include <functional>
#include <vector>

namespace fedge {

// Blocks `signals` in the calling thread (and so in every thread it starts
// afterwards) and runs `on_signal` on a dedicated thread when one arrives,
// outside signal context, so it may lock, log or touch sockets. Call from
// main() before starting other threads; at most once.
void HandleSignals(const std::vector<int>& signals, std::function<void(int signal)> on_signal);

// HandleSignals for SIGINT and SIGTERM.
void HandleTerminationSignals(std::function<void(int signal)> on_signal);

}  // namespace fedge

#endif  // FEDGE_BASE_SIGNALS_H_
