// etcd's own counters, read from its Prometheus metrics on the client port (tests only).
#pragma once

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "process/free_port.hpp"

namespace frodo {

// How many Range calls the etcd member at `endpoint` ("127.0.0.1:PORT") has started, from
// its Prometheus metrics on the client port: one HTTP/1.0 GET, at most 16 MiB, 5 s per read.
// -1 when it does not answer or the counter is missing. (etcd 3.4's proxy has cache hit and
// miss gauges, but the Debian build leaves them at 0: counting at etcd is what is left.)
inline double etcd_range_calls(const std::string& endpoint) {
  const int port = std::atoi(endpoint.substr(endpoint.rfind(':') + 1).c_str());
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in address = process::loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return -1;
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) return -1;
  std::string body;
  char chunk[65536];
  for (ssize_t n; (n = ::read(fd, chunk, sizeof chunk)) > 0;) {
    body.append(chunk, static_cast<std::size_t>(n));
    if (body.size() > (16u << 20)) return -1;
  }
  const std::string name =
      "\ngrpc_server_started_total{grpc_method=\"Range\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"} ";
  std::size_t at = body.find(name);
  if (at == std::string::npos) return -1;
  return std::strtod(body.c_str() + at + name.size(), nullptr);
}

}  // namespace frodo
