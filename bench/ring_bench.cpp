// Google Benchmark figures for frodo::Ring: lookups, owners(), builds, a rebuild after one
// membership change side by side with Ring::next after the same change, memory per ring,
// and lookup scaling across threads.
//
//   build/release/bench/frodo_ring_bench --benchmark_min_time=0.2
//
// Names read `<what>/<algorithm>/<servers>`; the thread runs add `/real_time/threads:N`.
// ketama_old_vs_new/<servers> prints the old and the new ketama layout side by side;
// maglev_fill_old_vs_new/<servers> the old and the new Maglev fill.
#include <benchmark/benchmark.h>

#include <ctime>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "frodo/ring.hpp"
#include "ketama_baseline.hpp"
#include "maglev_baseline.hpp"
#include "ring/ketama.hpp"
#include "ring/maglev.hpp"

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

// The ring of `count` members as a Cluster holds it after its first change: built by next(),
// so that (for ketama) it keeps every member's points for the next one.
const frodo::Ring& kept_ring(Algorithm algorithm, std::size_t count) {
  static std::mutex mutex;
  static std::map<std::pair<Algorithm, std::size_t>, frodo::Ring> rings;
  std::lock_guard lock(mutex);
  auto [it, inserted] = rings.try_emplace({algorithm, count});
  if (inserted) it->second = frodo::Ring({}, algorithm).next(members_of(count));
  return it->second;
}

// What a Cluster pays per view change now: the next ring from the last one (Ring::next), one
// member joining (a new address) or leaving (one from the middle of the address order, so
// every member after it is renumbered). Timed like ring_rebuild_one_change: the copy of the
// member list, the build, and freeing the ring. Counters: view_bytes is memory_bytes() of
// the new ring (what each view holds), shared_bytes its shared_bytes() (the kept points,
// shared by consecutive views, held once). The member list is the same as
// ring_rebuild_one_change's, not in address order (a Cluster's is, which saves it the sort).
void ring_next_one_change(benchmark::State& state, Algorithm algorithm, bool join) {
  const auto count = static_cast<std::size_t>(state.range(0));
  const frodo::Ring& before = kept_ring(algorithm, count);
  std::vector<frodo::Member> members = members_of(count);
  if (join) {
    members.push_back({address_of(count), 1.0, ""});
  } else {
    members.erase(members.begin() + static_cast<std::ptrdiff_t>(count / 2));
  }
  for (auto _ : state) {
    frodo::Ring ring = before.next(members);
    benchmark::DoNotOptimize(ring);
  }
  const frodo::Ring after = before.next(members);
  state.counters["view_bytes"] = static_cast<double>(after.memory_bytes());
  state.counters["shared_bytes"] = static_cast<double>(after.shared_bytes());
  state.counters["moved_share"] = frodo::moved_share(before, after);
}

void ring_bytes(benchmark::State& state, Algorithm algorithm) {
  const auto count = static_cast<std::size_t>(state.range(0));
  const frodo::Ring& ring = shared_ring(algorithm, count);
  for (auto _ : state) benchmark::DoNotOptimize(ring.memory_bytes());
  const auto bytes = static_cast<double>(ring.memory_bytes());
  state.counters["bytes"] = bytes;
  state.counters["bytes_per_server"] = bytes / static_cast<double>(count);
}

