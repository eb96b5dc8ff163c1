// The ownership guard's cost per id: admit() + done() on a settled server, against the anchor
// a server without the guard pays (server_by_id(id) == me), in the same run; also with two
// threads admitting at once (on a settled server admit() takes no lock and each thread counts
// its admissions in its own cache line, so it should scale like the plain lookup).
//
//   build/release/bench/frodo_guard_bench --benchmark_min_time=0.5 --benchmark_repetitions=5
//     --benchmark_report_aggregates_only=true        (one command line)
//
// Over the in-memory registry: the guard never waits on etcd on this path, so etcd would
// only add noise. Servers: 1,000 in the ring (997 plain, registered persistent before any
// Cluster exists so that nothing rebuilds a ring per server), 3 of them guarded.
#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "frodo/cluster.hpp"
#include "frodo/guard.hpp"

namespace {

constexpr std::size_t id_count = std::size_t{1} << 16;

struct Setup {
  std::shared_ptr<frodo::MemoryRegistry> registry = frodo::MemoryRegistry::create();
  std::unique_ptr<frodo::Cluster> cluster;
  std::unique_ptr<frodo::Guard> guard;
  std::vector<std::unique_ptr<frodo::Cluster>> others;
  std::vector<std::unique_ptr<frodo::Guard>> other_guards;
  std::vector<std::string> mine;  // ids the guarded server owns

  Setup() {
    frodo::ClusterOptions o;
    o.context = "bench";
    o.logger = [](const std::string&) {};
    {
      std::unique_ptr<frodo::RegistrySession> raw = registry->open(o.context, {});
      for (int i = 0; i < 997; ++i) {
        raw->put(frodo::ServerInfo{"10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ":3030"}, true);
      }
    }
    cluster = std::make_unique<frodo::Cluster>(o, registry);
    guard = std::make_unique<frodo::Guard>(*cluster, "10.0.0.1:3030");
    for (int i = 2; i <= 3; ++i) {
      others.push_back(std::make_unique<frodo::Cluster>(o, registry));
      other_guards.push_back(std::make_unique<frodo::Guard>(*others.back(), "10.0.0." + std::to_string(i) + ":3030"));
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!guard->stats().settled || guard->stats().released < guard->stats().epoch) {
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("the guard did not settle");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (std::size_t i = 0; mine.size() < id_count; ++i) {
      std::string id = "host-" + std::to_string(i);
      if (cluster->server_by_id(id) == guard->address()) mine.push_back(id);
    }
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

// The anchor: what an unguarded server checks before it processes an id.
void BM_PlainOwnerCheck(benchmark::State& state) {
  Setup& s = setup();
  std::size_t i = state.thread_index() * 7919;
  std::size_t owned = 0;
  for (auto _ : state) {
    owned += s.cluster->server_by_id(s.mine[i++ & (id_count - 1)]) == s.guard->address();
  }
  benchmark::DoNotOptimize(owned);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PlainOwnerCheck)->UseRealTime()->Threads(1)->Threads(2);

void BM_GuardAdmit(benchmark::State& state) {
  Setup& s = setup();
  std::size_t i = state.thread_index() * 7919;
  std::size_t admitted = 0;
  for (auto _ : state) {
    frodo::Admission a = s.guard->admit(s.mine[i++ & (id_count - 1)]);
    admitted += static_cast<bool>(a);
  }
  if (admitted != static_cast<std::size_t>(state.iterations())) state.SkipWithError("an id was not admitted");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GuardAdmit)->UseRealTime()->Threads(1)->Threads(2);

// With the client's view revision, as the alerts server passes it.
void BM_GuardAdmitWithClientRevision(benchmark::State& state) {
  Setup& s = setup();
  std::int64_t revision = s.cluster->snapshot()->revision;
  std::size_t i = 0;
  for (auto _ : state) {
    frodo::Admission a = s.guard->admit(s.mine[i++ & (id_count - 1)], revision);
    benchmark::DoNotOptimize(a.token());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GuardAdmitWithClientRevision)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
