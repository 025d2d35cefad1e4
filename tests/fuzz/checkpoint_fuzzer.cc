// Fuzz target: the coordinator checkpoint decoder (coordinator/checkpoint.h)
// on arbitrary bytes must return a Status, never crash, hang or allocate past
// the size limit; whatever decodes must re-encode to a file that decodes to
// the same checkpoint.
//
// The SHA-256 in the header stops blind mutation at the digest check, so
// each input is tried as:
//   1. a whole file (header checks);
//   2. the body of a file whose header and digest are made valid (the body's
//      field decoder);
//   3. the model frame of a body whose other fields are valid (the model
//      decoder; the seed Task frames make valid checkpoints);
//   4. 3 with one header byte overwritten, chosen by the input, and the
//      digest recomputed or not.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/sha256.h"
#include "coordinator/checkpoint.h"

namespace {

using fedge::coordinator::Checkpoint;
using fedge::coordinator::DecodeCheckpoint;
using fedge::coordinator::kCheckpointHeaderSize;

constexpr size_t kMaxBytes = 1 << 20;

void PutLe(uint64_t v, size_t bytes, std::string* out) {
  for (size_t i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void SetDigest(std::string& file) {
  const fedge::Sha256Digest inner =
      fedge::Sha256(absl::string_view(file).substr(kCheckpointHeaderSize));
  std::string covered = file.substr(0, 32);
  covered.append(reinterpret_cast<const char*>(inner.data()), inner.size());
  const fedge::Sha256Digest outer = fedge::Sha256(covered);
  std::memcpy(&file[32], outer.data(), outer.size());
}

std::string WrapBody(absl::string_view body, uint64_t round) {
  std::string file(fedge::coordinator::kCheckpointMagic, 8);
  PutLe(fedge::coordinator::kCheckpointFormatVersion, 4, &file);
  PutLe(round, 8, &file);
  PutLe(body.size(), 8, &file);
  PutLe(0, 4, &file);
  file.append(32, '\0');
  file.append(body.data(), body.size());
  SetDigest(file);
  return file;
}

// Valid fields before `frame`; the model version is copied from where a Task
// frame keeps it (after the 16-byte envelope and the round).
std::string BodyAround(absl::string_view frame) {
  uint64_t version = 0;
  for (size_t i = 0; i < 8 && 24 + i < frame.size(); ++i) {
    version |= uint64_t{static_cast<uint8_t>(frame[24 + i])} << (8 * i);
  }
  std::string body;
  PutLe(frame.size() % 7, 8, &body);  // completed rounds
  PutLe(version, 8, &body);
  PutLe(1, 4, &body);                 // consecutive failures
  PutLe(3, 8, &body);                 // metrics lines before
  PutLe(0, 4, &body);                 // optimiser kind
  PutLe(0, 4, &body);                 // no optimiser state
  PutLe(8, 4, &body);                 // a two-float control variate
  PutLe(0x3f800000, 4, &body);
  PutLe(frame.size(), 4, &body);
  PutLe(3, 4, &body);
  body += "1 2";                      // generator
  PutLe(2, 4, &body);
  body += "{}";                       // metrics line
  PutLe(1, 4, &body);
  PutLe(42, 8, &body);
  PutLe(100, 8, &body);               // one client
  body.append(frame.data(), frame.size());
  return body;
}

void Check(absl::string_view file) {
  absl::StatusOr<Checkpoint> c = DecodeCheckpoint(file, kMaxBytes);
  if (!c.ok()) return;
  absl::StatusOr<std::string> again = fedge::coordinator::EncodeCheckpoint(*c);
  if (!again.ok()) std::abort();
  absl::StatusOr<Checkpoint> c2 = DecodeCheckpoint(*again, kMaxBytes);
  const auto& a = c->coordinator;
  if (!c2.ok()) std::abort();
  const auto& b = c2->coordinator;
  if (a.round != b.round || a.completed_rounds != b.completed_rounds ||
      a.model_version != b.model_version || a.consecutive_failures != b.consecutive_failures ||
      a.optimizer.kind != b.optimizer.kind || a.optimizer.state != b.optimizer.state ||
      a.cohort_rng != b.cohort_rng || !(a.clients == b.clients) ||
      c->metrics_lines_before != c2->metrics_lines_before ||
      c->round_metrics_line != c2->round_metrics_line || a.model.manifest != b.model.manifest ||
      a.model.architecture_id != b.model.architecture_id ||
      a.model.architecture != b.model.architecture ||
      a.model.weights.size() != b.model.weights.size() ||
      a.control_variate.size() != b.control_variate.size() ||
      std::memcmp(a.control_variate.data(), b.control_variate.data(),
                  a.control_variate.size() * sizeof(float)) != 0 ||
      std::memcmp(a.model.weights.data(), b.model.weights.data(),
                  a.model.weights.size() * sizeof(float)) != 0) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  Check(input);
  Check(WrapBody(input, size % 5));
  std::string file = WrapBody(BodyAround(input), 7);
  Check(file);
  if (size >= 2) {
    const size_t at = static_cast<uint8_t>(input[size - 1]) % kCheckpointHeaderSize;
    file[at] = input[size - 2];
    if (at < 32 && (input[size - 1] & 0x80)) SetDigest(file);
    Check(file);
  }
  return 0;
}
