// FaultProxy: a TCP proxy on loopback that injects network faults between a client and one
// upstream, for tests and `frodo demo` (its partition step), which need real partitions,
// resets and slow links rather than killed or frozen processes. Standard library + POSIX
// only; library frodo_fault_proxy, built with the tests or the tools, never installed.
//
//   frodo::fault::FaultProxy proxy({.upstream = etcd.endpoint(0)});
//   options.etcd.endpoints = {proxy.address()};   // the client reaches etcd only through it
//   proxy.black_hole();                           // TCP stays up, no byte moves
//   proxy.heal();                                 // what was held is delivered, in order
//
// Contract:
// - The constructor binds 127.0.0.1 (port `listen_port`, or one the kernel picks) and keeps
//   that socket until stop(): the address is never released and re-bound, so nothing else
//   can take it in between. It throws std::invalid_argument for an upstream that is not a
//   loopback address (only 127.0.0.0/8, ::1 and "localhost" are accepted: a test must not
//   send traffic off the machine) or bad limits, and std::runtime_error when a socket call
//   fails. Nothing is left behind when it throws.
// - Every accepted connection gets its own connection to the upstream, made at once (also
//   during a delay or a black hole; under reset() the new connection is reset instead), and
//   the bytes of each direction are forwarded in order. An end
//   that closes its side is closed on the other end once the bytes before it are forwarded;
//   an end that fails (a reset, an error) makes the proxy reset the other end too.
// - Faults, set at any time from any thread; each setter returns once the proxy's thread
//   has applied it, so no byte moves against it afterwards:
//     pass()          forward everything (the default);
//     delay(d)        forward no byte earlier than d after the proxy read it, in each
//                     direction; changing d (or heal()) applies to the bytes already held;
//     black_hole(dir) accept and hold connections but forward nothing in `dir` (to the
//                     upstream, to the client, or both): a partition where TCP stays up. The
//                     proxy keeps reading until a connection's buffer for that direction is
//                     full, then stops reading (the sender's TCP window closes); an end of
//                     stream is held as well;
//     reset()         reset (RST: SO_LINGER 0) every current connection, both ends, dropping
//                     what was held, and reset every new one as soon as it is accepted;
//     heal()          back to pass: everything a black hole or a delay held is delivered,
//                     in order, then forwarding goes on (nothing held is lost). Connections
//                     a reset() ended stay ended; clients reconnect.
// - Bounded: at most `max_connections` at once (one more is accepted and reset at once,
//   counted as refused); per connection and direction, at most `max_buffered_bytes` held, in
//   at most max(64, max_buffered_bytes / 512) reads (each keeps its own time stamp for
//   delay()). When either is reached the proxy stops reading that end until bytes leave.
// - One thread (a poll() loop) serves every connection; it catches everything at its entry.
//   Should it fail, it resets every connection, stops accepting, and error() says why.
// - Thread-safety: every member function may be called from any thread, concurrently, except
//   that the destructor must not run while another call is in progress. stop() is idempotent;
//   after it, the fault setters change nothing and return at once.
// - stop() (and the destructor) resets every open connection, closes the listening socket
//   (the port is free again afterwards) and joins the thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace frodo::fault {

enum class Direction {
  to_upstream,  // bytes the client sends
  to_client,    // bytes the upstream sends
  both,
};

struct FaultProxyOptions {
  // host:port of the upstream: an IPv4 address in 127.0.0.0/8, [::1] or localhost.
  std::string upstream;
  int listen_port = 0;  // 0: a free port chosen by the kernel
  std::size_t max_connections = 64;
  std::size_t max_buffered_bytes = 256 * 1024;  // per connection and direction, at least 1
};

// Counters since construction (open and buffered_bytes: now).
struct FaultProxyCounters {
  std::uint64_t accepted = 0;           // connections taken on (refused ones not included)
  std::uint64_t refused = 0;            // reset at once: over max_connections, or while reset()
  std::uint64_t upstream_failures = 0;  // the upstream could not be reached (the client is reset)
  std::uint64_t resets = 0;             // connections the proxy reset (faults, failures, stop)
  std::uint64_t open = 0;               // connections open now
  std::uint64_t bytes_to_upstream = 0;  // bytes written to the upstream
  std::uint64_t bytes_to_client = 0;    // bytes written to clients
  std::uint64_t buffered_bytes = 0;     // bytes held now, all connections and directions
  std::uint64_t peak_buffered = 0;      // the most ever held for one connection and direction
};

class FaultProxy {
 public:
  explicit FaultProxy(FaultProxyOptions options);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const;
  std::string address() const;  // "127.0.0.1:PORT", to use as an endpoint

  void pass();
  void delay(std::chrono::milliseconds per_direction);
  void black_hole(Direction direction = Direction::both);
  void reset();
  void heal();  // the same as pass()

  FaultProxyCounters counters() const;
  // Why the proxy's thread stopped by itself ("" while it runs or after a normal stop()).
  std::string error() const;
  void stop();

  struct State;  // internal

 private:
  std::shared_ptr<State> state_;
};

}  // namespace frodo::fault
