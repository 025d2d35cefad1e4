#include "secure/openssl_util.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace fedge::secure::internal {

absl::Status OpenSslError(absl::StatusCode code, absl::string_view what) {
  const unsigned long err = ERR_get_error();
  std::string detail = "no OpenSSL error recorded";
  if (err != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    detail = buf;
  }
  ERR_clear_error();
  return absl::Status(code, absl::StrCat(what, ": ", detail));
}

void ClearOpenSslErrors() { ERR_clear_error(); }

}  // namespace fedge::secure::internal
