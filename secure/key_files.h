#ifndef FEDGE_SECURE_KEY_FILES_H_
#define FEDGE_SECURE_KEY_FILES_H_

// Key files: the long-term keys of devices and of the coordinator, as small
// text files that fedge-keygen writes and the binaries load.
//
//   # comment lines and blank lines are ignored
//   fedge-key-file v1              the first other line: format and version
//   type device                    device | device-public | coordinator |
//                                  coordinator-public
//   curve_public <64 hex digits>   one "name value" line per key
//   curve_secret <64 hex digits>
//
//   type                fields                                    written as
//   device              curve_public curve_secret                 NAME.key, 0600
//   device-public       curve_public                              NAME.pub
//   coordinator         curve_public curve_secret                 coordinator.key, 0600
//                       signing_public signing_secret
//   coordinator-public  curve_public signing_public               coordinator.pub
//
// curve_* is an X25519 key pair for ZeroMQ CURVE (the transport's encryption
// and the device's identity); signing_* an Ed25519 key pair the coordinator
// signs global models with (signing_secret is the RFC 8032 32-byte seed).
// coordinator.pub is what devices pin.
//
// Secrets live in SecretBytes (wiped on destruction) and never appear in
// error messages or logs; text holding them is wiped once parsed or written.
// Secret files are written with mode 0600, and reading one that the group or
// others can access is refused (PermissionDenied), as ssh does.
//
// Errors name the source and line ("keys/a.key:4: curve_secret: want 64 hex
// digits, got 63 characters"). Parsing never crashes on arbitrary bytes
// (tests/fuzz/key_file_fuzzer.cc):
//   InvalidArgument     malformed text, wrong file type, a missing, unknown
//                       or repeated field, a public key that does not match
//                       its secret key;
//   FailedPrecondition  a version this build does not read;
//   PermissionDenied    a secret file readable by others;
//   NotFound etc.       as ReadFile / WriteFileAtomically (base/file_util.h).

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "secure/ed25519.h"
#include "secure/random.h"
#include "secure/secret_bytes.h"
#include "secure/x25519.h"

namespace fedge::secure {

inline constexpr char kKeyFileHeader[] = "fedge-key-file v1";

// A device's CURVE key pair (secret).
struct DeviceKey {
  X25519PublicKey curve_public{};
  SecretBytes curve_secret;  // 32 bytes
};

// A device's public key: what the coordinator enrols in its allow-list.
struct DevicePublicKey {
  X25519PublicKey curve_public{};
};

// The coordinator's keys (secret).
struct CoordinatorKey {
  X25519PublicKey curve_public{};
  SecretBytes curve_secret;  // 32 bytes
  Ed25519PublicKey signing_public{};
  SecretBytes signing_secret;  // the 32-byte Ed25519 seed
};

// The coordinator's public identity, pinned by devices.
struct CoordinatorIdentity {
  X25519PublicKey curve_public{};
  Ed25519PublicKey signing_public{};
};

// Fresh keys from `random` (SecureRandom::Default() in production).
absl::StatusOr<DeviceKey> GenerateDeviceKey(SecureRandom& random);
absl::StatusOr<CoordinatorKey> GenerateCoordinatorKey(SecureRandom& random);

DevicePublicKey PublicPart(const DeviceKey& key);
CoordinatorIdentity PublicPart(const CoordinatorKey& key);

// Text of each file type. Secret ones come back in SecretBytes.
SecretBytes FormatDeviceKey(const DeviceKey& key);
SecretBytes FormatCoordinatorKey(const CoordinatorKey& key);
std::string FormatDevicePublicKey(const DevicePublicKey& key);
std::string FormatCoordinatorIdentity(const CoordinatorIdentity& identity);

// Parses the text of a file; `origin` (usually the path) prefixes errors.
// The secret parsers check that each public key matches its secret key.
absl::StatusOr<DeviceKey> ParseDeviceKey(absl::string_view text, absl::string_view origin);
absl::StatusOr<CoordinatorKey> ParseCoordinatorKey(absl::string_view text,
                                                   absl::string_view origin);
absl::StatusOr<DevicePublicKey> ParseDevicePublicKey(absl::string_view text,
                                                     absl::string_view origin);
absl::StatusOr<CoordinatorIdentity> ParseCoordinatorIdentity(absl::string_view text,
                                                             absl::string_view origin);

// Files. Secret files are written 0600 and must be owner-only to be read;
// public files are written 0644. Writes are atomic (WriteFileAtomically).
absl::Status WriteDeviceKeyFile(const std::string& path, const DeviceKey& key);
absl::Status WriteCoordinatorKeyFile(const std::string& path, const CoordinatorKey& key);
absl::Status WriteDevicePublicKeyFile(const std::string& path, const DevicePublicKey& key);
absl::Status WriteCoordinatorIdentityFile(const std::string& path,
                                          const CoordinatorIdentity& identity);
absl::StatusOr<DeviceKey> ReadDeviceKeyFile(const std::string& path);
absl::StatusOr<CoordinatorKey> ReadCoordinatorKeyFile(const std::string& path);
absl::StatusOr<DevicePublicKey> ReadDevicePublicKeyFile(const std::string& path);
absl::StatusOr<CoordinatorIdentity> ReadCoordinatorIdentityFile(const std::string& path);

// Lowercase hex of public bytes (a key's printable identity). Never use it on
// secrets: the result is an ordinary string.
std::string PublicKeyHex(absl::Span<const uint8_t> key);
// 64 hex digits (either case) to 32 bytes. InvalidArgument, without echoing
// the input, otherwise.
absl::StatusOr<std::array<uint8_t, 32>> ParsePublicKeyHex(absl::string_view hex);

}  // namespace fedge::secure

#endif  // FEDGE_SECURE_KEY_FILES_H_
