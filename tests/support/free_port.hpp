// Loopback TCP ports for test daemons.
#pragma once

namespace frodo::test {

// A port on 127.0.0.1 that was free a moment ago (the kernel's choice for bind(0)) and that
// this process has never handed out before, so two members of any cluster in this test
// binary never share one. Another process may still take it first; callers that care
// retry with a new port when the daemon reports "address already in use".
int reserve_free_port();

// True when something accepts TCP connections on 127.0.0.1:port right now.
bool port_accepts(int port);

}  // namespace frodo::test
