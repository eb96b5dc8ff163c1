// Cluster: frodo.io's Frodo in C++. Servers register under an application context; any
// process asks server_by_id(id) and gets the one server that owns the entity, the same answer
// in every process that sees the same membership (same revision, same checksum).
//
//   frodo::Cluster cluster({.context = "appname", .etcd = {.endpoints = {"127.0.0.1:2379"}}});
//   cluster.add_server("10.0.0.3:3030");                 // attached to this process's lease
//   std::optional<std::string> owner = cluster.server_by_id("host-42");
//
// Contract:
// - Lookups (server_by_id, owners, owns) answer from the local snapshot: they never wait
//   on etcd, take no lock and write no shared memory on the common path (each thread keeps
//   its own reference to the view it last read and refreshes it when a newer view is
//   published, so a thread stalled for any time never reads freed memory), and keep
//   answering with the last view while etcd is away.
// - Snapshots are immutable and published atomically; each carries the etcd revision it
//   reflects and the ring's checksum. Views share the records that did not change, and a
//   replaced view is freed as soon as no thread reads it: memory follows the membership.
// - Values under the context's prefix come from anyone who can write to etcd: each is
//   size-capped (max_value_bytes) and depth-limited before it is parsed and checked field by
//   field after; a bad one is skipped with one warning through `logger` naming its key and
//   the reason (docs/limits.md). No value stops the Cluster or any of its threads.
// - No lease is granted until the first add_server that needs one: a Cluster that only
//   reads never writes to etcd.
// - add_server and remove_server return once this process's own view reflects the change
//   (read-your-writes), with the revision of the write.
// - Servers added by this Cluster are attached to its lease (TTL `lease_ttl`, kept alive
//   every TTL/3), so they leave by themselves when the process dies; `persistent` ones do not.
// - close() (and the destructor) revokes the lease, so this process's servers leave at once.
// - The ring holds every registered server except those whose meta has "frodo.leaving" (a
//   guarded server draining before it leaves, see guard.hpp); Snapshot::servers lists all.
// - Callbacks run on the Cluster's own thread, never under an internal lock; they must not
//   call close(). Each stays registered while the Subscription returned for it lives.
// - Lifetimes: a Cluster must outlive every Guard made on it (guard.hpp) and every HTTP API or
//   metrics server given it; Snapshots and Subscriptions may outlive it.
// - stats() reads counters the Cluster's own threads keep; lookups write none of them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frodo/etcd.hpp"
#include "frodo/registry.hpp"
#include "frodo/ring.hpp"
#include "frodo/subscription.hpp"

namespace frodo {

struct ClusterOptions {
  std::string context;  // [A-Za-z0-9._-]{1,128}
  EtcdOptions etcd;
  Algorithm algorithm = Algorithm::ketama;
  std::chrono::seconds lease_ttl{5};
  // How long the Cluster waits for etcd to answer, as one deadline the caller owns. The
  // constructor keeps trying to list the context while no member is reachable or etcd
  // answers "unavailable" (waiting for a connection to change state, not sleeping), and
  // add_server waits this long for the lease to be granted (the first one, or a lost one
  // again). 0 (the default): one
  // attempt, each call bounded by etcd.call_timeout. Other errors (bad options, permission
  // denied) are thrown at once.
  std::chrono::milliseconds connect_timeout{0};
  std::string prefix = "/frodo";  // keys live under <prefix>/<context>/servers/<address>
  // Values under the prefix larger than this are skipped unread (1 KiB to 16 MiB); records
  // this process writes must fit too.
  std::size_t max_value_bytes = 64 * 1024;
  // Where warnings go (skipped foreign values, transient etcd failures, a callback that
  // threw); default: stderr. Called from the Cluster's threads; must not throw.
  std::function<void(const std::string& message)> logger;
  // View agreement: every server this Cluster registers carries the checksum of this
  // process's current ring in its meta (view_meta_key), and after each change of the ring
  // the Cluster writes its records again (one put per server, from a thread of its own), so
  // that anyone can see which processes hold which view (the status page of `frodo serve`).
  bool publish_view = false;
};

// The server-record meta key under which a Cluster with publish_view publishes the checksum
// of its ring (Ring::checksum_hex).
inline constexpr const char* view_meta_key = "frodo.view";

struct AddOptions {
  double weight = 1;
  std::string zone;
  std::map<std::string, std::string> meta;
  bool persistent = false;  // no lease: stays until remove_server
};

// One published view of the membership.
struct Snapshot {
  ServerList servers;  // sorted by address; iterates as const ServerInfo&
  Ring ring;
  std::int64_t revision = 0;  // the registry revision this view reflects (0: none yet)
  // How many times this Cluster saw the registry replaced (etcd restored from a backup or
  // re-created: a new cluster id, revisions started over) up to this view. A view with a
  // higher count is newer than every view with a lower one, whatever their revisions.
  std::uint64_t restarts = 0;

