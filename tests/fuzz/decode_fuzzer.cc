// Fuzz target: protocol::Decode on arbitrary bytes must return a Status, never
// crash, hang or allocate past the limits; whatever decodes must re-encode to
// bytes that decode again.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fedge::protocol::DecodeLimits limits;
  limits.max_frame_bytes = 1 << 20;
  absl::string_view frame(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<fedge::protocol::Message> m = fedge::protocol::Decode(frame, limits);
  if (!m.ok()) return 0;
  std::string again = fedge::protocol::Encode(*m);
  if (!fedge::protocol::Decode(again, limits).ok()) std::abort();
  return 0;
}