// The old ketama layout (ketama_baseline.hpp) against the new one (src/ring/continuum.hpp) on
// the same ring, in one run: chunks of lookups alternate between the two (each on its own
// run of ids, and which goes first alternates) so that both see the same machine load.
// Counters, in ns per lookup: old_ns / new_ns are MD5 of the id plus the search (what
// owner() costs below Ring's dispatch); search_old_ns / search_new_ns the search alone, on
// hashes computed beforehand; md5_ns the hash alone, the floor under both. The *ratio
// counters are old / new. The answers are checked equal as they are timed.
void ketama_old_vs_new(benchmark::State& state) {
  const frodo::Ring& ring = shared_ring(Algorithm::ketama, static_cast<std::size_t>(state.range(0)));
  const frodo::detail::Ketama fresh(ring.members());
  const frodo::bench::KetamaBaseline old(fresh.continuum());
  const std::vector<std::string>& keys = ids();
  static const std::vector<std::uint32_t> hashes = [&keys] {
    std::vector<std::uint32_t> v;
    v.reserve(keys.size());
    for (const std::string& k : keys) v.push_back(frodo::detail::Ketama::hash(k));
    return v;
  }();

  // This thread's CPU time, so that time the shared machine gives to other processes is
  // not counted against whichever layout happened to be running.
  auto now_ns = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
  };
  constexpr std::size_t chunk = 4096;
  double t[5] = {0, 0, 0, 0, 0};  // old, new, search old, search new, MD5 alone (ns)
  std::size_t done = 0, mismatches = 0;
  std::size_t a = 0, b = id_count / 2;  // the two runs of ids
  bool old_first = true;
  auto time_chunk = [&](int which, std::size_t start) {
    std::uint64_t sum = 0;
    const double t0 = now_ns();
    for (std::size_t k = 0; k < chunk; ++k) {
      std::size_t i = (start + k) & (id_count - 1);
      switch (which) {
        case 0: sum += old.owner_of_hash(frodo::detail::Ketama::hash(keys[i])); break;
        case 1: sum += fresh.owner(keys[i]); break;
        case 2: sum += old.owner_of_hash(hashes[i]); break;
        case 3: sum += fresh.owner_of_hash(hashes[i]); break;
        default: sum += frodo::detail::Ketama::hash(keys[i]); break;
      }
    }
    t[which] += now_ns() - t0;
    benchmark::DoNotOptimize(sum);
    return sum;
  };
  for (auto _ : state) {
    for (int pair = 0; pair < 2; ++pair) {  // full lookups, then the search alone
      int first = pair * 2 + (old_first ? 0 : 1), second = pair * 2 + (old_first ? 1 : 0);
      std::uint64_t s1 = time_chunk(first, a), s2 = time_chunk(second, b);
      // Same ids for both on the next iteration's swap: compare answers on one run here.
      if (pair == 0 && s1 != 0 && s2 != 0) {
        for (std::size_t k = 0; k < 16; ++k) {
          std::size_t i = (a + k) & (id_count - 1);
          if (old.owner_of_hash(hashes[i]) != fresh.owner(keys[i])) ++mismatches;
        }
      }
    }
    time_chunk(4, a + id_count / 4);
    a += chunk;
    b += chunk;
    old_first = !old_first;
    done += chunk;
  }
  const auto n = static_cast<double>(done);
  state.counters["old_ns"] = t[0] / n;
  state.counters["new_ns"] = t[1] / n;
  state.counters["ratio"] = t[0] / t[1];
  state.counters["search_old_ns"] = t[2] / n;
  state.counters["search_new_ns"] = t[3] / n;
  state.counters["search_ratio"] = t[2] / t[3];
  state.counters["md5_ns"] = t[4] / n;
  state.counters["old_bytes"] = static_cast<double>(old.memory_bytes());
  state.counters["new_bytes"] = static_cast<double>(fresh.memory_bytes());
  if (mismatches != 0) state.SkipWithError("the old and the new layout disagree");
}

