// ecsdb/status.hpp — the one error idiom of ECSDb.
//
// Every fallible public call returns a [[nodiscard]] Status or Result<T>. No exception crosses the public
// API. Messages name what failed and where (file:line:column, table, field) so a user can act on them.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ecsdb {

enum class StatusCode : unsigned char {
  kOk = 0,
  kInvalidArgument,     // bad input from the caller (bad value, wrong type, unknown name)
  kNotFound,            // entity, table, field or row absent
  kStaleEntity,         // an entity id whose generation is no longer alive
  kAlreadyExists,       // component already present, unique value taken
  kConstraintViolation, // foreign key, unique or on_delete restrict failed at commit
  kConflict,            // optimistic transaction saw a row change under it
  kSchemaError,         // the TOML schema is invalid (message lists every error)
  kBindingMismatch,     // a C++ struct does not match the schema layout
  kIoError,
  kCorruption,
  kAborted,             // transaction rolled back by its own body
  kInternal,
  kResourceExhausted,   // out of memory inside the writer (rolled back, nothing changed); a rate or size limit
  kUnavailable,         // not connected, or the server is shutting down (replication)
  kPermissionDenied,    // the token may not do that (replication)
  kFailedPrecondition,  // the two sides disagree on something fixed, e.g. the schema layout (replication)
  kDeadlineExceeded,    // a time limit passed (replication)
};
// The numeric values are part of the replication protocol (WRITE_RESULT and CLOSE carry them): append only.

std::string_view to_string(StatusCode code) noexcept;

class [[nodiscard]] Status {
 public:
  Status() noexcept = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() noexcept { return {}; }

  bool is_ok() const noexcept { return code_ == StatusCode::kOk; }
  explicit operator bool() const noexcept { return is_ok(); }
  StatusCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  // "constraint violation: health.entity_id: ..." — code name, then message.
  std::string to_string() const;
  void ignore() const noexcept {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status constraint_violation(std::string m) { return {StatusCode::kConstraintViolation, std::move(m)}; }

// Result<T>: a value or a non-ok Status, shaped like std::expected (absent from g++ 12 in C++20).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}                 // NOLINT(implicit)
  Result(Status status) : v_(std::in_place_index<1>, std::move(status)) {          // NOLINT(implicit)
    assert(!std::get<1>(v_).is_ok() && "Result built from an ok Status holds no value");
  }

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { assert(has_value()); return std::get<0>(v_); }
  const T& value() const& { assert(has_value()); return std::get<0>(v_); }
  // By value, so `for (auto& x : f().value())` does not dangle when f() returns a temporary.
  T value() && { assert(has_value()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error; Status::ok() when a value is held.
  Status status() const { return has_value() ? Status::ok() : std::get<1>(v_); }
  void ignore() const noexcept {}

 private:
  std::variant<T, Status> v_;
};

}  // namespace ecsdb



#define ECSDB_CONCAT_INNER(a, b) a##b
#define ECSDB_CONCAT(a, b) ECSDB_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when `expr` is not ok.
#define ECSDB_RETURN_IF_ERROR(expr)                         \
  do {                                                      \
    ::ecsdb::Status ecsdb_status_ = (expr);                 \
    if (!ecsdb_status_.is_ok()) return ecsdb_status_;       \
  } while (0)

// `ECSDB_ASSIGN_OR_RETURN(auto x, f());` — binds the value or returns the error.
// The arguments are a declaration and an expression spliced into statements: they cannot be
// parenthesised (bugprone-macro-parentheses does not apply).
// NOLINTBEGIN(bugprone-macro-parentheses)
#define ECSDB_ASSIGN_OR_RETURN(lhs, expr) \
  ECSDB_ASSIGN_OR_RETURN_IMPL(ECSDB_CONCAT(ecsdb_result_, __LINE__), lhs, expr)
#define ECSDB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.has_value()) return tmp.status();        \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
