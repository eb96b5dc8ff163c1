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
//   on etcd, take no lock and write no shared memory, and keep answering with the last view
//   while etcd is away.
// - Snapshots are immutable and published atomically; each carries the etcd revision it
//   reflects and the ring's checksum.
// - Servers added by this Cluster are attached to its lease (TTL `lease_ttl`, kept alive
//   every TTL/3), so they leave by themselves when the process dies; `persistent` ones do not.
// - close() (and the destructor) revokes the lease, so this process's servers leave at once.
// - The ring holds every registered server except those whose meta has "frodo.leaving" (a
//   guarded server draining before it leaves, see guard.hpp); Snapshot::servers lists all.
// - Callbacks run on the Cluster's own thread, never under an internal lock; they must not
//   call close().
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

namespace frodo {

struct ClusterOptions {
  std::string context;  // [A-Za-z0-9._-]{1,128}
  EtcdOptions etcd;
  Algorithm algorithm = Algorithm::ketama;
  std::chrono::seconds lease_ttl{5};
  std::string prefix = "/frodo";  // keys live under <prefix>/<context>/servers/<address>
  // Where warnings go (skipped foreign values, transient etcd failures); default: stderr.
  std::function<void(const std::string& message)> logger;
};

struct AddOptions {
  double weight = 1;
  std::string zone;
  std::map<std::string, std::string> meta;
  bool persistent = false;  // no lease: stays until remove_server
};

// One published view of the membership.
struct Snapshot {
  std::vector<ServerInfo> servers;  // sorted by address
  Ring ring;
  std::int64_t revision = 0;  // the registry revision this view reflects (0: none yet)
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

  void add_server(const std::string& address, const AddOptions& options = {});
  // True if it was registered (by anyone).
  bool remove_server(const std::string& address);

  std::optional<std::string> server_by_id(std::string_view id) const;
  // Up to n distinct servers: servers in zones not yet chosen first, then ring order.
  std::vector<std::string> owners(std::string_view id, std::size_t n) const;
  // Whether server_by_id(id) is one of the servers this Cluster registered.
  bool owns(std::string_view id) const;

  std::shared_ptr<const Snapshot> snapshot() const;
  // Waits until the first view has arrived; false on timeout.
  bool wait_ready(std::chrono::milliseconds timeout) const;
  // Waits until the view reflects at least `revision`; false on timeout.
  bool wait_revision(std::int64_t revision, std::chrono::milliseconds timeout) const;
  // The lease's local deadline has not passed (a frozen process that wakes up late sees false).
  bool lease_alive() const;

  // Adds a callback, called with the old and the new snapshot after each change of the
  // servers (their records, meta included); callbacks run in the order they were added.
  void on_change(std::function<void(const Snapshot& before, const Snapshot& after)> callback);
  void on_lease_lost(std::function<void(LeaseLossReason reason)> callback);

  void close();

  struct State;  // internal

 private:
  std::shared_ptr<State> state_;
};

// Throws Error(invalid_argument) naming the context if it is not [A-Za-z0-9._-]{1,128} or
// is "." or "..".
void validate_context(const std::string& context);

}  // namespace frodo
