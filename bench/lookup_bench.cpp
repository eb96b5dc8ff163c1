// What a lookup pays for reading the current view safely: Cluster::server_by_id (a
// thread-local reference to the view, refreshed when a newer one is published; see
// src/cluster/published.hpp) against the anchor, the read the Cluster used before: a bare
// atomic pointer to a view that holds the snapshot (which a stalled thread could see freed,
// as replaced views were freed by a timer). Same ring (1,001 ketama servers), same ids, same
// run; 1 and 2 threads.
//
//   build/release/bench/frodo_lookup_bench --benchmark_min_time=0.2 --benchmark_repetitions=15
//     --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
//   (one command line)
//
// A third case publishes a new view every millisecond while the lookups run (each lookup
// thread then refreshes its reference about once a millisecond).
#include <benchmark/benchmark.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "frodo/cluster.hpp"

namespace {

constexpr std::size_t id_count = std::size_t{1} << 16;
constexpr int servers = 1001;

std::vector<std::string> make_ids() {
  std::vector<std::string> ids;
  ids.reserve(id_count);
  for (std::size_t i = 0; i < id_count; ++i) ids.push_back("host-" + std::to_string(i));
  return ids;
}

// The shape of the view the Cluster published before: the snapshot behind one more pointer.
struct OldView {
  std::shared_ptr<const frodo::Snapshot> snapshot;
};

struct Fixture {
  std::shared_ptr<frodo::MemoryRegistry> registry = frodo::MemoryRegistry::create();
  std::unique_ptr<frodo::Cluster> cluster;
  std::vector<std::string> ids = make_ids();
  std::shared_ptr<const OldView> held;
  std::atomic<const OldView*> raw{nullptr};  // the anchor's view

  Fixture() {
    frodo::ClusterOptions o;
    o.context = "bench";
    o.logger = [](const std::string&) {};
    cluster = std::make_unique<frodo::Cluster>(o, registry);
    for (int i = 0; i < servers; ++i) {
      cluster->add_server("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + ":3030",
                          {.persistent = true});
    }
    held = std::make_shared<const OldView>(OldView{cluster->snapshot()});
    raw.store(held.get());
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void BM_AtomicPointerLookup(benchmark::State& state) {
  Fixture& f = fixture();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    const OldView* view = f.raw.load(std::memory_order_acquire);
    std::optional<std::string_view> owner = view->snapshot->ring.owner(f.ids[i++ & (id_count - 1)]);
    benchmark::DoNotOptimize(owner ? std::optional<std::string>(*owner) : std::nullopt);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AtomicPointerLookup)->Threads(1)->Threads(2)->UseRealTime();

void BM_ServerById(benchmark::State& state) {
  Fixture& f = fixture();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  for (auto _ : state) benchmark::DoNotOptimize(f.cluster->server_by_id(f.ids[i++ & (id_count - 1)]));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ServerById)->Threads(1)->Threads(2)->UseRealTime();

void BM_ServerByIdWhilePublishing(benchmark::State& state) {
  Fixture& f = fixture();
  std::atomic<bool> stop{false};
  std::thread writer;
  if (state.thread_index() == 0) {
    writer = std::thread([&] {
      int n = 0;
      while (!stop.load()) {
        // Meta-only changes: a new view every time, the same ring.
        f.cluster->add_server("10.0.0.1:3030", {.meta = {{"n", std::to_string(n++)}}, .persistent = true});
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  for (auto _ : state) benchmark::DoNotOptimize(f.cluster->server_by_id(f.ids[i++ & (id_count - 1)]));
  state.SetItemsProcessed(state.iterations());
  if (writer.joinable()) {
    stop = true;
    writer.join();
  }
}
BENCHMARK(BM_ServerByIdWhilePublishing)->Threads(1)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
