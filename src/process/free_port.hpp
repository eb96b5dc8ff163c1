// Loopback TCP ports for child processes to listen on.
//
// Choosing a port by binding port 0 and closing the socket is racy: between the close and
// the child's bind, anything may take the port. A PortReservation keeps its socket bound
// (SO_REUSEADDR and SO_REUSEPORT, never listening) for as long as it lives: other sockets
// cannot bind the port, except listeners that set SO_REUSEADDR (as etcd, in Go, does) or,
// from the same user, SO_REUSEPORT (as Debian's cpp-httplib does). So hold the reservation until the child has bound (or for the child's whole life,
// which also keeps the port for a restart), and pass its port() to the child.
// A child that sets neither cannot bind a reserved port: release() first and
// retry with a new reservation when it reports "address already in use".
#pragma once

#include <netinet/in.h>

namespace frodo::process {

// 127.0.0.1:port as a socket address (port 0: let the kernel choose).
sockaddr_in loopback(int port);

class PortReservation {
 public:
  // A port on 127.0.0.1 chosen by the kernel and never handed out before by this process
  // (a process-wide set, never emptied, so two reservations never share a port even after
  // one is released). Throws std::runtime_error when no such port can be bound.
  PortReservation();
  ~PortReservation();  // releases the port
  PortReservation(PortReservation&& other) noexcept;
  PortReservation& operator=(PortReservation&& other) noexcept;
  PortReservation(const PortReservation&) = delete;
  PortReservation& operator=(const PortReservation&) = delete;

  int port() const { return port_; }
  // Closes the socket: the port is no longer held (port() still returns it).
  void release() noexcept;

 private:
  int fd_ = -1;
  int port_ = 0;
};

// True when something accepts TCP connections on 127.0.0.1:port right now.
bool accepts_connections(int port);

}  // namespace frodo::process
