// The etcd registry: a session is one lease (kept by a LeaseKeeper, re-granted after a loss
// with this session's servers re-registered on it) and one watch of the context's servers
// (re-listed when the watch reports a compacted revision).
#pragma once

#include <memory>

#include "etcd/connection.hpp"
#include "frodo/registry.hpp"

namespace frodo::detail {

std::unique_ptr<RegistrySession> open_etcd_session(std::shared_ptr<etcd::Connection> connection,
                                                   const std::string& servers_prefix, std::chrono::seconds ttl,
                                                   RegistryEvents events);

}  // namespace frodo::detail
