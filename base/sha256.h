#ifndef FEDGE_BASE_SHA256_H_
#define FEDGE_BASE_SHA256_H_

#include <array>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

namespace fedge {

// SHA-256 of `data` through OpenSSL's EVP interface, as 64 lowercase hex digits.
std::string Sha256Hex(absl::string_view data);

// The raw 32-byte SHA-256 digest of `data`.
using Sha256Digest = std::array<uint8_t, 32>;
Sha256Digest Sha256(absl::string_view data);

}  // namespace fedge

#endif  // FEDGE_BASE_SHA256_H_
