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

namespace frodo {

// One registered server, as stored under <prefix>/<context>/servers/<address>.
struct ServerInfo {
  std::string address;  // host:port
  double weight = 1;
  std::string zone;
  std::map<std::string, std::string> meta;

  friend bool operator==(const ServerInfo&, const ServerInfo&) = default;
};

// Why a session's lease ended: see Cluster::on_lease_lost.
enum class LeaseLossReason { expired, revoked, unreachable, closed };
const char* to_string(LeaseLossReason reason) noexcept;

// What a registry tells its Cluster. Callbacks come from the registry's own thread, in
// order, never under the registry's lock.
struct RegistryEvents {
  // The complete membership of the context as of `revision` (revisions only grow).
  std::function<void(std::vector<ServerInfo> servers, std::int64_t revision)> on_view;
  // The session's lease is gone: servers registered without `persistent` are gone with it.
  std::function<void(LeaseLossReason reason)> on_lease_lost;
  // A value under the prefix that is not a server record (skipped), or a transient failure.
  std::function<void(const std::string& message)> on_warning;
};

// A Cluster's connection to a registry: one session (one lease) per Cluster.
class RegistrySession {
 public:
  virtual ~RegistrySession() = default;
  // Registers (or replaces) a server; `persistent` ones carry no lease.
  virtual void put(const ServerInfo& server, bool persistent) = 0;
  // Removes a server registered by anyone; false if it was not registered.
  virtual bool remove(const std::string& address) = 0;
  // The lease's local deadline has not passed (always true without a lease).
  virtual bool lease_alive() const = 0;
  // Stops watching, revokes the lease (its servers leave at once). Idempotent.
  virtual void close() = 0;
};

class MemoryRegistry : public std::enable_shared_from_this<MemoryRegistry> {
 public:
  static std::shared_ptr<MemoryRegistry> create();

  // Opens a session on `context`: `events.on_view` is called at once with the current view,
  // then on every change.
  std::unique_ptr<RegistrySession> open(const std::string& context, RegistryEvents events);
  // Ends a session's lease as if its process had died (`expired`) or someone revoked it.
  // Sessions are numbered from 1 in the order they were opened.
  void end_lease(std::size_t session, LeaseLossReason reason = LeaseLossReason::expired);
  std::int64_t revision() const;

  // Simulated lease clocks (unit tests of what a process sees when it is frozen): from now
  // on each session's lease is alive, by its own clock, only while now() is before its last
  // renewal + ttl; open() and keep_alive() renew. The registry itself still holds the
  // session's servers until end_lease(), as etcd does until its own clock expires the lease.
  void simulate_lease_clock(std::function<std::chrono::steady_clock::time_point()> now, std::chrono::milliseconds ttl);
  void keep_alive(std::size_t session);

 private:
  struct Impl;
  friend class MemorySession;
  MemoryRegistry();
  std::shared_ptr<Impl> impl_;
};

}  // namespace frodo
