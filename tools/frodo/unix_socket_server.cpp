#include "unix_socket_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace frodo::cli {

namespace {

std::runtime_error failure(const std::string& path, const std::string& what, int error) {
  return std::runtime_error("cannot listen on unix socket '" + path + "': " + what + ": " + std::strerror(error));
}

}  // namespace

void UnixSocketServer::bind_unix(const std::string& path) {
  sockaddr_un address{};
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    throw std::runtime_error("bad unix socket path '" + path + "': it must be 1 to " +
                             std::to_string(sizeof address.sun_path - 1) + " bytes");
  }
  if (path.find('\0') != std::string::npos) throw std::runtime_error("bad unix socket path: it holds a NUL byte");
  std::memcpy(address.sun_path, path.data(), path.size());
  address.sun_family = AF_UNIX;

  struct stat existing {};
  if (lstat(path.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      throw std::runtime_error("cannot listen on unix socket '" + path + "': the path exists and is not a socket");
    }
    // A socket file nobody accepts on is left from a server that died: replace it. One that
    // accepts belongs to a running server: refuse, as a TCP port in use is refused.
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) throw failure(path, "socket", errno);
    bool alive = ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    ::close(probe);
    if (alive) throw std::runtime_error("cannot listen on unix socket '" + path + "': another server listens on it");
    if (::unlink(path.c_str()) != 0) throw failure(path, "removing the stale socket", errno);
  }

  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw failure(path, "socket", errno);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    int e = errno;
    ::close(fd);
    throw failure(path, "bind", e);
  }
  if (::listen(fd, SOMAXCONN) != 0) {
    int e = errno;
    ::close(fd);
    ::unlink(path.c_str());
    throw failure(path, "listen", e);
  }
  svr_sock_ = fd;  // the listen loop accepts on it; stop() shuts it down and closes it
}

}  // namespace frodo::cli
