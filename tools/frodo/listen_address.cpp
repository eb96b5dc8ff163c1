#include "listen_address.hpp"

#include <sys/socket.h>

#include <charconv>
#include <stdexcept>

#include "core/text.hpp"
#include "terminal_text.hpp"
#include "usage_error.hpp"

namespace frodo::cli {

ListenAddress parse_listen(const std::string& option, const std::string& text) {
  auto bad = [&](const std::string& why) {
    return UsageError("bad " + option + " '" + terminal_text(excerpt(text)) + "': " + why);
  };
  std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) throw bad("expected HOST:PORT, such as 127.0.0.1:8700");
  ListenAddress a;
  a.host = text.substr(0, colon);
  if (a.host.front() == '[') {
    if (a.host.size() < 3 || a.host.back() != ']') throw bad("an IPv6 host goes in brackets: [::1]:8700");
    a.host = a.host.substr(1, a.host.size() - 2);
  }
  std::string port = text.substr(colon + 1);
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || a.port < 0 || a.port > 65535) {
    throw bad("the port must be a number from 0 to 65535 (0: any free port)");
  }
  return a;
}

std::string url_host(const std::string& host) { return host.find(':') != std::string::npos ? "[" + host + "]" : host; }

int bind_listen(httplib::Server& server, const ListenAddress& address, const std::string& text) {
  server.set_socket_options([](socket_t socket) {
    int yes = 1;
    ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  int port = address.port;
  if (port == 0) {
    port = server.bind_to_any_port(address.host);
    if (port < 0) port = 0;
  } else if (!server.bind_to_port(address.host, port)) {
    port = 0;
  }
  if (port == 0) {
    throw std::runtime_error("cannot listen on " + terminal_text(text) +
                             ": the port is in use or the host is not an address of this machine");
  }
  return port;
}

}  // namespace frodo::cli
