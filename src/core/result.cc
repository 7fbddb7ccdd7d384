#include "core/result.h"

namespace pgpilot {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kFailedPrecondition: return "failed precondition";
    case ErrorCode::kPermissionDenied: return "permission denied";
    case ErrorCode::kInternal: return "internal error";
  }
  return "unknown";
}

std::string Error::ToString() const {
  if (hint.empty()) return message;
  return message + " (hint: " + hint + ")";
}

Error InvalidArgument(std::string m, std::string h) { return {ErrorCode::kInvalidArgument, std::move(m), std::move(h)}; }
Error Unavailable(std::string m, std::string h) { return {ErrorCode::kUnavailable, std::move(m), std::move(h)}; }
Error NotFound(std::string m, std::string h) { return {ErrorCode::kNotFound, std::move(m), std::move(h)}; }
Error FailedPrecondition(std::string m, std::string h) { return {ErrorCode::kFailedPrecondition, std::move(m), std::move(h)}; }
Error PermissionDenied(std::string m, std::string h) { return {ErrorCode::kPermissionDenied, std::move(m), std::move(h)}; }
Error Internal(std::string m, std::string h) { return {ErrorCode::kInternal, std::move(m), std::move(h)}; }

}  // namespace pgpilot
