#include "secure/random.h"

#include <algorithm>
#include <cstddef>

#include <openssl/rand.h>

namespace fedge::secure {
namespace {

// Stateless: RAND_bytes uses OpenSSL's thread-safe global DRBG, so one
// instance serves every thread.
class OpenSslRandom final : public SecureRandom {
 public:
  absl::Status Fill(absl::Span<uint8_t> out) override {
    // RAND_bytes takes an int length; feed larger spans in pieces.
    constexpr size_t kMaxChunk = size_t{1} << 30;
    for (size_t done = 0; done < out.size();) {
      const size_t n = std::min(kMaxChunk, out.size() - done);
      if (RAND_bytes(out.data() + done, static_cast<int>(n)) != 1) {
        return absl::InternalError("RAND_bytes failed (CSPRNG unavailable or not seeded)");
      }
      done += n;
    }
    return absl::OkStatus();
  }
};

}  // namespace

SecureRandom& SecureRandom::Default() {
  static OpenSslRandom* const instance = new OpenSslRandom();
  return *instance;
}

}  // namespace fedge::secure
