#pragma once

#include <stdexcept>

#include "process/exit_codes.hpp"

namespace frodo::cli {

// Bad input from the user (a flag, a file): printed as is, exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Exit statuses (docs/cli.md): 0 ok, 1 runtime failure, 2 usage or input error.
using process::exit_failure;
using process::exit_ok;
using process::exit_usage;

}  // namespace frodo::cli
