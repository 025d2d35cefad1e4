// Fuzz target: the model store's file parser (client/model_file.h) on
// arbitrary bytes must return a Status, never crash, hang or allocate past
// the size limit; whatever decodes must re-encode to a file that decodes to
// the same model.
//
// The SHA-256 in the header stops blind mutation at the digest check, so
// each input is tried three ways:
//   1. as a whole file (header checks);
//   2. as the body of a file whose header and digest are made valid (the
//      body decoder; the seed Task frame makes a valid file);
//   3. as 2 with one header byte overwritten, chosen by the input, and the
//      digest recomputed or not (every header field past the digest).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include <openssl/sha.h>

#include "client/model_file.h"

namespace {

using fedge::client::DecodeModelFile;
using fedge::client::kModelFileHeaderSize;

constexpr size_t kMaxBytes = 1 << 20;

void PutLe(uint64_t v, size_t bytes, char* out) {
  for (size_t i = 0; i < bytes; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

void SetDigest(std::string& file) {
  std::string covered = file.substr(0, 32) + file.substr(kModelFileHeaderSize);
  SHA256(reinterpret_cast<const unsigned char*>(covered.data()), covered.size(),
         reinterpret_cast<unsigned char*>(&file[32]));
}

// A well-formed header around `body`; the model version is copied from where
// a Task frame keeps it (after the 16-byte envelope and the round) so that
// the seed frames make valid files.
std::string Wrap(absl::string_view body) {
  const std::string signature(body.size() % 5, 's');
  uint64_t version = 0;
  for (size_t i = 0; i < 8 && 24 + i < body.size(); ++i) {
    version |= uint64_t{static_cast<uint8_t>(body[24 + i])} << (8 * i);
  }
  std::string file(kModelFileHeaderSize, '\0');
  std::memcpy(file.data(), fedge::client::kModelFileMagic, 8);
  PutLe(fedge::client::kModelFileFormatVersion, 4, &file[8]);
  PutLe(version, 8, &file[12]);
  PutLe(body.size(), 8, &file[20]);
  PutLe(signature.size(), 4, &file[28]);
  file += signature;
  file.append(body.data(), body.size());
  SetDigest(file);
  return file;
}

void Check(absl::string_view file) {
  absl::StatusOr<fedge::client::ModelFile> m = DecodeModelFile(file, kMaxBytes);
  if (!m.ok()) return;
  absl::StatusOr<std::string> again =
      fedge::client::EncodeModelFile(m->version, m->payload, m->signature);
  if (!again.ok()) std::abort();
  absl::StatusOr<fedge::client::ModelFile> m2 = DecodeModelFile(*again, kMaxBytes);
  if (!m2.ok() || m2->version != m->version || m2->signature != m->signature ||
      m2->payload.manifest != m->payload.manifest ||
      m2->payload.architecture_id != m->payload.architecture_id ||
      m2->payload.architecture != m->payload.architecture ||
      m2->payload.weights.size() != m->payload.weights.size() ||
      std::memcmp(m2->payload.weights.data(), m->payload.weights.data(),
                  m->payload.weights.size() * sizeof(float)) != 0) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  Check(input);
  std::string file = Wrap(input);
  Check(file);
  if (size >= 2) {
    const size_t at = static_cast<uint8_t>(input[size - 1]) % kModelFileHeaderSize;
    file[at] = input[size - 2];
    if (at < 32 && (input[size - 1] & 0x80)) SetDigest(file);
    Check(file);
  }
  return 0;
}