// Builds alternate between the probing fill (bench/maglev_baseline.hpp) and today's, timed in
// this thread's CPU time; the two tables must give the same owner for every id sampled.
void maglev_fill_old_vs_new(benchmark::State& state) {
  const std::vector<frodo::Member> members = members_of(static_cast<std::size_t>(state.range(0)));
  auto now_ns = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
  };
  const std::vector<std::string>& keys = ids();
  double t_old = 0, t_new = 0;
  std::size_t builds = 0, mismatches = 0;
  bool old_first = true;
  // Builds one table, timed; each iteration builds both, and which goes first alternates.
  auto timed = [&now_ns](double& total, auto build) {
    const double t0 = now_ns();
    auto table = build();
    total += now_ns() - t0;
    return table;
  };
  auto build_old = [&] { return frodo::bench::MaglevBaseline(members); };
  auto build_new = [&] { return frodo::detail::Maglev(members); };
  for (auto _ : state) {
    std::optional<frodo::bench::MaglevBaseline> old;
    std::optional<frodo::detail::Maglev> fresh;
    if (old_first) {
      old.emplace(timed(t_old, build_old));
      fresh.emplace(timed(t_new, build_new));
    } else {
      fresh.emplace(timed(t_new, build_new));
      old.emplace(timed(t_old, build_old));
    }
    for (std::size_t k = 0; k < 1024; ++k) {
      const std::string& id = keys[(builds * 1024 + k) & (id_count - 1)];
      if (old->owner_of_hash(frodo::detail::Maglev::hash(id)) != fresh->owner(id)) ++mismatches;
    }
    old_first = !old_first;
    ++builds;
  }
  const auto n = static_cast<double>(builds);
  state.counters["old_ms"] = t_old / n / 1e6;
  state.counters["new_ms"] = t_new / n / 1e6;
  state.counters["ratio"] = t_old / t_new;
  if (mismatches != 0) state.SkipWithError("the old and the new fill disagree");
}

void sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t n : {10, 100, 1'000, 10'000}) b->Arg(n);
}

}  // namespace

BENCHMARK_CAPTURE(owner_lookup, ketama, Algorithm::ketama)->Apply(sizes);
BENCHMARK_CAPTURE(owner_lookup, maglev, Algorithm::maglev)->Apply(sizes);

BENCHMARK(ketama_old_vs_new)->Arg(1'000)->Arg(10'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(maglev_fill_old_vs_new)->Arg(1'000)->Arg(10'000)->Unit(benchmark::kMillisecond);

BENCHMARK_CAPTURE(owners_lookup, ketama, Algorithm::ketama)->Arg(1'000);
BENCHMARK_CAPTURE(owners_lookup, maglev, Algorithm::maglev)->Arg(1'000);

BENCHMARK_CAPTURE(ring_build, ketama, Algorithm::ketama)->Apply(sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(ring_build, maglev, Algorithm::maglev)->Apply(sizes)->Unit(benchmark::kMicrosecond);

BENCHMARK_CAPTURE(ring_rebuild_one_change, ketama, Algorithm::ketama)->Arg(1'000)->Arg(10'000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(ring_rebuild_one_change, maglev, Algorithm::maglev)->Arg(1'000)->Arg(10'000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(ring_next_one_change, ketama_join, Algorithm::ketama, true)->Arg(1'000)->Arg(10'000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(ring_next_one_change, ketama_leave, Algorithm::ketama, false)->Arg(1'000)->Arg(10'000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(ring_next_one_change, maglev_join, Algorithm::maglev, true)->Arg(1'000)->Arg(10'000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(ring_next_one_change, maglev_leave, Algorithm::maglev, false)->Arg(1'000)->Arg(10'000)->Unit(benchmark::kMicrosecond);

BENCHMARK_CAPTURE(ring_bytes, ketama, Algorithm::ketama)->Apply(sizes)->Iterations(1);
BENCHMARK_CAPTURE(ring_bytes, maglev, Algorithm::maglev)->Apply(sizes)->Iterations(1);

// Wall-clock time, since CPU time summed over threads would hide whether two threads
// really do twice the lookups of one.
BENCHMARK_CAPTURE(owner_lookup, ketama, Algorithm::ketama)->Arg(1'000)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK_CAPTURE(owner_lookup, maglev, Algorithm::maglev)->Arg(1'000)->Threads(1)->Threads(2)->UseRealTime();
