#pragma once

#include <stdexcept>

namespace frodo::cli {

// Bad input from the user (a flag, a file): printed as is, exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Exit statuses (docs/cli.md): 0 ok, 1 runtime failure, 2 usage or input error.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

}  // namespace frodo::cli
