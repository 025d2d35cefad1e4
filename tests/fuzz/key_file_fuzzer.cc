// Fuzz target: the key-file and allow-list parsers (secure/key_files.h,
// secure/allow_list.h) on arbitrary text must return a Status, never crash or
// hang; whatever parses must format back to text that parses to the same keys.
//
// Blind mutation rarely builds a valid key file, so each input is tried:
//   1. as a whole file, by every parser;
//   2. as a small edit of a valid file, so the parsers' later checks (hex,
//      field sets, key consistency) are reached too: a hash of the input
//      picks the kind of file, an offset, how many bytes (0-15) to replace
//      there, and which 16 bytes of the input replace them (half the time
//      mapped onto the characters key files are made of). The seeds are
//      protocol frames; any change to them moves the edit.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "secure/allow_list.h"
#include "secure/key_files.h"

namespace {

using namespace fedge::secure;

std::string Text(const SecretBytes& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// Deterministic valid files of each kind (fixed key material).
const std::vector<std::string>& Templates() {
  static const std::vector<std::string>* templates = [] {
    std::vector<uint8_t> seed(32);
    for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(i + 1);
    DeviceKey device;
    device.curve_secret = SecretBytes::CopyOf(seed);
    device.curve_public = X25519KeyPair::FromPrivateKey(seed)->public_key();
    CoordinatorKey coordinator;
    coordinator.curve_secret = SecretBytes::CopyOf(seed);
    coordinator.curve_public = device.curve_public;
    coordinator.signing_secret = SecretBytes::CopyOf(seed);
    coordinator.signing_public = Ed25519SigningKey::FromSeed(seed)->public_key();
    return new std::vector<std::string>{
        Text(FormatDeviceKey(device)),
        Text(FormatCoordinatorKey(coordinator)),
        FormatDevicePublicKey(PublicPart(device)),
        FormatCoordinatorIdentity(PublicPart(coordinator)),
        absl::StrCat("# allow-list\n", AllowList::FormatLine(device.curve_public, {1, 2, 3}),
                     "\n", PublicKeyHex(coordinator.signing_public), " 4 # c\n"),
    };
  }();
  return *templates;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

void ParseAll(const std::string& text) {
  if (auto k = ParseDeviceKey(text, "f"); k.ok()) {
    auto again = ParseDeviceKey(Text(FormatDeviceKey(*k)), "f");
    Check(again.ok() && again->curve_public == k->curve_public &&
          again->curve_secret.Equals(k->curve_secret.span()));
  }
  if (auto k = ParseCoordinatorKey(text, "f"); k.ok()) {
    auto again = ParseCoordinatorKey(Text(FormatCoordinatorKey(*k)), "f");
    Check(again.ok() && again->signing_public == k->signing_public &&
          again->signing_secret.Equals(k->signing_secret.span()));
  }
  if (auto k = ParseDevicePublicKey(text, "f"); k.ok()) {
    auto again = ParseDevicePublicKey(FormatDevicePublicKey(*k), "f");
    Check(again.ok() && again->curve_public == k->curve_public);
  }
  if (auto k = ParseCoordinatorIdentity(text, "f"); k.ok()) {
    auto again = ParseCoordinatorIdentity(FormatCoordinatorIdentity(*k), "f");
    Check(again.ok() && again->curve_public == k->curve_public &&
          again->signing_public == k->signing_public);
  }
  if (auto list = AllowList::Parse(text, "f"); list.ok()) {
    // Every enrolled id maps back to its key.
    for (uint64_t id = 0; id < 8; ++id) {
      if (const X25519PublicKey* key = list->KeyFor(id)) Check(list->IsEnrolled(*key, id));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  ParseAll(input);
  if (size > 0) {
    uint64_t h = 1469598103934665603u;  // FNV-1a
    for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211u;
    std::string file = Templates()[h % Templates().size()];
    const size_t at = (h >> 8) % (file.size() + 1);
    const size_t erase = std::min<size_t>((h >> 24) % 16, file.size() - at);
    std::string insert = input.substr((h >> 32) % size, 16);
    if ((h >> 28) & 1) {
      static constexpr char kAlphabet[] = "0123456789abcdefABCDEF \t\n\r#,-_typecurvsgnlx";
      for (char& c : insert) c = kAlphabet[static_cast<uint8_t>(c) % (sizeof(kAlphabet) - 1)];
    }
    file.replace(at, erase, insert);
    ParseAll(file);
  }
  return 0;
}
