// AlertServer: one alert-ingestion server of the seed's scenario. Clients POST host events
// to the server that owns the host (frodo's server_by_id); the server applies each host's
// events in order, exactly once, to the shared Store.
//
// HTTP (JSON bodies; see README.md):
//   POST /events   one Event; header X-Frodo-Revision: the client's view revision (optional)
//     200 {"result":"applied","token":T}     applied to the store under fencing token T
//     200 {"result":"duplicate"}             seq already applied for the host: nothing changed
//                                            (the answer is recorded in the store, see store.hpp)
//     400 {"error":"..."}                    not an event (the message names the problem)
//     413 {"error":"..."}                    body larger than max_event_bytes
//     421 {"redirect":"ADDR","revision":R}   another server owns the host in view R
//     503 {"wait":"REASON","revision":R}     owned here, but not now (handoff, fenced, not
//                                            joined...); Retry-After: 0, retry the same event
//   GET /stats     counters and the guard's state, as JSON
//   GET /health    200 "ok"
//
// With `guard` (the default) a frodo::Guard admits each event, so a host moving between
// servers is never processed by two at once, and the store fences late writes. Without it
// the server is a naive frodo user: it processes whatever its own view says it owns, which
// is what lets the checker show the reorderings a handoff causes.
//
// What the server does with an admitted event, in order: it notes the admission time
// (store.hpp's monotonic_us), takes the host's lock (one event of a host at a time in this
// process), compares the seq with the last one it knows applied for the host (what it last
// read from the store or wrote itself under the same token; reread when the token changes),
// then either records a `duplicate` answer (seq not newer) or works for `work` and applies
// the event. Both are rows in the store carrying the admission interval, so the checker sees
// every admission that reached the store, including those that wrote nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "frodo/cluster.hpp"
#include "frodo/guard.hpp"
#include "frodo/registry.hpp"

namespace alerts {

struct AlertServerOptions {
  frodo::ClusterOptions cluster;  // etcd endpoints, context, lease_ttl
  // When set, the Cluster uses this in-memory registry instead of etcd (tests; servers and
  // clients in one process).
  std::shared_ptr<frodo::MemoryRegistry> memory_registry;
  std::string listen_host = "127.0.0.1";
  int port = 0;           // 0: any free port (see AlertServer::port())
  std::string advertise;  // the address registered in the cluster; default listen_host:port
  std::string store_path;
  // Whether the store refuses stale tokens (StoreOptions::fencing). Without it the guard
  // alone keeps the hosts in order (`frodo demo --no-fencing`).
  bool fencing = true;
  bool guard = true;
  // Join the cluster in the constructor. false: the server binds its port, opens the store
  // and its view of the cluster, and answers 503 "not joined" until join() (so that a join
  // can be timed to a moment, as `frodo demo` does).
  bool join = true;
  // catch_up stays under the client's 1 s timeout: a server waiting to see the client's
  // view answers `wait` before the client gives up on the request.
  frodo::GuardOptions guard_options{.catch_up = std::chrono::milliseconds(500)};
  // Simulated processing time of each applied event, so handoffs have work in flight
  // (set_work() changes it while the server runs).
  std::chrono::microseconds work{2000};
  // HTTP worker threads. Each open client connection (keep-alive) holds one while it is
  // open, so this bounds the connections served at once: keep it above the clients' workers.
  std::size_t threads = 64;
};

struct AlertServerStats {
  std::string address;
  bool guard = false;
  std::uint64_t applied = 0;
  std::uint64_t duplicates = 0;  // answered "duplicate" (and recorded as such)
  std::uint64_t redirected = 0;  // 421
  std::uint64_t waited = 0;      // 503 from the guard (handoff, lease expired, leaving...) or not joined
  std::uint64_t fenced = 0;      // 503 because the store refused a stale token
  std::uint64_t rejected = 0;    // 400 and 413
  std::int64_t epoch = 0;        // the guard's epoch, the epoch it last released, and how
  std::int64_t released = 0;     // many releases (handoffs) it published; 0 unguarded
  std::uint64_t releases = 0;
  std::int64_t revision = 0;     // this server's view
  std::size_t members = 0;       // servers in the ring of that view
  bool fencing = false;          // the store refuses stale tokens
};

// {"address":...,"guard":true,"applied":...} with every field above.
std::string to_json(const AlertServerStats& stats);

class AlertServer {
 public:
  // Binds the port, opens the store and joins the cluster (registering the server, guarded
  // or not), unless options.join is false; requests are queued until run(). Throws
  // frodo::Error: invalid_argument naming a bad option (an address, a port that cannot be
  // bound, a store that cannot be opened, a negative work time), or the registry's error.
  explicit AlertServer(AlertServerOptions options);
  // Stops serving and joins start()'s thread; the server leaves the cluster without waiting
  // for a handoff. A thread of the caller's that runs run() must have returned before.
  ~AlertServer();
  AlertServer(const AlertServer&) = delete;
  AlertServer& operator=(const AlertServer&) = delete;

  const std::string& address() const;  // as registered
  int port() const;                    // the bound port

  // Serves until stop() (from another thread, or a signal handler's thread).
  void run();
  // run() on a thread of the server's own; stop() or the destructor joins it.
  void start();
  // Makes run() return; requests in progress finish first. Idempotent, any thread.
  void stop();
  // Registers the server in the cluster (guarded or not) when options.join was false; from
  // then on it serves. Idempotent. Throws the registry's frodo::Error.
  void join();
  // The simulated processing time of the events admitted from now on. Any thread.
  void set_work(std::chrono::microseconds work);
  // Graceful exit: hands the server's hosts over (Guard::leave, waiting up to `timeout` for
  // the work in flight; unguarded: remove_server at once; not joined: nothing), then stop().
  void leave(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  AlertServerStats stats() const;
  frodo::Cluster& cluster();

  struct Impl;  // internal

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace alerts
