#include "client/model_file.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <variant>

#include <openssl/evp.h>

#include "absl/strings/str_cat.h"
#include "base/little_endian.h"
#include "protocol/codec.h"
#include "protocol/envelope.h"
#include "protocol/messages.h"

namespace fedge::client {
namespace {

// Header field offsets (see model_file.h).
constexpr size_t kFormatOffset = 8;
constexpr size_t kVersionOffset = 12;
constexpr size_t kBodyLengthOffset = 20;
constexpr size_t kSignatureLengthOffset = 28;
constexpr size_t kDigestOffset = 32;
constexpr size_t kDigestSize = 32;
static_assert(kDigestOffset + kDigestSize == kModelFileHeaderSize);

// SHA-256 of header bytes [0, 32) followed by everything after the header,
// without copying the (model-sized) rest.
std::string FileDigest(absl::string_view file) {
  struct Deleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Deleter> ctx(EVP_MD_CTX_new());
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // OpenSSL fails here only on allocation failure: our bug or an OOM, not bad input.
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), file.data(), kDigestOffset) != 1 ||
      EVP_DigestUpdate(ctx.get(), file.data() + kModelFileHeaderSize,
                       file.size() - kModelFileHeaderSize) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out, &len) != 1 || len != kDigestSize) {
    std::abort();
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

absl::Status Corrupt(size_t offset, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("model file: at offset ", offset, ": ", what));
}

}  // namespace

absl::StatusOr<std::string> EncodeModelFile(uint64_t version,
                                            const protocol::ModelPayload& payload,
                                            absl::string_view signature) {
  if (signature.size() > kMaxModelSignatureBytes) {
    return absl::InvalidArgumentError(absl::StrCat("model signature is ", signature.size(),
                                                   " bytes, the limit is ",
                                                   kMaxModelSignatureBytes));
  }
  protocol::Task task;
  task.model_version = version;
  task.model = payload;
  const std::string body = protocol::Encode(task);
  if (body.size() - protocol::kEnvelopeSize > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model version ", version, " encodes to ", body.size(),
                     " bytes, more than a frame can hold"));
  }
  std::string file(kModelFileHeaderSize, '\0');
  file.reserve(kModelFileHeaderSize + signature.size() + body.size());
  std::memcpy(file.data(), kModelFileMagic, sizeof(kModelFileMagic));
  PutLe(kModelFileFormatVersion, 4, &file[kFormatOffset]);
  PutLe(version, 8, &file[kVersionOffset]);
  PutLe(body.size(), 8, &file[kBodyLengthOffset]);
  PutLe(signature.size(), 4, &file[kSignatureLengthOffset]);
  file.append(signature.data(), signature.size());
  file.append(body);
  const std::string digest = FileDigest(file);
  std::memcpy(&file[kDigestOffset], digest.data(), kDigestSize);
  return file;
}

absl::StatusOr<ModelFile> DecodeModelFile(absl::string_view bytes, size_t max_bytes) {
  if (bytes.size() > max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "model file: ", bytes.size(), " bytes, more than the limit of ", max_bytes));
  }
  if (bytes.size() < kModelFileHeaderSize) {
    return Corrupt(bytes.size(), absl::StrCat("file ends after ", bytes.size(),
                                              " bytes, inside the ", kModelFileHeaderSize,
                                              "-byte header (truncated)"));
  }
  if (std::memcmp(bytes.data(), kModelFileMagic, sizeof(kModelFileMagic)) != 0) {
    return Corrupt(0, "bad magic, not a fedge model file");
  }
  const uint64_t format = GetLe(&bytes[kFormatOffset], 4);
  if (format != kModelFileFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("model file: at offset ", kFormatOffset, ": format version ", format,
                     ", this build reads ", kModelFileFormatVersion));
  }
  const uint64_t version = GetLe(&bytes[kVersionOffset], 8);
  const uint64_t body_length = GetLe(&bytes[kBodyLengthOffset], 8);
  const uint64_t signature_length = GetLe(&bytes[kSignatureLengthOffset], 4);
  if (signature_length > kMaxModelSignatureBytes) {
    return Corrupt(kSignatureLengthOffset,
                   absl::StrCat("signature length ", signature_length, " exceeds the limit of ",
                                kMaxModelSignatureBytes));
  }
  // Both lengths are bounded (u32 and the file size), so nothing overflows.
  const uint64_t after_header = bytes.size() - kModelFileHeaderSize;
  if (signature_length > after_header || body_length != after_header - signature_length) {
    return Corrupt(kBodyLengthOffset,
                   absl::StrCat("header declares a ", signature_length,
                                "-byte signature and a ", body_length, "-byte body, but ",
                                after_header, " bytes follow the header (truncated?)"));
  }
  if (FileDigest(bytes) != bytes.substr(kDigestOffset, kDigestSize)) {
    return Corrupt(kDigestOffset, "SHA-256 digest does not match the contents");
  }
  const size_t body_offset = kModelFileHeaderSize + signature_length;
  protocol::DecodeLimits limits;
  limits.max_frame_bytes = static_cast<size_t>(body_length);
  absl::StatusOr<protocol::Message> message =
      protocol::Decode(bytes.substr(body_offset), limits);
  if (!message.ok()) {
    return Corrupt(body_offset, absl::StrCat("body: ", message.status().message()));
  }
  auto* task = std::get_if<protocol::Task>(&*message);
  if (task == nullptr) return Corrupt(body_offset, "body is not a model (Task) frame");
  if (task->model_version != version) {
    return Corrupt(body_offset, absl::StrCat("body holds model version ", task->model_version,
                                             ", the header says ", version));
  }
  ModelFile out;
  out.version = version;
  out.signature.assign(bytes.data() + kModelFileHeaderSize, signature_length);
  out.payload = std::move(task->model);
  return out;
}

std::string ModelFileDigest(absl::string_view bytes) {
  return std::string(bytes.substr(kDigestOffset, kDigestSize));
}

}  // namespace fedge::client
