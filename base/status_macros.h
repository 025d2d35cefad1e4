#ifndef FEDGE_BASE_STATUS_MACROS_H_
#define FEDGE_BASE_STATUS_MACROS_H_

// The Abseil shipped with Debian 12 (20220623) has no status macros; these are
// the two we need, with the usual semantics.

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

#define FEDGE_RETURN_IF_ERROR(expr)                  \
  do {                                               \
    ::absl::Status fedge_status_ = (expr);           \
    if (!fedge_status_.ok()) return fedge_status_;   \
  } while (0)

#define FEDGE_STATUS_CONCAT_INNER_(a, b) a##b
#define FEDGE_STATUS_CONCAT_(a, b) FEDGE_STATUS_CONCAT_INNER_(a, b)

// FEDGE_ASSIGN_OR_RETURN(auto x, F()); or FEDGE_ASSIGN_OR_RETURN(x, F());
#define FEDGE_ASSIGN_OR_RETURN(lhs, expr) \
  FEDGE_ASSIGN_OR_RETURN_IMPL_(FEDGE_STATUS_CONCAT_(fedge_statusor_, __LINE__), lhs, expr)

#define FEDGE_ASSIGN_OR_RETURN_IMPL_(var, lhs, expr) \
  auto var = (expr);                                 \
  if (!var.ok()) return std::move(var).status();     \
  lhs = std::move(var).value()

namespace fedge {

// `s` with `prefix` before its message (e.g. the flag that named the file).
inline absl::Status AnnotateStatus(const absl::Status& s, absl::string_view prefix) {
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

}  // namespace fedge

#endif  // FEDGE_BASE_STATUS_MACROS_H_
