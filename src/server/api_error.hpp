// ApiError — the one error shape of the HTTP API: {"error": {"code", "message", "details"}} with an HTTP
// status. Codes are stable (docs/server.md, "Errors"); messages name the table, field, entity and operation.
#pragma once

#include <boost/json.hpp>

#include <string>
#include <utility>
#include <variant>

#include "ecsdb/status.hpp"

namespace ecsdb::server {

struct ApiError {
  unsigned status = 400;
  std::string code;
  std::string message;
  boost::json::object details = {};

  boost::json::object to_json() const {
    return {{"error", boost::json::object{{"code", code}, {"message", message}, {"details", details}}}};
  }
};

inline ApiError bad_request(std::string message, std::string code = "bad_request") {
  return {400, std::move(code), std::move(message)};
}

// The API error for a database Status (not ok).
inline ApiError from_status(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument: return {400, "invalid_value", s.message()};
    case StatusCode::kNotFound:
    case StatusCode::kStaleEntity: return {404, "not_found", s.message()};
    case StatusCode::kAlreadyExists:
    case StatusCode::kConstraintViolation: return {409, "constraint_violation", s.message()};
    case StatusCode::kConflict: return {409, "conflict", s.message()};
    case StatusCode::kSchemaError: return {400, "invalid_value", s.message()};
    case StatusCode::kIoError:
    case StatusCode::kCorruption: return {503, "read_only", s.message()};
    case StatusCode::kResourceExhausted: return {503, "resource_exhausted", s.message()};
    case StatusCode::kAborted: return {503, "shutting_down", s.message()};
    default: return {500, "internal", s.message()};
  }
}

// A value or the API error that replaces it.
template <typename T>
using ApiResult = std::variant<T, ApiError>;

}  // namespace ecsdb::server
