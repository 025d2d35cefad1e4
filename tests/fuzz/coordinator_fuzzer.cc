// Fuzz target: a coordinator in the middle of a round fed arbitrary frames
// from a registered client must never crash, and never let a refused frame
// change the model.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "base/log.h"
#include "coordinator/coordinator.h"
#include "tests/fuzz/seeds.h"

namespace {

class NullOutbox : public fedge::coordinator::Outbox {
 public:
  absl::Status Send(const std::string&, std::shared_ptr<const std::string>) override {
    return absl::OkStatus();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fedge;
  static const bool quiet = (SetMinLogLevel(LogLevel::kError), true);
  (void)quiet;
  NullOutbox outbox;
  coordinator::CoordinatorConfig cfg;
  cfg.min_clients = 2;
  cfg.quorum = 2;
  cfg.rounds = 3;
  cfg.limits.max_frame_bytes = 1 << 20;
  absl::Time now = absl::FromUnixSeconds(100);
  auto c = coordinator::Coordinator::Create(cfg, fuzz::SeedModel(), &outbox, nullptr, nullptr, now);
  if (!c.ok()) std::abort();
  (*c)->OnFrame("a", protocol::Encode(protocol::Hello{1, 10, 0, "", {}}), now);
  (*c)->OnFrame("b", protocol::Encode(protocol::Hello{2, 10, 0, "", {}}), now);
  const std::vector<float> before = (*c)->weights();
  absl::string_view frame(reinterpret_cast<const char*>(data), size);
  (*c)->OnFrame("a", frame, now);
  (*c)->OnTick(now + absl::Seconds(1));
  // One client cannot complete a round of two: the model must be unchanged.
  if ((*c)->weights() != before) std::abort();
  return 0;
}
