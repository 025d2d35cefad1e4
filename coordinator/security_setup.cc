#include "coordinator/security_setup.h"

#include <cstdio>
#include <utility>

#include "secure/key_files.h"

namespace fedge::coordinator {

std::optional<Security> LoadSecurity(const SecurityFlags& flags) {
  const bool insecure = flags.insecure;
  const std::string& key_file = flags.key_file;
  const std::string& allowlist = flags.allowlist;
  if (!insecure && (key_file.empty() || allowlist.empty())) {
    std::fprintf(stderr,
                 "fedge-coordinator: --key_file and --allowlist are required: connections are "
                 "encrypted and clients authenticated with CURVE.\n"
                 "  Create them with: fedge-keygen coordinator --out DIR; fedge-keygen device "
                 "...; fedge-keygen enrol --allowlist FILE ...\n"
                 "  Or pass --insecure for plain TCP (testing only). See --help.\n");
    return std::nullopt;
  }
  if (insecure && !allowlist.empty()) {
    std::fprintf(stderr,
                 "fedge-coordinator: --allowlist has no effect with --insecure (plain TCP "
                 "authenticates nobody); drop one of them\n");
    return std::nullopt;
  }
  Security sec;
  std::optional<secure::CoordinatorKey> key;
  if (!key_file.empty()) {
    absl::StatusOr<secure::CoordinatorKey> k = secure::ReadCoordinatorKeyFile(key_file);
    if (!k.ok()) {
      std::fprintf(stderr, "fedge-coordinator: --key_file: %s\n", k.status().ToString().c_str());
      return std::nullopt;
    }
    absl::StatusOr<std::unique_ptr<protocol::ModelSigner>> signer =
        protocol::ModelSigner::Create(k->signing_secret.span());
    if (!signer.ok()) {
      std::fprintf(stderr, "fedge-coordinator: %s\n", signer.status().ToString().c_str());
      return std::nullopt;
    }
    sec.signer = *std::move(signer);
    key = *std::move(k);
  }
  if (insecure) {
    std::fprintf(stderr,
                 "\n*** WARNING: fedge-coordinator --insecure: plain TCP on %s. Nothing is "
                 "encrypted and no client is authenticated: anyone who can reach it can read "
                 "the model and send updates as any client. %s ***\n\n",
                 flags.listen.c_str(),
                 sec.signer ? "Models are still signed." : "Models are not signed either.");
    return sec;
  }
  absl::StatusOr<std::unique_ptr<secure::AllowListFile>> list =
      secure::AllowListFile::Open(allowlist);
  if (!list.ok()) {
    std::fprintf(stderr, "fedge-coordinator: --allowlist: %s\n",
                 list.status().ToString().c_str());
    return std::nullopt;
  }
  sec.allow_list = *std::move(list);
  auto keys = std::make_shared<protocol::CurveServerKeys>();
  keys->public_key = key->curve_public;
  keys->secret_key = std::move(key->curve_secret);
  sec.server = ServerSecurity{std::move(keys), sec.allow_list.get()};
  return sec;
}

}  // namespace fedge::coordinator
