// fedge-keygen: creates the keys of a fedge deployment and enrols devices.
//
//   fedge-keygen coordinator --out DIR [--force]
//   fedge-keygen device --out DIR --name NAME [--force]
//   fedge-keygen enrol --allowlist FILE --pub NAME.pub --client_ids 3,4,5
//
// Exit codes: 0 done, 1 failed (I/O, already enrolled, malformed input),
// 2 usage error. Prints file names and public keys only, never a secret.

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/id_list.h"
#include "secure/allow_list.h"
#include "secure/key_files.h"
#include "secure/random.h"

namespace fedge::keygen {
namespace {

constexpr char kUsage[] =
    "usage: fedge-keygen COMMAND [flags]   (fedge-keygen COMMAND --help for details)\n"
    "\n"
    "Creates the keys of a fedge deployment and enrols devices.\n"
    "\n"
    "commands:\n"
    "  coordinator --out DIR [--force]\n"
    "      the coordinator's keys: DIR/coordinator.key (secret) and DIR/coordinator.pub\n"
    "  device --out DIR --name NAME [--force]\n"
    "      a device's CURVE key pair: DIR/NAME.key (secret) and DIR/NAME.pub\n"
    "  enrol --allowlist FILE --pub NAME.pub --client_ids IDS\n"
    "      allows the device with key NAME.pub to connect as client ids IDS\n";

constexpr char kCoordinatorHelp[] =
    "usage: fedge-keygen coordinator --out DIR [--force]\n"
    "\n"
    "Writes the coordinator's keys:\n"
    "  DIR/coordinator.key  SECRET, mode 0600: a CURVE (X25519) key pair for the transport\n"
    "                       and an Ed25519 key that signs every global model.\n"
    "                       Give it to fedge-coordinator --key_file; keep it nowhere else.\n"
    "  DIR/coordinator.pub  public: the CURVE public key and the model-verification key.\n"
    "                       Every device pins it (fedge-client --coordinator_pub).\n"
    "\n"
    "flags:\n"
    "  --out DIR   directory to write to (created if missing)\n"
    "  --force     replace existing files (devices pinned to the old key stop working)\n";

constexpr char kDeviceHelp[] =
    "usage: fedge-keygen device --out DIR --name NAME [--force]\n"
    "\n"
    "Writes a device's CURVE (X25519) key pair:\n"
    "  DIR/NAME.key  SECRET, mode 0600: stays on the device (fedge-client --key_file)\n"
    "  DIR/NAME.pub  public: goes to the coordinator's operator, who enrols it\n"
    "\n"
    "flags:\n"
    "  --out DIR     directory to write to (created if missing)\n"
    "  --name NAME   file name stem: letters, digits, '.', '_' and '-'\n"
    "  --force       replace existing files\n";

constexpr char kEnrolHelp[] =
    "usage: fedge-keygen enrol --allowlist FILE --pub NAME.pub --client_ids IDS\n"
    "\n"
    "Appends one line to the coordinator's allow-list (created if missing):\n"
    "  <64-hex CURVE public key> <client_id>[,<client_id>...]\n"
    "The file is rewritten atomically (a running coordinator picks the change up at the\n"
    "next handshake). Refused if the key or one of the client ids is enrolled already.\n"
    "\n"
    "flags:\n"
    "  --allowlist FILE   the allow-list (fedge-coordinator --allowlist)\n"
    "  --pub NAME.pub     the device's public key file (fedge-keygen device)\n"
    "  --client_ids IDS   client ids the device may register as: 3,4,5 or ranges 0-4,7\n";

struct Args {
  std::map<std::string, std::string> values;
  bool force = false;
  bool help = false;
};

// Parses "--flag=value", "--flag value", "--force" and "--help" against the
// flags a command takes. nullopt (and a message) on anything else.
std::optional<Args> ParseArgs(const std::vector<std::string>& argv,
                              const std::set<std::string>& flags, bool takes_force) {
  Args args;
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h" || a == "--helpfull") {
      args.help = true;
      continue;
    }
    if (a == "--force" && takes_force) {
      args.force = true;
      continue;
    }
    if (!absl::StartsWith(a, "--")) {
      std::fprintf(stderr, "fedge-keygen: unexpected argument '%s'\n", a.c_str());
      return std::nullopt;
    }
    std::string name = a.substr(2), value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else if (i + 1 < argv.size()) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "fedge-keygen: --%s needs a value\n", name.c_str());
      return std::nullopt;
    }
    if (!flags.count(name)) {
      std::fprintf(stderr, "fedge-keygen: unknown flag --%s\n", name.c_str());
      return std::nullopt;
    }
    if (value.empty()) {
      std::fprintf(stderr, "fedge-keygen: --%s is empty\n", name.c_str());
      return std::nullopt;
    }
    args.values[name] = value;
  }
  if (!args.help) {
    for (const std::string& f : flags) {
      if (!args.values.count(f)) {
        std::fprintf(stderr, "fedge-keygen: --%s is required\n", f.c_str());
        return std::nullopt;
      }
    }
  }
  return args;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Refuses to replace key files unless --force: losing a key cuts devices off.
