// frodo::Error: the one exception type the library throws.
//
// Invalid arguments at the API boundary throw Error with Errc::invalid_argument and a
// message that names the bad value. "No server" is never an exception: lookups return an
// empty std::optional instead.
#pragma once

#include <stdexcept>
#include <string>

namespace frodo {

enum class Errc {
  invalid_argument,   // a bad address, weight, context, option...
  unavailable,        // etcd unreachable on every endpoint
  deadline_exceeded,  // a call did not finish within its deadline
  unauthenticated,    // wrong user or password, expired token
  permission_denied,  // authenticated, but not allowed
  lease_lost,         // this process's lease expired or was revoked
  failed_precondition,  // the object is not in a state for the call (a closed Cluster)
  internal,           // a bug or an unexpected reply
};

const char* to_string(Errc code) noexcept;  // words for a message: "invalid argument"
// The enumerator's name, for machine-readable output (JSON, the Node.js package's
// error.code): "invalid_argument", "lease_lost", ...
const char* code_name(Errc code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Errc code() const noexcept { return code_; }

 private:
  Errc code_;
};

}  // namespace frodo
