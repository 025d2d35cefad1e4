#ifndef FEDGE_TESTS_SECURE_FAKE_RANDOM_H_
#define FEDGE_TESTS_SECURE_FAKE_RANDOM_H_

// Deterministic SecureRandom fakes and hex helpers for the secure/ tests.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "secure/random.h"

namespace fedge::secure::testing {

// Returns the bytes 1, 2, 3, ... (wrapping at 255 -> 0).
class CountingRandom final : public SecureRandom {
 public:
  absl::Status Fill(absl::Span<uint8_t> out) override {
    for (uint8_t& b : out) b = ++next_;
    return absl::OkStatus();
  }

 private:
  uint8_t next_ = 0;
};

// A reproducible stream from a seed (std::mt19937_64). Not cryptographic.
class SeededRandom final : public SecureRandom {
 public:
  explicit SeededRandom(uint64_t seed) : engine_(seed) {}
  absl::Status Fill(absl::Span<uint8_t> out) override {
    for (uint8_t& b : out) b = static_cast<uint8_t>(engine_());
    return absl::OkStatus();
  }

 private:
  std::mt19937_64 engine_;
};

// Always fails, as RAND_bytes would without entropy.
class FailingRandom final : public SecureRandom {
 public:
  absl::Status Fill(absl::Span<uint8_t>) override {
    return absl::InternalError("FailingRandom: no entropy");
  }
};

// Hex helpers for test vectors.
inline std::vector<uint8_t> FromHex(absl::string_view hex) {
  const std::string bytes = absl::HexStringToBytes(hex);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

inline std::string ToHex(absl::Span<const uint8_t> bytes) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace fedge::secure::testing

#endif  // FEDGE_TESTS_SECURE_FAKE_RANDOM_H_
