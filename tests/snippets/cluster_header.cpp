// include/frodo/cluster.hpp's usage example, as written there. It names an etcd at
// 127.0.0.1:2379, so it is compiled, not run (readme_cluster.cpp runs the same calls in memory).
#include <frodo/cluster.hpp>

#include <optional>
#include <string>

[[maybe_unused]] static void header_example() {
  // begin snippet: include/frodo/cluster.hpp
  frodo::Cluster cluster({.context = "appname", .etcd = {.endpoints = {"127.0.0.1:2379"}}});
  cluster.add_server("10.0.0.3:3030");                 // attached to this process's lease
  std::optional<std::string> owner = cluster.server_by_id("host-42");
  // end snippet
  (void)owner;
}

int main() { return 0; }
