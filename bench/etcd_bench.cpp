// etcd client figures against a real local etcd (started by the test harness):
//  - put -> watch event latency (p50, p99 over N puts), with the put round trip itself as
//    the anchor measured in the same run;
//  - keepalive overhead: CPU time this process spends per keepalive with many leases held.
// Usage: frodo_etcd_bench [PUTS] [LEASES] [SECONDS]   (defaults 10000 100 10)
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "etcd/kv.hpp"
#include "etcd/lease_keeper.hpp"
#include "etcd/watcher.hpp"
#include "etcd_cluster.hpp"

using namespace frodo::etcd;
using namespace std::chrono;

namespace {

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  int puts = argc > 1 ? std::atoi(argv[1]) : 10000;
  int leases = argc > 2 ? std::atoi(argv[2]) : 100;
  int seconds = argc > 3 ? std::atoi(argv[3]) : 10;
  frodo::test::EtcdCluster etcd;
  auto connection = std::make_shared<Connection>(frodo::EtcdOptions{.endpoints = etcd.endpoints()});
  Kv kv(connection);

  // Put -> event: the watcher stamps each event's arrival; the writer waits for it before
  // the next put, so every latency is one put's alone.
  std::mutex mutex;
  std::condition_variable arrived;
  std::int64_t last_seen = 0;
  Clock::time_point seen_at;
  std::int64_t start = kv.put("/bench/seed", "") + 1;
  Watcher watcher(connection, "/bench/", start,
                  {[&](const std::vector<WatchEvent>& events, std::int64_t) {
                     std::lock_guard lock(mutex);
                     last_seen = events.back().kv.mod_revision;
                     seen_at = Clock::now();
                     arrived.notify_all();
                   },
                   {}, [](std::int64_t) {}, {}});
  std::vector<double> event_ms, put_ms;
  for (int i = 0; i < puts; ++i) {
    Clock::time_point before = Clock::now();
    std::int64_t revision = kv.put("/bench/k" + std::to_string(i % 100), "v");
    Clock::time_point after = Clock::now();
    std::unique_lock lock(mutex);
    arrived.wait(lock, [&] { return last_seen >= revision; });
    put_ms.push_back(duration<double, std::milli>(after - before).count());
    event_ms.push_back(duration<double, std::milli>(seen_at - before).count());
  }
  std::printf("put round trip   (anchor): p50 %.3f ms  p99 %.3f ms  over %d puts\n", percentile(put_ms, 0.5),
              percentile(put_ms, 0.99), puts);
  std::printf("put -> watch event       : p50 %.3f ms  p99 %.3f ms  (p50 %.2fx, p99 %.2fx the put round trip)\n",
              percentile(event_ms, 0.5), percentile(event_ms, 0.99), percentile(event_ms, 0.5) / percentile(put_ms, 0.5),
              percentile(event_ms, 0.99) / percentile(put_ms, 0.99));

  // Keepalive overhead: CPU of this process with `leases` keepers at TTL 3 s (a keepalive
  // per lease per second), against the same process idle for the same time.
  double idle_start = cpu_seconds();
  std::this_thread::sleep_for(seconds * 1s);
  double idle = cpu_seconds() - idle_start;
  std::vector<std::unique_ptr<LeaseKeeper>> keepers;
  for (int i = 0; i < leases; ++i) {
    keepers.push_back(std::make_unique<LeaseKeeper>(connection, LeaseKeeperOptions{.ttl = 3s}, nullptr));
  }
  double busy_start = cpu_seconds();
  std::this_thread::sleep_for(seconds * 1s);
  double busy = cpu_seconds() - busy_start;
  double keepalives = static_cast<double>(leases) * seconds;  // TTL/3 = 1 s
  std::printf("keepalive overhead       : %d leases, %d s: %.1f ms CPU (idle %.1f ms) = %.1f us CPU per keepalive, %.2f%% of one core\n",
              leases, seconds, busy * 1e3, idle * 1e3, (busy - idle) * 1e6 / keepalives, (busy - idle) * 100 / seconds);
  int alive = 0;
  for (auto& k : keepers) alive += k->alive() ? 1 : 0;
  std::printf("leases alive at the end  : %d of %d\n", alive, leases);
  return alive == leases ? 0 : 1;
}
