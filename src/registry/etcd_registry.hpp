// The etcd registry: a session is one lease (granted on the first put that needs it, kept by
// a LeaseKeeper, re-granted after a loss with this session's servers re-registered on it)
// and one watch of the context's servers (re-listed when the watch reports a compacted
// revision or another etcd cluster, with back-off while re-listing fails).
#pragma once

#include <memory>

#include "etcd/connection.hpp"
#include "frodo/registry.hpp"

namespace frodo::detail {

// Lists the context and starts watching it (throws the etcd error if the listing fails,
// leaving no thread behind). Values over `max_value_bytes` are skipped unread. The first
// grant of the lease is retried for up to `lease_wait` (ClusterOptions::connect_timeout)
// while etcd is unavailable, and a put that needs the lease while it is lost waits as long
// (at least the call timeout) for the re-grant.
std::unique_ptr<RegistrySession> open_etcd_session(std::shared_ptr<etcd::Connection> connection,
                                                   const std::string& servers_prefix, std::chrono::seconds ttl,
                                                   std::chrono::milliseconds lease_wait, std::size_t max_value_bytes,
                                                   RegistryEvents events);

}  // namespace frodo::detail
