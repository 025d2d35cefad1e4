#ifndef FEDGE_COORDINATOR_STRATEGY_FLAGS_H_
#define FEDGE_COORDINATOR_STRATEGY_FLAGS_H_

// The --strategy family of command-line flags, shared by fedge-coordinator
// (which runs the strategy) and fedge-sim (which checks them at once and
// passes them on to the coordinator it starts), so both spell and document
// them the same way.

#include <string>
#include <vector>

#include "coordinator/strategy.h"

namespace fedge::coordinator {

// StrategyOptions from the parsed flags.
StrategyOptions StrategyOptionsFromFlags();

// The same flags as "--name=value" arguments, to start a fedge-coordinator
// with them.
std::vector<std::string> StrategyFlagArgs();

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_STRATEGY_FLAGS_H_
