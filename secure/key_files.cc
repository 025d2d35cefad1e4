#include "secure/key_files.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"
#include "base/status_macros.h"

namespace fedge::secure {
namespace {

constexpr size_t kMaxKeyFileBytes = 64 * 1024;
constexpr char kHexDigits[] = "0123456789abcdef";

constexpr char kTypeDevice[] = "device";
constexpr char kTypeDevicePublic[] = "device-public";
constexpr char kTypeCoordinator[] = "coordinator";
constexpr char kTypeCoordinatorPublic[] = "coordinator-public";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes exactly out.size() bytes of hex. The message never quotes `hex`,
// which may be a secret.
absl::Status DecodeHex(absl::string_view hex, absl::Span<uint8_t> out) {
  if (hex.size() != 2 * out.size()) {
    return absl::InvalidArgumentError(absl::StrCat("want ", 2 * out.size(),
                                                   " hex digits, got ", hex.size(),
                                                   " characters"));
  }
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("character ", 2 * i + (hi < 0 ? 1 : 2), " is not a hex digit"));
    }
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return absl::OkStatus();
}

// A word from the file, quoted in errors only when it cannot be key material
// (hex): letters, '_' and '-' only, or a short token with a non-hex letter.
std::string Quoted(absl::string_view name) {
  auto is = [&](auto pred) { return std::all_of(name.begin(), name.end(), pred); };
  const bool words = is([](char c) { return (c >= 'a' && c <= 'z') || c == '_' || c == '-'; });
  const bool short_token = name.size() <= 8 && is([](char c) {
                             return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.';
                           });
  const bool hex_only = is([](char c) { return HexValue(c) >= 0; });
  const bool safe = !name.empty() && name.size() <= 32 && !hex_only && (words || short_token);
  return safe ? absl::StrCat("'", name, "'") : std::string("(not shown)");
}

// The "name value" lines of one key file. Values point into the parsed text.
class KeyFileFields {
 public:
  // Parses `text` as a key file of `type` holding exactly `names` (plus type).
  static absl::StatusOr<KeyFileFields> Parse(absl::string_view text, absl::string_view origin,
                                             absl::string_view type,
                                             std::initializer_list<const char*> names) {
    KeyFileFields f;
    f.origin_ = std::string(origin);
    bool header = false;
    int line_no = 0;
    for (absl::string_view rest = text; !rest.empty();) {
      const size_t nl = rest.find('\n');
      absl::string_view line = rest.substr(0, nl);
      rest = nl == absl::string_view::npos ? absl::string_view() : rest.substr(nl + 1);
      ++line_no;
      line = absl::StripAsciiWhitespace(line);
      if (line.empty() || line[0] == '#') continue;
      const std::string where = absl::StrCat(origin, ":", line_no, ": ");
      if (!header) {
        if (line == kKeyFileHeader) {
          header = true;
          continue;
        }
        if (absl::ConsumePrefix(&line, "fedge-key-file ")) {
          return absl::FailedPreconditionError(absl::StrCat(
              where, "key file version ", Quoted(line), " is not supported (this build reads '",
              kKeyFileHeader, "')"));
        }
        return absl::InvalidArgumentError(absl::StrCat(
            where, "not a fedge key file (the first line must be '", kKeyFileHeader, "')"));
      }
      const size_t space = line.find_first_of(" \t");
      if (space == absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "want 'name value', found no value"));
      }
      const absl::string_view name = line.substr(0, space);
      const absl::string_view value = absl::StripLeadingAsciiWhitespace(line.substr(space));
      if (value.find_first_of(" \t") != absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "field ", Quoted(name), " has more than one value"));
      }
      const bool known = name == "type" || std::any_of(names.begin(), names.end(),
                                                      [&](const char* n) { return name == n; });
      if (!known) {
        return absl::InvalidArgumentError(absl::StrCat(where, "unknown field ", Quoted(name),
                                                       " in a '", type, "' key file (want ",
                                                       absl::StrJoin(names, ", "), ")"));
      }
      if (!f.fields_.emplace(std::string(name), Field{value, line_no}).second) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "field ", Quoted(name), " appears twice"));
      }
    }
    if (!header) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": empty; not a fedge key file (want '", kKeyFileHeader, "')"));
    }
    auto t = f.fields_.find("type");
    if (t == f.fields_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(origin, ": missing field 'type'"));
    }
    if (t->second.value != type) {
      return absl::InvalidArgumentError(absl::StrCat(
          origin, ":", t->second.line, ": this is a ", Quoted(t->second.value),
          " key file, want a '", type, "' one"));
    }
    for (const char* n : names) {
      if (!f.fields_.count(n)) {
        return absl::InvalidArgumentError(absl::StrCat(origin, ": missing field '", n, "'"));
      }
    }
    return f;
  }

  absl::Status Decode(const char* name, absl::Span<uint8_t> out) const {
    const Field& field = fields_.at(name);
    absl::Status s = DecodeHex(field.value, out);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin_, ":", field.line, ": ", name, ": ", s.message()));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<SecretBytes> DecodeSecret(const char* name) const {
    SecretBytes out(32);
    FEDGE_RETURN_IF_ERROR(Decode(name, out.mutable_span()));
    return out;
  }

  const std::string& origin() const { return origin_; }

 private:
  struct Field {
    absl::string_view value;
    int line = 0;
  };
  std::string origin_;
  std::map<std::string, Field> fields_;
};

