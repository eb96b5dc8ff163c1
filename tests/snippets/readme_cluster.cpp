// README.md, "The live cluster": the Cluster example, as written there. It names an etcd at
// 127.0.0.1:2379, so it is compiled, not run (the in-memory twin below runs).
#include <frodo/cluster.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

[[maybe_unused]] static void readme_example() {
  // begin snippet: README
  #include <frodo/cluster.hpp>

  frodo::Cluster cluster({.context = "appname", .etcd = {.endpoints = {"127.0.0.1:2379"}}});
  cluster.add_server("10.0.0.3:3030");                  // on this process's lease (TTL 5 s)
  cluster.add_server("10.0.0.4:3030", {.weight = 2, .zone = "b", .persistent = true});
  std::optional<std::string> owner = cluster.server_by_id("host-42");
  bool mine = cluster.owns("host-42");                  // is it one of mine, with a live lease?
  std::int64_t revision = cluster.snapshot()->revision; // the etcd revision this view reflects
  // Each callback stays registered while its Subscription lives.
  frodo::Subscription changes =
      cluster.on_change([](const frodo::Snapshot& before, const frodo::Snapshot& after) { /* ... */ });
  frodo::Subscription losses = cluster.on_lease_lost([](frodo::LeaseLossReason why) { /* ... */ });
  // end snippet
  (void)owner, (void)mine, (void)revision;
}

// The same calls over the in-memory registry, run.
int main() {
  frodo::Cluster cluster({.context = "appname"}, frodo::MemoryRegistry::create());
  int changed = 0;
  frodo::Subscription changes = cluster.on_change([&](const frodo::Snapshot&, const frodo::Snapshot&) { ++changed; });
  cluster.add_server("10.0.0.3:3030");
  cluster.add_server("10.0.0.4:3030", {.weight = 2, .zone = "b", .persistent = true});
  std::optional<std::string> owner = cluster.server_by_id("host-42");
  bool ok = owner && (*owner == "10.0.0.3:3030" || *owner == "10.0.0.4:3030") && cluster.owns(*owner) &&
            cluster.snapshot()->revision > 0 && changed > 0;
  return ok ? 0 : 1;
}
