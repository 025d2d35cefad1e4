#ifndef FEDGE_COORDINATOR_SECURITY_SETUP_H_
#define FEDGE_COORDINATOR_SECURITY_SETUP_H_

// fedge-coordinator's transport security and model signing from its flags
// (--insecure, --key_file, --allowlist): the CURVE server keys, the
// allow-list file (re-read on SIGHUP) and the model signer.

#include <memory>
#include <optional>
#include <string>

#include "coordinator/coordinator_server.h"
#include "protocol/model_signature.h"
#include "secure/allow_list.h"

namespace fedge::coordinator {

// What the flags ask for.
struct Security {
  std::optional<ServerSecurity> server;  // nullopt: --insecure
  std::unique_ptr<secure::AllowListFile> allow_list;
  std::shared_ptr<const protocol::ModelSigner> signer;
};

struct SecurityFlags {
  bool insecure = false;
  std::string key_file;
  std::string allowlist;
  std::string listen;  // named in the --insecure warning
};

// nullopt after a message on stderr (a usage error: exit 2) when the flags
// are missing, contradict each other, or name files that cannot be read.
std::optional<Security> LoadSecurity(const SecurityFlags& flags);

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_SECURITY_SETUP_H_
