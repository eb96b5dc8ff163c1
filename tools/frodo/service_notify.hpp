// Readiness for service managers: systemd's notification protocol through libsystemd's
// sd_notify (a no-op unless the manager set NOTIFY_SOCKET, so always safe to call). The
// long-running commands (`serve`, `register`) report READY=1 once they serve, and STOPPING=1
// when a signal makes them leave; a unit with Type=notify then orders its dependants on them
// (examples/systemd/).
#pragma once

#include <string>

namespace frodo::cli {

// READY=1 with a STATUS= line for `systemctl status`.
void notify_ready(const std::string& status);
// STOPPING=1: the command is shutting down (revoking its lease).
void notify_stopping();

}  // namespace frodo::cli