// Builds the text of a secret file in one fixed buffer (never reallocated, so
// no stray copy is left in freed memory), then hands it over as SecretBytes.
class SecretText {
 public:
  void Append(absl::string_view s) {
    const size_t n = std::min(s.size(), buffer_.size() - used_);
    std::memcpy(buffer_.data() + used_, s.data(), n);
    used_ += n;
  }
  void AppendHex(absl::Span<const uint8_t> bytes) {
    for (uint8_t b : bytes) {
      const char pair[2] = {kHexDigits[b >> 4], kHexDigits[b & 15]};
      Append(absl::string_view(pair, 2));
    }
  }
  void AppendField(absl::string_view name, absl::Span<const uint8_t> bytes) {
    Append(name);
    Append(" ");
    AppendHex(bytes);
    Append("\n");
  }
  SecretBytes Take() const { return SecretBytes::CopyOf(buffer_.span().subspan(0, used_)); }

 private:
  SecretBytes buffer_{1024};
  size_t used_ = 0;
};

absl::string_view View(const SecretBytes& b) {
  return absl::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

// Reads a secret file, parses it and wipes the text.
template <typename Parsed>
absl::StatusOr<Parsed> ReadSecret(const std::string& path,
                                  absl::StatusOr<Parsed> (*parse)(absl::string_view,
                                                                  absl::string_view)) {
  FEDGE_ASSIGN_OR_RETURN(std::string text, ReadOwnerOnlyFile(path, kMaxKeyFileBytes));
  absl::StatusOr<Parsed> parsed = parse(text, path);
  OPENSSL_cleanse(text.data(), text.size());
  return parsed;
}

absl::Status CheckCurvePair(const KeyFileFields& f, const X25519PublicKey& pub,
                            const SecretBytes& secret) {
  FEDGE_ASSIGN_OR_RETURN(X25519KeyPair pair, X25519KeyPair::FromPrivateKey(secret.span()));
  if (pair.public_key() != pub) {
    return absl::InvalidArgumentError(absl::StrCat(
        f.origin(), ": curve_public does not match curve_secret (corrupted or edited file?)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DeviceKey> GenerateDeviceKey(SecureRandom& random) {
  FEDGE_ASSIGN_OR_RETURN(X25519KeyPair pair, X25519KeyPair::Create(random));
  DeviceKey key;
  key.curve_public = pair.public_key();
  FEDGE_ASSIGN_OR_RETURN(key.curve_secret, pair.ExportPrivateKey());
  return key;
}

absl::StatusOr<CoordinatorKey> GenerateCoordinatorKey(SecureRandom& random) {
  FEDGE_ASSIGN_OR_RETURN(X25519KeyPair pair, X25519KeyPair::Create(random));
  CoordinatorKey key;
  key.curve_public = pair.public_key();
  FEDGE_ASSIGN_OR_RETURN(key.curve_secret, pair.ExportPrivateKey());
  key.signing_secret = SecretBytes(kEd25519SeedSize);
  FEDGE_RETURN_IF_ERROR(random.Fill(key.signing_secret.mutable_span()));
  FEDGE_ASSIGN_OR_RETURN(Ed25519SigningKey signer,
                         Ed25519SigningKey::FromSeed(key.signing_secret.span()));
  key.signing_public = signer.public_key();
  return key;
}

DevicePublicKey PublicPart(const DeviceKey& key) { return DevicePublicKey{key.curve_public}; }

CoordinatorIdentity PublicPart(const CoordinatorKey& key) {
  return CoordinatorIdentity{key.curve_public, key.signing_public};
}

SecretBytes FormatDeviceKey(const DeviceKey& key) {
  SecretText t;
  t.Append("# fedge device key. SECRET: keep it on the device, mode 0600.\n");
  t.Append(kKeyFileHeader);
  t.Append("\ntype device\n");
  t.AppendField("curve_public", key.curve_public);
  t.AppendField("curve_secret", key.curve_secret.span());
  return t.Take();
}

SecretBytes FormatCoordinatorKey(const CoordinatorKey& key) {
  SecretText t;
  t.Append("# fedge coordinator key. SECRET: keep it on the coordinator, mode 0600.\n");
  t.Append(kKeyFileHeader);
  t.Append("\ntype coordinator\n");
  t.AppendField("curve_public", key.curve_public);
  t.AppendField("curve_secret", key.curve_secret.span());
  t.AppendField("signing_public", key.signing_public);
  t.AppendField("signing_secret", key.signing_secret.span());
  return t.Take();
}

std::string FormatDevicePublicKey(const DevicePublicKey& key) {
  return absl::StrCat("# fedge device public key: enrol it with fedge-keygen enrol.\n",
                      kKeyFileHeader, "\ntype device-public\ncurve_public ",
                      PublicKeyHex(key.curve_public), "\n");
}

std::string FormatCoordinatorIdentity(const CoordinatorIdentity& identity) {
  return absl::StrCat("# fedge coordinator public identity: devices pin it "
                      "(fedge-client --coordinator_pub).\n",
                      kKeyFileHeader, "\ntype coordinator-public\ncurve_public ",
                      PublicKeyHex(identity.curve_public), "\nsigning_public ",
                      PublicKeyHex(identity.signing_public), "\n");
}

absl::StatusOr<DeviceKey> ParseDeviceKey(absl::string_view text, absl::string_view origin) {
  FEDGE_ASSIGN_OR_RETURN(KeyFileFields f, KeyFileFields::Parse(text, origin, kTypeDevice,
                                                               {"curve_public", "curve_secret"}));
  DeviceKey key;
  FEDGE_RETURN_IF_ERROR(f.Decode("curve_public", absl::MakeSpan(key.curve_public)));
  FEDGE_ASSIGN_OR_RETURN(key.curve_secret, f.DecodeSecret("curve_secret"));
  FEDGE_RETURN_IF_ERROR(CheckCurvePair(f, key.curve_public, key.curve_secret));
  return key;
}

absl::StatusOr<CoordinatorKey> ParseCoordinatorKey(absl::string_view text,
                                                   absl::string_view origin) {
  FEDGE_ASSIGN_OR_RETURN(
      KeyFileFields f,
      KeyFileFields::Parse(text, origin, kTypeCoordinator,
                           {"curve_public", "curve_secret", "signing_public", "signing_secret"}));
  CoordinatorKey key;
  FEDGE_RETURN_IF_ERROR(f.Decode("curve_public", absl::MakeSpan(key.curve_public)));
  FEDGE_ASSIGN_OR_RETURN(key.curve_secret, f.DecodeSecret("curve_secret"));
  FEDGE_RETURN_IF_ERROR(f.Decode("signing_public", absl::MakeSpan(key.signing_public)));
  FEDGE_ASSIGN_OR_RETURN(key.signing_secret, f.DecodeSecret("signing_secret"));
  FEDGE_RETURN_IF_ERROR(CheckCurvePair(f, key.curve_public, key.curve_secret));
  FEDGE_ASSIGN_OR_RETURN(Ed25519SigningKey signer,
                         Ed25519SigningKey::FromSeed(key.signing_secret.span()));
  if (signer.public_key() != key.signing_public) {
    return absl::InvalidArgumentError(absl::StrCat(
        origin, ": signing_public does not match signing_secret (corrupted or edited file?)"));
  }
  return key;
}

absl::StatusOr<DevicePublicKey> ParseDevicePublicKey(absl::string_view text,
                                                     absl::string_view origin) {
  FEDGE_ASSIGN_OR_RETURN(KeyFileFields f,
                         KeyFileFields::Parse(text, origin, kTypeDevicePublic, {"curve_public"}));
  DevicePublicKey key;
  FEDGE_RETURN_IF_ERROR(f.Decode("curve_public", absl::MakeSpan(key.curve_public)));
  return key;
}

absl::StatusOr<CoordinatorIdentity> ParseCoordinatorIdentity(absl::string_view text,
                                                             absl::string_view origin) {
  FEDGE_ASSIGN_OR_RETURN(KeyFileFields f,
                         KeyFileFields::Parse(text, origin, kTypeCoordinatorPublic,
                                              {"curve_public", "signing_public"}));
  CoordinatorIdentity id;
  FEDGE_RETURN_IF_ERROR(f.Decode("curve_public", absl::MakeSpan(id.curve_public)));
  FEDGE_RETURN_IF_ERROR(f.Decode("signing_public", absl::MakeSpan(id.signing_public)));
  return id;
}

absl::Status WriteDeviceKeyFile(const std::string& path, const DeviceKey& key) {
  SecretBytes text = FormatDeviceKey(key);
  return WriteFileAtomically(path, View(text), 0600);
}

absl::Status WriteCoordinatorKeyFile(const std::string& path, const CoordinatorKey& key) {
  SecretBytes text = FormatCoordinatorKey(key);
  return WriteFileAtomically(path, View(text), 0600);
}

absl::Status WriteDevicePublicKeyFile(const std::string& path, const DevicePublicKey& key) {
  return WriteFileAtomically(path, FormatDevicePublicKey(key), 0644);
}

absl::Status WriteCoordinatorIdentityFile(const std::string& path,
                                          const CoordinatorIdentity& identity) {
  return WriteFileAtomically(path, FormatCoordinatorIdentity(identity), 0644);
}

absl::StatusOr<DeviceKey> ReadDeviceKeyFile(const std::string& path) {
  return ReadSecret<DeviceKey>(path, &ParseDeviceKey);
}

absl::StatusOr<CoordinatorKey> ReadCoordinatorKeyFile(const std::string& path) {
  return ReadSecret<CoordinatorKey>(path, &ParseCoordinatorKey);
}

absl::StatusOr<DevicePublicKey> ReadDevicePublicKeyFile(const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxKeyFileBytes));
  return ParseDevicePublicKey(text, path);
}

absl::StatusOr<CoordinatorIdentity> ReadCoordinatorIdentityFile(const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxKeyFileBytes));
  return ParseCoordinatorIdentity(text, path);
}

std::string PublicKeyHex(absl::Span<const uint8_t> key) {
  std::string out;
  out.reserve(2 * key.size());
  for (uint8_t b : key) {
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 15]);
  }
  return out;
}

absl::StatusOr<std::array<uint8_t, 32>> ParsePublicKeyHex(absl::string_view hex) {
  std::array<uint8_t, 32> out{};
  FEDGE_RETURN_IF_ERROR(DecodeHex(hex, absl::MakeSpan(out)));
  return out;
}

}  // namespace fedge::secure
