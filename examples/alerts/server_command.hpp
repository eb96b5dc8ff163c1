// The alerts-server program as a function: its flags, its signals and the server's whole
// life. The example's own binary (server_main.cpp) and `frodo demo-server` run this same code,
// so the demo's servers are the example's servers.
//
// Signals, all taken by the calling thread with sigwait (blocked, so none kills the process):
//   SIGINT, SIGTERM, SIGHUP   hand the hosts over (the guard's leave), print the final
//                             counters as one JSON line and return
//   SIGUSR1                   slow down: every event admitted from then on works --slow-us
//   SIGUSR2                   back to --work-us
//   SIGRTMIN                  join the cluster now (with --join-on-signal)
// Lines on stdout, each starting with `program` and the server's address:
//   "... ready (guard on, fencing on, context C)" or "... waiting to join (...)": the signals
//   are blocked from this line on; "... joined", "... slow (N us per event)", "... normal
//   speed", and "...: lease lost (REASON) at_us N" when its Cluster gives its lease up (N on
//   the clock of store.hpp's monotonic_us, which `frodo demo` compares with the store's rows).
#pragma once

namespace alerts {

// Runs alerts-server with argv[1..argc) as its flags; argv[0] names the program in --help,
// errors and its lines. Call it before the process starts any other thread (the signals
// above must be blocked in every thread). Returns the exit status: 0 ok, 1 runtime failure,
// 2 usage error (the message names the flag and the value).
int run_server_command(int argc, const char* const* argv);

}  // namespace alerts
