// Fuzz target: the verified-version file decoder (client/verified_version_store.h)
// on arbitrary bytes must return a Status, never crash or read past the input;
// whatever decodes must re-encode to the same bytes.
//
// The SHA-256 stops blind mutation at the checksum, so each input is tried
// three ways:
//   1. as a whole file;
//   2. as the fields of a file: its first 16 bytes (zero-padded) become the
//      client id and version of a valid file, so the decode must succeed;
//   3. as 2 with one byte overwritten at a position the input chooses, the
//      checksum recomputed or not (every field check past the checksum).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <string>

#include "base/sha256.h"
#include "client/verified_version_store.h"

namespace {

using fedge::client::DecodeVerifiedVersionFile;
using fedge::client::EncodeVerifiedVersionFile;
using fedge::client::kVerifiedVersionFileSize;
using fedge::client::VerifiedVersionRecord;

constexpr size_t kDigestOffset = 28;

void SetDigest(std::string& file) {
  const fedge::Sha256Digest d = fedge::Sha256(absl::string_view(file.data(), kDigestOffset));
  std::memcpy(&file[kDigestOffset], d.data(), d.size());
}

// Decodes; anything that decodes must re-encode to exactly the input.
bool Check(const std::string& file) {
  absl::StatusOr<VerifiedVersionRecord> r = DecodeVerifiedVersionFile(file);
  if (!r.ok()) return false;
  if (EncodeVerifiedVersionFile(*r) != file) std::abort();
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  Check(input);
  uint64_t fields[2] = {0, 0};
  std::memcpy(fields, input.data(), std::min<size_t>(size, sizeof(fields)));
  std::string file = EncodeVerifiedVersionFile({fields[0], fields[1]});
  if (!Check(file)) std::abort();  // a freshly encoded file must decode
  if (size >= 2) {
    const size_t at = static_cast<uint8_t>(input[size - 1]) % kVerifiedVersionFileSize;
    file[at] = input[size - 2];
    if (at < kDigestOffset && (input[size - 1] & 0x80)) SetDigest(file);
    Check(file);
  }
  return 0;
}
