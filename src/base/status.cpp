#include "ecsdb/status.hpp"

namespace ecsdb {

std::string_view to_string(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kNotFound: return "not found";
    case StatusCode::kStaleEntity: return "stale entity";
    case StatusCode::kAlreadyExists: return "already exists";
    case StatusCode::kConstraintViolation: return "constraint violation";
    case StatusCode::kConflict: return "conflict";
    case StatusCode::kSchemaError: return "schema error";
    case StatusCode::kBindingMismatch: return "binding mismatch";
    case StatusCode::kIoError: return "I/O error";
    case StatusCode::kCorruption: return "corruption";
    case StatusCode::kAborted: return "aborted";
    case StatusCode::kInternal: return "internal error";
    case StatusCode::kResourceExhausted: return "resource exhausted";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kPermissionDenied: return "permission denied";
    case StatusCode::kFailedPrecondition: return "failed precondition";
    case StatusCode::kDeadlineExceeded: return "deadline exceeded";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  std::string out(ecsdb::to_string(code_));
  out += ": ";
  out += message_;
  return out;
}

}  // namespace ecsdb
