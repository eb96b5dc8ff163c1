#include "frodo/error.hpp"

namespace frodo {

const char* to_string(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument: return "invalid argument";
    case Errc::unavailable: return "unavailable";
    case Errc::deadline_exceeded: return "deadline exceeded";
    case Errc::unauthenticated: return "unauthenticated";
    case Errc::permission_denied: return "permission denied";
    case Errc::lease_lost: return "lease lost";
    case Errc::failed_precondition: return "failed precondition";
    case Errc::internal: return "internal error";
  }
  return "unknown error";
}

const char* code_name(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::unavailable: return "unavailable";
    case Errc::deadline_exceeded: return "deadline_exceeded";
    case Errc::unauthenticated: return "unauthenticated";
    case Errc::permission_denied: return "permission_denied";
    case Errc::lease_lost: return "lease_lost";
    case Errc::failed_precondition: return "failed_precondition";
    case Errc::internal: return "internal";
  }
  return "internal";
}

}  // namespace frodo
