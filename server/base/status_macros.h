// RETURN_IF_ERROR and ASSIGN_OR_RETURN for absl::Status / absl::StatusOr (this abseil has none).
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define GENGATE_CONCAT_INNER(a, b) a##b
#define GENGATE_CONCAT(a, b) GENGATE_CONCAT_INNER(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing function when not OK.
#define RETURN_IF_ERROR(expr)                            \
  do {                                                   \
    if (::absl::Status gengate_status = (expr);          \
        !gengate_status.ok()) {                          \
      return gengate_status;                             \
    }                                                    \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>); returns its status when not OK, otherwise moves the
// value into `lhs` (a declaration like `auto x` or an existing variable).
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  GENGATE_ASSIGN_OR_RETURN_IMPL(GENGATE_CONCAT(gengate_statusor_, __LINE__), lhs, rexpr)

#define GENGATE_ASSIGN_OR_RETURN_IMPL(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) {                                     \
    return std::move(statusor).status();                    \
  }                                                         \
  lhs = *std::move(statusor)
