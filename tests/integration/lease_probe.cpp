// A process for the frozen-process test: registers one server under a Cluster and reports,
// every few milliseconds, whether it owns an id and whether its lease is alive, stamped with
// CLOCK_MONOTONIC (shared by every process on the machine), plus each lease loss.
// Usage: frodo_lease_probe ENDPOINTS CONTEXT ADDRESS TTL_SECONDS
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "frodo/cluster.hpp"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s ENDPOINTS CONTEXT ADDRESS TTL_SECONDS\n", argv[0]);
    return 2;
  }
  frodo::ClusterOptions options;
  options.etcd.endpoints = frodo::parse_endpoints(argv[1]);
  options.etcd.call_timeout = std::chrono::milliseconds(2000);
  options.context = argv[2];
  options.lease_ttl = std::chrono::seconds(std::stoi(argv[4]));
  options.logger = [](const std::string&) {};
  frodo::Cluster cluster(options);
  auto now_ns = [] {
    return static_cast<long long>(std::chrono::steady_clock::now().time_since_epoch().count());
  };
  frodo::Subscription lease_lost = cluster.on_lease_lost([&](frodo::LeaseLossReason reason) {
    std::printf("lost %lld %s\n", now_ns(), frodo::to_string(reason));
    std::fflush(stdout);
  });
  cluster.add_server(argv[3]);
  std::printf("ready\n");
  std::fflush(stdout);
  while (true) {
    long long at = now_ns();
    bool owns = cluster.owns("some-host");
    bool alive = cluster.lease_alive();
    std::printf("tick %lld %d %d\n", at, owns ? 1 : 0, alive ? 1 : 0);
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // pacing of the report, not synchronisation
  }
}