absl::Status CheckNotThere(const std::vector<std::string>& paths, bool force) {
  if (force) return absl::OkStatus();
  for (const std::string& p : paths) {
    if (Exists(p)) {
      return absl::AlreadyExistsError(
          absl::StrCat(p, " exists; pass --force to replace it (whoever relies on the old key "
                          "loses access)"));
    }
  }
  return absl::OkStatus();
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "fedge-keygen: %s\n", s.ToString().c_str());
  return 1;
}

int Coordinator(const Args& args) {
  const std::string dir = args.values.at("out");
  const std::string key_path = dir + "/coordinator.key";
  const std::string pub_path = dir + "/coordinator.pub";
  if (absl::Status s = MakeDirs(dir); !s.ok()) return Fail(s);
  if (absl::Status s = CheckNotThere({key_path, pub_path}, args.force); !s.ok()) return Fail(s);
  absl::StatusOr<secure::CoordinatorKey> key =
      secure::GenerateCoordinatorKey(secure::SecureRandom::Default());
  if (!key.ok()) return Fail(key.status());
  if (absl::Status s = secure::WriteCoordinatorKeyFile(key_path, *key); !s.ok()) return Fail(s);
  const secure::CoordinatorIdentity id = secure::PublicPart(*key);
  if (absl::Status s = secure::WriteCoordinatorIdentityFile(pub_path, id); !s.ok()) {
    return Fail(s);
  }
  std::printf("wrote %s (secret, mode 0600) and %s\n  curve_public   %s\n  signing_public %s\n",
              key_path.c_str(), pub_path.c_str(), secure::PublicKeyHex(id.curve_public).c_str(),
              secure::PublicKeyHex(id.signing_public).c_str());
  return 0;
}

int Device(const Args& args) {
  const std::string dir = args.values.at("out");
  const std::string name = args.values.at("name");
  const bool name_ok = name[0] != '.' && std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
  if (!name_ok) {
    std::fprintf(stderr,
                 "fedge-keygen: --name '%s': use letters, digits, '.', '_' and '-' only (not "
                 "starting with '.')\n",
                 name.c_str());
    return 2;
  }
  const std::string key_path = absl::StrCat(dir, "/", name, ".key");
  const std::string pub_path = absl::StrCat(dir, "/", name, ".pub");
  if (absl::Status s = MakeDirs(dir); !s.ok()) return Fail(s);
  if (absl::Status s = CheckNotThere({key_path, pub_path}, args.force); !s.ok()) return Fail(s);
  absl::StatusOr<secure::DeviceKey> key =
      secure::GenerateDeviceKey(secure::SecureRandom::Default());
  if (!key.ok()) return Fail(key.status());
  if (absl::Status s = secure::WriteDeviceKeyFile(key_path, *key); !s.ok()) return Fail(s);
  if (absl::Status s = secure::WriteDevicePublicKeyFile(pub_path, secure::PublicPart(*key));
      !s.ok()) {
    return Fail(s);
  }
  std::printf("wrote %s (secret, mode 0600) and %s\n  curve_public %s\n", key_path.c_str(),
              pub_path.c_str(), secure::PublicKeyHex(key->curve_public).c_str());
  return 0;
}

int Enrol(const Args& args) {
  absl::StatusOr<std::vector<uint64_t>> ids = ParseIdList(args.values.at("client_ids"), "--client_ids");
  if (!ids.ok()) {
    std::fprintf(stderr, "fedge-keygen: %s\n", std::string(ids.status().message()).c_str());
    return 2;
  }
  absl::StatusOr<secure::DevicePublicKey> pub =
      secure::ReadDevicePublicKeyFile(args.values.at("pub"));
  if (!pub.ok()) return Fail(pub.status());
  const std::string& list = args.values.at("allowlist");
  if (absl::Status s = secure::EnrolDevice(list, pub->curve_public, *ids); !s.ok()) {
    return Fail(s);
  }
  std::printf("enrolled %s for client ids %s in %s\n",
              secure::PublicKeyHex(pub->curve_public).c_str(),
              args.values.at("client_ids").c_str(), list.c_str());
  return 0;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const std::vector<std::string> rest(argv + 2, argv + argc);
  struct Command {
    std::set<std::string> flags;
    bool takes_force;
    const char* help;
    int (*run)(const Args&);
  };
  const std::map<std::string, Command> commands = {
      {"coordinator", {{"out"}, true, kCoordinatorHelp, &Coordinator}},
      {"device", {{"out", "name"}, true, kDeviceHelp, &Device}},
      {"enrol", {{"allowlist", "pub", "client_ids"}, false, kEnrolHelp, &Enrol}},
      {"enroll", {{"allowlist", "pub", "client_ids"}, false, kEnrolHelp, &Enrol}},
  };
  auto it = commands.find(command);
  if (it == commands.end()) {
    std::fprintf(stderr, "fedge-keygen: unknown command '%s'\n\n%s", command.c_str(), kUsage);
    return 2;
  }
  std::optional<Args> args = ParseArgs(rest, it->second.flags, it->second.takes_force);
  if (!args.has_value()) {
    std::fprintf(stderr, "\n%s", it->second.help);
    return 2;
  }
  if (args->help) {
    std::fputs(it->second.help, stdout);
    return 0;
  }
  return it->second.run(*args);
}

}  // namespace
}  // namespace fedge::keygen

int main(int argc, char** argv) { return fedge::keygen::Main(argc, argv); }
