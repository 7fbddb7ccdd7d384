// Errors as values: Status and Result<T> carry a code, a message and a hint a human can act on.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace pgpilot {

enum class ErrorCode {
  kInvalidArgument,   // bad input: config, command line, a value that does not parse
  kUnavailable,       // could not ask: store or server unreachable, timed out
  kNotFound,
  kFailedPrecondition,  // the world is not in a state where this can proceed safely
  kPermissionDenied,
  kInternal,
};

const char* ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // what is wrong
  std::string hint;     // what to do about it; may be empty

  // "message (hint: ...)" for logs and one-line error output.
  std::string ToString() const;
};

Error InvalidArgument(std::string message, std::string hint = {});
Error Unavailable(std::string message, std::string hint = {});
Error NotFound(std::string message, std::string hint = {});
Error FailedPrecondition(std::string message, std::string hint = {});
Error PermissionDenied(std::string message, std::string hint = {});
Error Internal(std::string message, std::string hint = {});

// Status is success or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}  // NOLINT: implicit by design
  static Status Ok() { return Status(); }

  bool ok() const { return !error_.has_value(); }
  const Error& error() const { return *error_; }
  std::string ToString() const { return ok() ? "ok" : error_->ToString(); }

 private:
  std::optional<Error> error_;
};

// Result<T> is a value or an Error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}       // NOLINT: implicit by design
  Result(Error error) : data_(std::move(error)) {}   // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T& value() & { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  const Error& error() const { return std::get<Error>(data_); }
  Status status() const { return ok() ? Status() : Status(error()); }

 private:
  std::variant<T, Error> data_;
};

}  // namespace pgpilot