  // Up to n distinct servers for `id` in this view, as Cluster::owners answers: servers in
  // zones not yet chosen first, then ring order. Empty when the view has no server.
  std::vector<std::string> owners(std::string_view id, std::size_t n) const;
};

// What a Cluster has seen and done since it was made (Cluster::stats()): a copy, owned by
// the caller. docs/metrics.md names the Prometheus metric of each field.
struct ClusterStats {
  std::string context;
  Algorithm algorithm = Algorithm::ketama;
  std::int64_t revision = 0;      // of the current view (0: none yet)
  std::uint64_t restarts = 0;     // Snapshot::restarts of the current view
  std::size_t servers = 0;        // registered in the current view
  std::size_t ring_members = 0;   // in its ring (servers not leaving)
  std::uint64_t checksum = 0;     // of its ring
  std::uint64_t view_changes = 0; // views published (the first one included)
  std::uint64_t callback_errors = 0;  // on_change and on_lease_lost callbacks that threw
  bool lease_alive = false;       // Cluster::lease_alive()
  std::int64_t lease_id = 0;      // Cluster::lease_id()
  std::map<LeaseLossReason, std::uint64_t> lease_losses;  // by reason (closed is not counted)
  std::uint64_t view_publications = 0;  // records written again for publish_view
  RegistryStats registry;         // the etcd side: watch restarts, re-listings, skipped values, calls
};

class Cluster {
 public:
  // Connects to etcd, grants the lease, lists and starts watching the context. Throws
  // frodo::Error: invalid_argument naming a bad option (a context like "../x"), or the
  // etcd error if etcd cannot be reached within its call timeout.
  explicit Cluster(ClusterOptions options);
  // The same over an in-memory registry (unit tests, single-process use); etcd options are
  // ignored.
  Cluster(ClusterOptions options, std::shared_ptr<MemoryRegistry> registry);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Registers `address` and waits until this process's view holds it; returns the revision
  // of the write. Throws Error: invalid_argument naming a bad address, weight, zone or meta
  // (or a record over max_value_bytes); the etcd error if the write fails; deadline_exceeded
  // if the write took effect but the view did not catch up within the etcd call timeout.
  std::int64_t add_server(const std::string& address, const AddOptions& options = {});
  // True if it was registered (by anyone); then waits, as add_server does, until this
  // process's view no longer holds it.
  bool remove_server(const std::string& address);

  std::optional<std::string> server_by_id(std::string_view id) const;
  // Up to n distinct servers: servers in zones not yet chosen first, then ring order.
  std::vector<std::string> owners(std::string_view id, std::size_t n) const;
  // Whether server_by_id(id) is one of the servers this Cluster registered.
  bool owns(std::string_view id) const;

  // The current view. Hold the returned pointer for as long as you use what it points to: a
  // replaced view is freed as soon as nobody holds it, so
  //   for (const ServerInfo& s : cluster.snapshot()->servers)   // wrong: the pointer dies first
  // reads freed memory when a change lands meanwhile; write
  //   std::shared_ptr<const Snapshot> view = cluster.snapshot();
  //   for (const ServerInfo& s : view->servers)                 // right
  std::shared_ptr<const Snapshot> snapshot() const;
  // Waits until the first view has arrived; false on timeout.
  bool wait_ready(std::chrono::milliseconds timeout) const;
  // Waits until the view reflects at least `revision`; false on timeout.
  bool wait_revision(std::int64_t revision, std::chrono::milliseconds timeout) const;
  // The lease's local deadline has not passed (a frozen process that wakes up late sees false).
  bool lease_alive() const;
  // The id of this Cluster's current lease: 0 before the first add_server that needed one,
  // and from a lease loss until the re-grant (the registry then registers this Cluster's
  // servers again on the new lease, as new records). Takes no lock.
  std::int64_t lease_id() const;
  // The TTL of this Cluster's lease (ClusterOptions::lease_ttl).
  std::chrono::seconds lease_ttl() const;
  // Counters and the state of the current view, for monitoring (frodo::prometheus_text
  // writes them for Prometheus). Takes the Cluster's lock briefly; any thread.
  ClusterStats stats() const;

  // Adds a callback, called with the old and the new snapshot after each change of the
  // servers (their records, meta included); callbacks run in the order they were added. A
  // callback that throws is reported through the logger; the others still run. It stays
  // registered while the returned Subscription lives (subscription.hpp).
  [[nodiscard]] Subscription on_change(std::function<void(const Snapshot& before, const Snapshot& after)> callback);
  // Adds a callback, called when this Cluster's lease is lost (the library then grants a new
  // one and registers this Cluster's servers again); as on_change otherwise.
  [[nodiscard]] Subscription on_lease_lost(std::function<void(LeaseLossReason reason)> callback);
  // The options this Cluster was made with (its logger included).
  const ClusterOptions& options() const;

  void close();

  struct State;  // internal

 private:
  void wait_own_write(std::int64_t revision, const std::string& what) const;
  void start_threads();
  std::shared_ptr<State> state_;
};

// Throws Error(invalid_argument) naming the context if it is not [A-Za-z0-9._-]{1,128} or
// is "." or "..".
void validate_context(const std::string& context);

}  // namespace frodo
