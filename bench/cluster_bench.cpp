// Cluster figures:
//  - add_server in one process -> visible in another (p50, p99 over N adds), against a real
//    local etcd, with the bare etcd put round trip measured in the same run as the anchor;
//  - server_by_id at 1,000 servers from 1 and 2 threads (the ratio is the scaling).
//  - SIGKILL of a registered `frodo register` process -> its server gone from another view;
// Usage: frodo_cluster_bench [ADDS] [LOOKUPS_PER_THREAD] [KILLS]   (defaults 1000 5000000 10)
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "etcd/kv.hpp"
#include "etcd_cluster.hpp"
#include "frodo/cluster.hpp"

using namespace std::chrono;
using Clock = steady_clock;

namespace {

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

double lookups_per_second(const frodo::Cluster& cluster, int threads, long per_thread) {
  std::vector<std::thread> workers;
  std::atomic<long> sink{0};
  Clock::time_point start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      long found = 0;
      std::string id = "host-";
      for (long i = 0; i < per_thread; ++i) {
        id.resize(5);
        id += std::to_string(i * 2 + t);
        found += cluster.server_by_id(id).has_value();
      }
      sink += found;
    });
  }
  for (auto& w : workers) w.join();
  double seconds = duration<double>(Clock::now() - start).count();
  return static_cast<double>(sink.load()) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  int adds = argc > 1 ? std::atoi(argv[1]) : 1000;
  long lookups = argc > 2 ? std::atol(argv[2]) : 5'000'000;
  int kill_rounds = argc > 3 ? std::atoi(argv[3]) : 10;

  frodo::test::EtcdCluster etcd;
  frodo::ClusterOptions options;
  options.context = "bench";
  options.etcd.endpoints = etcd.endpoints();
  frodo::Cluster writer(options), reader(options);
  std::mutex mutex;
  std::condition_variable changed;
  std::string last_added;
  Clock::time_point seen_at;
  frodo::Subscription changes = reader.on_change([&](const frodo::Snapshot&, const frodo::Snapshot& after) {
    std::lock_guard lock(mutex);
    last_added.clear();
    for (const auto& s : after.servers) last_added = std::max(last_added, s.address);
    seen_at = Clock::now();
    changed.notify_all();
  });
  // A tier of 10 servers where one more joins and the previous newcomer leaves, so every
  // add is measured against the same ring size. Every address is on loopback (the servers
  // are registered in a real etcd); the newcomers' 127.1.x.y sort after the tier's 127.0.0.N.
  for (int i = 0; i < 10; ++i) writer.add_server("127.0.0." + std::to_string(i + 1) + ":3030");
  auto newcomer = [](int i) {
    return "127.1." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) + ":3030";
  };
  std::vector<double> visible_ms;
  for (int i = 0; i < adds; ++i) {
    const std::string name = newcomer(i);  // sorts last
    if (i > 0) writer.remove_server(newcomer(i - 1));
    Clock::time_point before = Clock::now();
    writer.add_server(name);
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return last_added == name; });
    visible_ms.push_back(duration<double, std::milli>(seen_at - before).count());
  }
  for (int i = 0; i < 990; ++i) writer.add_server("127.2." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ":3030");
  while (reader.snapshot()->servers.size() < 1000) reader.wait_revision(reader.snapshot()->revision + 1, 1s);
  frodo::etcd::Kv kv(std::make_shared<frodo::etcd::Connection>(frodo::EtcdOptions{.endpoints = etcd.endpoints()}));
  std::vector<double> put_ms;
  for (int i = 0; i < adds; ++i) {
    Clock::time_point before = Clock::now();
    kv.put("/anchor/" + std::to_string(i), "v");
    put_ms.push_back(duration<double, std::milli>(Clock::now() - before).count());
  }
  std::printf("etcd put round trip (anchor): p50 %.3f ms  p99 %.3f ms\n", percentile(put_ms, 0.5), percentile(put_ms, 0.99));
  std::printf("add -> visible in another    : p50 %.3f ms  p99 %.3f ms over %d adds to 10 servers (%.2fx / %.2fx the put)\n",
              percentile(visible_ms, 0.5), percentile(visible_ms, 0.99), adds,
              percentile(visible_ms, 0.5) / percentile(put_ms, 0.5), percentile(visible_ms, 0.99) / percentile(put_ms, 0.99));

  // SIGKILL -> gone everywhere: a `frodo register` child holds a 1 s lease; after SIGKILL
  // its server must leave the reader's view within the TTL (+ etcd's expiry granularity).
  std::vector<double> gone_ms;
  for (int round = 0; round < kill_rounds; ++round) {
    std::string address = "127.3." + std::to_string(round / 256 % 256) + "." + std::to_string(round % 256) + ":3030";
    std::string endpoint = etcd.endpoint(0);
    pid_t child = fork();
    if (child == 0) {
      setenv("FRODO_ETCD", endpoint.c_str(), 1);
      setenv("FRODO_CONTEXT", "bench", 1);
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      execl(FRODO_BINARY, "frodo", "register", address.c_str(), "--ttl", "1", static_cast<char*>(nullptr));
      _exit(127);
    }
    auto registered = [&] {
      std::shared_ptr<const frodo::Snapshot> view = reader.snapshot();
      for (const auto& s : view->servers) {
        if (s.address == address) return true;
      }
      return false;
    };
    while (!registered()) reader.wait_revision(reader.snapshot()->revision + 1, 100ms);
    Clock::time_point killed = Clock::now();
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    while (registered()) reader.wait_revision(reader.snapshot()->revision + 1, 100ms);
    gone_ms.push_back(duration<double, std::milli>(Clock::now() - killed).count());
  }
  std::printf("SIGKILL -> gone (TTL 1 s)    : p50 %.0f ms  max %.0f ms over %d kills (%.2fx the TTL at worst)\n",
              percentile(gone_ms, 0.5), *std::max_element(gone_ms.begin(), gone_ms.end()), kill_rounds,
              *std::max_element(gone_ms.begin(), gone_ms.end()) / 1000.0);

  // Best of 3 interleaved runs each: on a 2-core machine the background threads of etcd and
  // of the Clusters themselves are noise for whichever run they land in.
  double one = 0, two = 0;
  for (int round = 0; round < 3; ++round) {
    one = std::max(one, lookups_per_second(reader, 1, lookups));
    two = std::max(two, lookups_per_second(reader, 2, lookups));
  }
  std::printf("server_by_id, %zu servers    : 1 thread %.2f M/s (%.0f ns), 2 threads %.2f M/s, scaling %.2fx\n",
              reader.snapshot()->servers.size(), one / 1e6, 1e9 / one, two / 1e6, two / one);
  return 0;
}
