// Test hooks of MemoryRegistry: what unit tests do to the in-memory registry that no process
// does to etcd (end a lease as if its process died, freeze lease clocks, collapse views).
// Not part of the public API; tests include it from src/.
//
// Sessions are numbered from 1 in the order they were opened. Each hook is safe to call
// from any thread; callbacks it causes run on the calling thread, never under the registry's
// lock (as every change of a MemoryRegistry).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>

#include "frodo/registry.hpp"

namespace frodo {
namespace detail {

struct MemoryRegistryAccess {
  static void end_lease(MemoryRegistry& registry, std::size_t session, LeaseLossReason reason);
  static void simulate_lease_clock(MemoryRegistry& registry, std::function<std::chrono::steady_clock::time_point()> now,
                                   std::chrono::milliseconds ttl);
  static void keep_alive(MemoryRegistry& registry, std::size_t session);
  static void regrant(MemoryRegistry& registry, std::size_t session);
  static void hold_views(MemoryRegistry& registry, std::size_t session);
  static void release_views(MemoryRegistry& registry, std::size_t session);
};

}  // namespace detail

namespace test {

// Ends a session's lease as if its process had died (`expired`) or someone revoked it.
inline void end_lease(MemoryRegistry& registry, std::size_t session, LeaseLossReason reason = LeaseLossReason::expired) {
  detail::MemoryRegistryAccess::end_lease(registry, session, reason);
}

// Simulated lease clocks (what a process sees when it is frozen): from now on each session's
// lease is alive, by its own clock, only while now() is before its last renewal + ttl; open()
// and keep_alive() renew. The registry itself still holds the session's servers until
// end_lease(), as etcd does until its own clock expires the lease.
inline void simulate_lease_clock(MemoryRegistry& registry, std::function<std::chrono::steady_clock::time_point()> now,
                                 std::chrono::milliseconds ttl) {
  detail::MemoryRegistryAccess::simulate_lease_clock(registry, std::move(now), ttl);
}
inline void keep_alive(MemoryRegistry& registry, std::size_t session) {
  detail::MemoryRegistryAccess::keep_alive(registry, session);
}

// What an etcd session does after its lease is lost: grants a new lease and registers the
// session's servers again on it (one put each, each a new record: a new create revision).
// Nothing if the session's lease is alive.
inline void regrant(MemoryRegistry& registry, std::size_t session) {
  detail::MemoryRegistryAccess::regrant(registry, session);
}

// Collapsed views, as one watch response or re-list carrying several changes: while held, a
// session is delivered no view; release_views() delivers only the newest one.
inline void hold_views(MemoryRegistry& registry, std::size_t session) {
  detail::MemoryRegistryAccess::hold_views(registry, session);
}
inline void release_views(MemoryRegistry& registry, std::size_t session) {
  detail::MemoryRegistryAccess::release_views(registry, session);
}

}  // namespace test
}  // namespace frodo
