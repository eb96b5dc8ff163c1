// Exit statuses of every program of this repository (the frodo command, the alerts example,
// docs/cli.md): 0 ok, 1 runtime failure, 2 usage or input error.
#pragma once

namespace frodo::process {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

}  // namespace frodo::process
