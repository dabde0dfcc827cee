// persist/file_system_errors.hpp — how FileSystem implementations word their errors, and how callers
// recognise the ones they must treat specially.
//
// Contract: every I/O error is StatusCode::kIoError with the message "<operation> <path>: <strerror(errno)>"
// (optionally followed by " (<detail>)"), so a user sees which file failed and why, and ENOSPC stays
// recognisable after the Status has crossed layers. Thread-safe (strerror_r, no shared state).
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "ecsdb/status.hpp"

namespace ecsdb {

namespace detail {
// glibc exposes the GNU strerror_r (returns char*) under _GNU_SOURCE, which g++ defines; other libcs give the
// XSI one (returns int, fills buf). Overloads on the return type accept either without #ifdefs.
inline const char* strerror_result(const char* message, const char* /*buf*/) { return message; }
inline const char* strerror_result(int rc, const char* buf) { return rc == 0 ? buf : "Unknown error"; }
}  // namespace detail

inline std::string errno_text(int err) {
  char buf[256] = {};
  return detail::strerror_result(strerror_r(err, buf, sizeof buf), buf);
}

inline constexpr std::string_view kNoSpaceText = "No space left on device";

// "<operation> <path>: <strerror(err)>[ (<detail>)]" as kIoError.
inline Status io_error(std::string_view operation, std::string_view path, int err, std::string_view detail = {}) {
  std::string message;
  message.reserve(operation.size() + path.size() + 64 + detail.size());
  message.append(operation).append(" ").append(path).append(": ").append(errno_text(err));
  if (!detail.empty()) message.append(" (").append(detail).append(")");
  return {StatusCode::kIoError, std::move(message)};
}

// True when `status` reports a full device (ENOSPC), whichever layer wrapped it.
inline bool is_no_space(const Status& status) {
  return status.code() == StatusCode::kIoError && status.message().find(kNoSpaceText) != std::string::npos;
}

}  // namespace ecsdb
