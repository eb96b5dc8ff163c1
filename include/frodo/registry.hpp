// Registry: where a Cluster keeps and learns the membership of its context.
//
// Two implementations: the etcd registry (the real one, made by Cluster from EtcdOptions)
// and MemoryRegistry, an in-process store for unit tests and single-process use, where
// several Clusters sharing one MemoryRegistry behave like processes sharing one etcd.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "frodo/histogram.hpp"
#include "frodo/server.hpp"

namespace frodo {

namespace detail {
struct MemoryRegistryAccess;
}

// Why a session's lease ended: see Cluster::on_lease_lost.
enum class LeaseLossReason { expired, revoked, unreachable, closed };
const char* to_string(LeaseLossReason reason) noexcept;

// The complete membership of a context as of one revision.
struct RegistryView {
  ServerList servers;  // sorted by address; records unchanged since the last view are shared
  std::int64_t revision = 0;
  // The registry was replaced (etcd restored from a backup or re-created: a new cluster id),
  // so revisions started over: this view replaces the last one although it is not newer.
  bool restarted = false;
};

// What a registry tells its Cluster. Callbacks come from the registry's own thread, in
// order, never under the registry's lock. A callback that throws is reported through
// on_warning and does not stop the registry (the etcd registry delivers the view again after
// a back-off, unless a newer one came). The etcd registry coalesces: views that arrive while
// on_view runs replace each other, and only the newest is delivered when it returns.
struct RegistryEvents {
  // A new view; revisions only grow, except in a view marked `restarted`.
  std::function<void(RegistryView view)> on_view;
  // The session's lease is gone: servers registered without `persistent` are gone with it.
  std::function<void(LeaseLossReason reason)> on_lease_lost;
  // A value under the prefix that is not a server record (skipped), or a transient failure.
  std::function<void(const std::string& message)> on_warning;
};

// What one kind of etcd call has cost a registry session so far.
struct EtcdCallStats {
  std::string method;        // the etcd RPC: Range, Put, DeleteRange, Txn, LeaseGrant, ...
  Histogram latency;         // per call, retries and failover between endpoints included
  std::uint64_t failures = 0;  // calls that failed in the end (after their retries)
};

// Counters of a registry session since it was opened (all zero for MemoryRegistry, which
// has no etcd).
struct RegistryStats {
  std::uint64_t watch_restarts = 0;  // watch streams that failed and were opened again
  std::uint64_t resyncs = 0;         // re-listings of the context (a compacted revision, another etcd cluster)
  std::uint64_t skipped_values = 0;  // values under the prefix that are not server records
  std::vector<EtcdCallStats> etcd_calls;  // one entry per RPC frodo makes
};

// A Cluster's connection to a registry: one session (one lease) per Cluster.
class RegistrySession {
 public:
  virtual ~RegistrySession() = default;
  // Registers (or replaces) a server; `persistent` ones carry no lease (the session's lease
  // is granted on the first put that needs it). Returns the revision of the write.
  virtual std::int64_t put(const ServerInfo& server, bool persistent) = 0;
  // Removes a server registered by anyone: the revision of the delete, or 0 if it was not
  // registered.
  virtual std::int64_t remove(const std::string& address) = 0;
  // The lease's local deadline has not passed (always true before a lease was needed).
  // Takes no lock: safe on a lookup path.
  virtual bool lease_alive() const = 0;
  // The id of the session's current lease: 0 before a lease was needed, and from the loss of
  // one until another is granted. Servers registered without `persistent` hang on it.
  virtual std::int64_t lease_id() const = 0;
  // Stops watching, revokes the lease (its servers leave at once). Idempotent.
  virtual void close() = 0;
  // The session's counters; any thread, at any time (also after close()).
  virtual RegistryStats stats() const { return {}; }
};

class MemoryRegistry : public std::enable_shared_from_this<MemoryRegistry> {
 public:
  static std::shared_ptr<MemoryRegistry> create();

  // Opens a session on `context`: `events.on_view` is called at once with the current view,
  // then on every change.
  std::unique_ptr<RegistrySession> open(const std::string& context, RegistryEvents events);
  // The revision of the last change.
  std::int64_t revision() const;

 private:
  struct Impl;
  friend class MemorySession;
  friend struct detail::MemoryRegistryAccess;  // the tests' hooks (src/registry/memory_registry_testing.hpp)
  MemoryRegistry();
  std::shared_ptr<Impl> impl_;
};

}  // namespace frodo
