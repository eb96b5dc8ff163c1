// An httplib::Server that can also listen on a Unix domain socket (`frodo serve --unix`).
// Debian's cpp-httplib 0.11 binds only TCP sockets; its listen loop accepts on whatever
// socket it holds, so this class binds the Unix socket itself and hands it over.
#pragma once

#include <httplib.h>

#include <string>

namespace frodo::cli {

class UnixSocketServer : public httplib::Server {
 public:
  // Binds and listens on `path` (a stale socket file left by a dead server is replaced; any
  // other existing file is refused). Throws std::runtime_error naming the path and the
  // reason. Then call listen_after_bind() as after bind_to_port().
  void bind_unix(const std::string& path);
};

}  // namespace frodo::cli
