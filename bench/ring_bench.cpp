// Google Benchmark figures for frodo::Ring: lookups, owners(), builds, a rebuild after one
// membership change, memory per ring, and lookup scaling across threads.
//
//   build/release/bench/frodo_ring_bench --benchmark_min_time=0.2
//
// Names read `<what>/<algorithm>/<servers>`; the thread runs add `/real_time/threads:N`.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "frodo/ring.hpp"

namespace {

using frodo::Algorithm;

// Enough distinct ids that a lookup loop does not keep hitting the same few cache lines of
// the ring, as real traffic would not; a power of two so cycling is a mask, not a division.
constexpr std::size_t id_count = std::size_t{1} << 20;

const std::vector<std::string>& ids() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> v;
    v.reserve(id_count);
    for (std::size_t i = 0; i < id_count; ++i) v.push_back("host-" + std::to_string(i));
    return v;
  }();
  return all;
}

// 10.0.c.d:3030 with d in 1..250, so up to 64,000 distinct valid addresses.
std::string address_of(std::size_t i) {
  return "10." + std::to_string(i / (250 * 256)) + "." + std::to_string(i / 250 % 256) + "." +
         std::to_string(i % 250 + 1) + ":3030";
}

std::vector<frodo::Member> members_of(std::size_t count) {
  std::vector<frodo::Member> members;
  members.reserve(count + 1);  // room for the rebuild benchmark's extra member
  for (std::size_t i = 0; i < count; ++i) members.push_back({address_of(i), 1.0, ""});
  return members;
}

// One ring per (algorithm, size) for the whole run: the thread benchmarks must share one
// ring, as servers do, and a 10,000-member ketama ring is too slow to build per benchmark.
const frodo::Ring& shared_ring(Algorithm algorithm, std::size_t count) {
  static std::mutex mutex;
  static std::map<std::pair<Algorithm, std::size_t>, frodo::Ring> rings;
  std::lock_guard lock(mutex);
  auto [it, inserted] = rings.try_emplace({algorithm, count});
  if (inserted) it->second = frodo::Ring(members_of(count), algorithm);
  return it->second;
}

void owner_lookup(benchmark::State& state, Algorithm algorithm) {
  const frodo::Ring& ring = shared_ring(algorithm, static_cast<std::size_t>(state.range(0)));
  const std::vector<std::string>& keys = ids();
  // Threads start at different ids so they do not walk the same lines in lockstep.
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * (id_count / 2);
  for (auto _ : state) {
    benchmark::DoNotOptimize(ring.owner(keys[i & (id_count - 1)]));
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

void owners_lookup(benchmark::State& state, Algorithm algorithm) {
  const frodo::Ring& ring = shared_ring(algorithm, static_cast<std::size_t>(state.range(0)));
  const std::vector<std::string>& keys = ids();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ring.owners(keys[i & (id_count - 1)], 3));
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

// The copy of the member list is timed with the build: Ring takes the list by value, so a
// caller rebuilding from its own list pays for that copy too, and it is tiny next to the build.
void ring_build(benchmark::State& state, Algorithm algorithm) {
  const std::vector<frodo::Member> members = members_of(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    frodo::Ring ring(members, algorithm);
    benchmark::DoNotOptimize(ring);
  }
}

// A ring never changes, so one member joining costs a fresh build of the whole list.
void ring_rebuild_one_change(benchmark::State& state, Algorithm algorithm) {
  const auto count = static_cast<std::size_t>(state.range(0));
  const std::vector<frodo::Member> members = members_of(count);
  const frodo::Member joining{address_of(count), 1.0, ""};
  for (auto _ : state) {
    std::vector<frodo::Member> next = members;
    next.push_back(joining);
    frodo::Ring ring(std::move(next), algorithm);
    benchmark::DoNotOptimize(ring);
  }
  // How much of the id space the change moved: the other half of what a rebuild costs.
  std::vector<frodo::Member> next = members;
  next.push_back(joining);
  state.counters["moved_share"] =
      frodo::moved_share(shared_ring(algorithm, count), frodo::Ring(std::move(next), algorithm));
}

void ring_bytes(benchmark::State& state, Algorithm algorithm) {
  const auto count = static_cast<std::size_t>(state.range(0));
  const frodo::Ring& ring = shared_ring(algorithm, count);
  for (auto _ : state) benchmark::DoNotOptimize(ring.memory_bytes());
  const auto bytes = static_cast<double>(ring.memory_bytes());
  state.counters["bytes"] = bytes;
  state.counters["bytes_per_server"] = bytes / static_cast<double>(count);
}

void sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t n : {10, 100, 1'000, 10'000}) b->Arg(n);
}

}  // namespace

BENCHMARK_CAPTURE(owner_lookup, ketama, Algorithm::ketama)->Apply(sizes);
BENCHMARK_CAPTURE(owner_lookup, maglev, Algorithm::maglev)->Apply(sizes);

BENCHMARK_CAPTURE(owners_lookup, ketama, Algorithm::ketama)->Arg(1'000);
BENCHMARK_CAPTURE(owners_lookup, maglev, Algorithm::maglev)->Arg(1'000);

BENCHMARK_CAPTURE(ring_build, ketama, Algorithm::ketama)->Apply(sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(ring_build, maglev, Algorithm::maglev)->Apply(sizes)->Unit(benchmark::kMicrosecond);

BENCHMARK_CAPTURE(ring_rebuild_one_change, ketama, Algorithm::ketama)->Arg(1'000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(ring_rebuild_one_change, maglev, Algorithm::maglev)->Arg(1'000)->Unit(benchmark::kMicrosecond);

BENCHMARK_CAPTURE(ring_bytes, ketama, Algorithm::ketama)->Apply(sizes)->Iterations(1);
BENCHMARK_CAPTURE(ring_bytes, maglev, Algorithm::maglev)->Apply(sizes)->Iterations(1);

// Wall-clock time, since CPU time summed over threads would hide whether two threads
// really do twice the lookups of one.
BENCHMARK_CAPTURE(owner_lookup, ketama, Algorithm::ketama)->Arg(1'000)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK_CAPTURE(owner_lookup, maglev, Algorithm::maglev)->Arg(1'000)->Threads(1)->Threads(2)->UseRealTime();
