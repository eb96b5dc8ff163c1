// EventClient: the monitoring side of the seed's scenario. It reports host events to the
// alert servers, each to the server that owns the host in its view of the cluster.
//
// Each worker owns a disjoint set of hosts ("host-1".."host-N", host i to worker i % workers)
// and sends one event at a time, round-robin over its hosts; a host's events have seq 1, 2,
// 3... and alternate DOWN, UP, DOWN... An event is acknowledged only by a 200; until then
// the host keeps that event and the worker retries it, never skipping or reordering:
//   421  the owner moved: wait until this client's view reaches the server's revision, retry
//   503  the owner asks to wait (a handoff in progress), or a connection error, timeout or
//        other 5xx: set the host aside for 2-20 ms (growing) and go on with the worker's other
//        hosts, so a dead or frozen server stalls only its own hosts; then retry, to the new
//        owner once the view has changed
// The Cluster is opened only to read the view: the client never registers a server.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "acked.hpp"
#include "frodo/cluster.hpp"
#include "frodo/registry.hpp"

namespace alerts {

struct EventClientOptions {
  frodo::ClusterOptions cluster;
  // When set, the Cluster uses this in-memory registry instead of etcd.
  std::shared_ptr<frodo::MemoryRegistry> memory_registry;
  std::size_t hosts = 1000;
  std::int64_t events = 0;  // in total, over all workers; 0: until stop()
  std::size_t workers = 16;
  std::chrono::milliseconds timeout{1000};  // HTTP connect and read timeout; view catch-up wait
  // After stop(), how long a worker keeps retrying the event it is sending before it gives
  // up and records it as in flight (unacknowledged).
  std::chrono::milliseconds stop_grace{5000};
};

struct EventClientCounters {
  std::uint64_t sent = 0;          // POST requests, retries included
  std::uint64_t acknowledged = 0;  // events answered 200 (applied or duplicate)
  std::uint64_t redirects = 0;     // 421
  std::uint64_t waits = 0;         // 503, or no server in the view
  std::uint64_t handoff_waits = 0; // of those, 503 {"wait":"handoff"}: the owner waits for a release
  std::uint64_t retries = 0;       // connection errors, timeouts, 5xx other than 503
  std::uint64_t given_up = 0;      // events left unacknowledged by stop()
};

class EventClient {
 public:
  // Opens the Cluster (to read the view). Throws frodo::Error(invalid_argument) naming a
  // bad option (hosts or workers 0, events < 0), or the registry's error.
  explicit EventClient(EventClientOptions options);
  ~EventClient();
  EventClient(const EventClient&) = delete;
  EventClient& operator=(const EventClient&) = delete;

  // Sends until `events` events are acknowledged or stop() is called, then returns once
  // every worker has finished its current event. Rethrows a worker's failure (a server
  // refusing an event with 400 or 413 is a bug, not something to retry). Call once.
  void run();
  // Asks run() to finish; any thread, idempotent, also before run().
  void stop();

  // Live counters, readable from any thread while run() runs.
  EventClientCounters counters() const;
  // The last acknowledged seq of every host that has one.
  std::map<std::string, std::int64_t> acknowledged_seq() const;
  // Per host: the last acknowledged event, and the event given up on at stop() if any.
  std::map<std::string, Acked> acknowledged() const;

  frodo::Cluster& cluster();

  struct Impl;  // internal

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace alerts
