// A downstream program, built against an installed frodo (static and shared) by
// tests/install/check-install.sh. It uses the public headers only: a Ring, then a Cluster
// over the in-memory registry with one guarded server. It prints the ring's owner of
// "someId" (compared with the CLI's answer), then the live cluster's checks as one line.
#include <frodo/cluster.hpp>
#include <frodo/guard.hpp>
#include <frodo/ring.hpp>

#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

int main() {
  frodo::Ring ring({{"10.0.0.1:3030"}, {"10.0.0.2:3030"}, {"10.0.0.3:3030"}});
  std::cout << *ring.owner("someId") << '\n';

  std::shared_ptr<frodo::MemoryRegistry> registry = frodo::MemoryRegistry::create();
  frodo::Cluster cluster({.context = "consumer"}, registry);
  frodo::Guard guard(cluster, "10.0.0.1:3030");  // registers the server
  bool owner_ok = cluster.server_by_id("someId") == "10.0.0.1:3030";
  // A lone guarded server admits every id once its first epoch has settled.
  bool admitted = false;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       !admitted && std::chrono::steady_clock::now() < deadline;) {
    if (frodo::Admission a = guard.admit("someId")) {
      admitted = a.token() > 0 && a.owner() == "10.0.0.1:3030";
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  guard.leave();
  bool left = !cluster.server_by_id("someId").has_value();
  std::cout << "cluster owner=" << owner_ok << " admitted=" << admitted << " left=" << left << '\n';
  return owner_ok && admitted && left ? 0 : 1;
}
