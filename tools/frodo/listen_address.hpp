// Where an HTTP server of the CLI listens (`serve --listen`, `register --metrics`): parsing
// HOST:PORT as typed, and binding an httplib server to it without SO_REUSEPORT.
#pragma once

#include <httplib.h>

#include <string>

namespace frodo::cli {

struct ListenAddress {
  std::string host;  // without brackets
  int port = 0;      // 0: any free port
};

// HOST:PORT or [IPV6]:PORT; port 0 picks a free port. Throws UsageError naming `option` and
// the text.
ListenAddress parse_listen(const std::string& option, const std::string& text);

// The host as it goes in a URL (an IPv6 address in brackets).
std::string url_host(const std::string& host);

// Binds `server` to `address` and returns the port (the one picked for port 0). Turns off
// httplib's SO_REUSEPORT, with which a second process would silently share a port in use
// (the kernel splitting connections between the two). Throws std::runtime_error naming
// `text` when the port is in use or the host is not an address of this machine.
int bind_listen(httplib::Server& server, const ListenAddress& address, const std::string& text);

}  // namespace frodo::cli
