#ifndef FEDGE_CLIENT_MODEL_FILE_H_
#define FEDGE_CLIENT_MODEL_FILE_H_

// The on-disk format of one stored model version (model-<version>.fms), used
// by client/model_store.h. All integers little-endian:
//
//   offset  size  field
//        0     8  magic "FEDGEMS\0"
//        8     4  format version (kModelFileFormatVersion)
//       12     8  model version
//       20     8  body length in bytes
//       28     4  signature length in bytes
//       32    32  SHA-256 of bytes [0, 32) followed by bytes [64, end)
//       64     -  signature (opaque), then the body
//
// The digest covers the header fields too, so a flipped bit anywhere is
// caught. The body is a protocol Task frame (protocol/codec.h) carrying the
// model and the same model version; the round and training fields are zero.
// Reusing the codec gives the payload the same bounded, validated decoder the
// network uses; the format version lets a later release switch to a
// payload-only encoding.
//
// DecodeModelFile is a network-grade decoder: it checks the size limit and
// every length against the bytes present before allocating, and returns a
// Status (never crashes) on any input.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "protocol/model_payload.h"

namespace fedge::client {

inline constexpr char kModelFileMagic[8] = {'F', 'E', 'D', 'G', 'E', 'M', 'S', '\0'};
// 2: the model frame is protocol version 2 (manifest roles).
// 3: protocol version 3 (the model carries its task).
// 4: protocol version 6 (a prune mask; builds of protocol 4 and 5 still wrote
//    format 3, which this build refuses by its format version rather than
//    failing on the frame).
inline constexpr uint32_t kModelFileFormatVersion = 4;
inline constexpr size_t kModelFileHeaderSize = 64;
// Signatures are small (Ed25519: 64 bytes); anything larger is corruption.
inline constexpr uint32_t kMaxModelSignatureBytes = 64 * 1024;

struct ModelFile {
  uint64_t version = 0;
  protocol::ModelPayload payload;
  std::string signature;
};

// The complete file for `version`. InvalidArgument if the signature is longer
// than kMaxModelSignatureBytes.
absl::StatusOr<std::string> EncodeModelFile(uint64_t version,
                                            const protocol::ModelPayload& payload,
                                            absl::string_view signature);

// Parses and checks a whole file. Errors name the offset of the bad field:
//   ResourceExhausted   larger than `max_bytes`;
//   FailedPrecondition  a format version this build does not read;
//   DataLoss            anything else: too short, bad magic, lengths that do
//                       not add up to the file size, digest mismatch, a body
//                       that is not a valid model of the header's version.
absl::StatusOr<ModelFile> DecodeModelFile(absl::string_view bytes, size_t max_bytes);

// The digest field of an encoded file's header (bytes [32, 64)), which
// identifies its entire contents. Requires bytes.size() >= kModelFileHeaderSize.
std::string ModelFileDigest(absl::string_view bytes);

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_MODEL_FILE_H_
