// frodo_guard_sim: runs the guard simulation (src/sim/guard_simulation.hpp) over a range of
// seeds, on several threads, and stops at the first seed that breaks a property: it cuts the
// seed's churn down to the steps the failure needs, prints what broke, the steps, the trace
// of the replay and the command that replays it, and exits 1.
//
//   frodo_guard_sim --schedules 100000                 # seeds 1..100000, fencing on and off
//   frodo_guard_sim --seed 4242 --trace                # one seed, every event
//   frodo_guard_sim --seed 4242 --only 0,3 --trace     # a replay of a shrunken failure
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "sim/guard_simulation.hpp"

namespace {

struct Totals {
  std::int64_t admitted = 0, handoffs = 0, accepted = 0, refused = 0, lease_losses = 0, regrants = 0, collapsed = 0,
               beyond = 0, events = 0;
  void add(const frodo::sim::Result& r) {
    admitted += r.admitted;
    handoffs += r.handoffs;
    accepted += r.accepted;
    refused += r.refused;
    lease_losses += r.lease_losses;
    regrants += r.regrants;
    collapsed += r.collapsed;
    beyond += r.beyond_assumptions ? 1 : 0;
    events += r.events;
  }
};

std::string join(const std::vector<int>& v) {
  std::string out;
  for (int x : v) out += (out.empty() ? "" : ",") + std::to_string(x);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    CLI::App app{"Runs the ownership guard's deterministic simulation over many seeds (docs/ownership-guard.md)."};
    std::uint64_t schedules = 1000;
    std::optional<std::uint64_t> seed;
    std::uint64_t first_seed = 1;
    std::string fencing = "both";
    std::string algorithm = "ketama";
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    bool trace = false;
    std::string only;
    frodo::sim::Options base;
    app.add_option("--schedules", schedules, "How many seeds to run (from --first-seed)")->check(CLI::Range(1ull, 1000000000ull));
    app.add_option("--first-seed", first_seed, "The first seed of the range")->check(CLI::Range(1ull, ~0ull >> 1));
    app.add_option("--seed", seed, "Run this one seed only (replay)");
    app.add_option("--fencing", fencing, "The store refuses older tokens: on, off, or both (by seed parity)")
        ->check(CLI::IsMember({"on", "off", "both"}));
    app.add_option("--algorithm", algorithm, "ketama, maglev, or both (alternating)")
        ->check(CLI::IsMember({"ketama", "maglev", "both"}));
    app.add_option("--threads", threads, "Threads running seeds")->check(CLI::Range(1u, 256u));
    app.add_option("--servers", base.initial_servers, "Guarded servers at the start")->check(CLI::Range(1, 8));
    app.add_option("--max-steps", base.max_churn_steps, "Most churn steps per schedule")->check(CLI::Range(1, 64));
    app.add_option("--only", only, "Replay: keep only these churn steps of the seed's plan (comma-separated indexes)");
    app.add_flag("--trace", trace, "Print every event of the run (with --seed)");
    app.add_flag("--unguarded", base.unguarded,
                 "Servers without the guard (admit whenever the id is theirs in their view): shows what the checker "
                 "catches");
    CLI11_PARSE(app, argc, argv);

    if (!only.empty()) {
      std::stringstream in(only);
      std::string part;
      while (std::getline(in, part, ',')) {
        try {
          std::size_t used = 0;
          int index = std::stoi(part, &used);
          if (used != part.size() || index < -1) throw std::invalid_argument(part);
          base.only.push_back(index);
        } catch (const std::exception&) {
          std::cerr << "frodo_guard_sim: bad --only '" << only << "': expected comma-separated step indexes\n";
          return 2;
        }
      }
    }
    auto options_for = [&](std::uint64_t s) {
      frodo::sim::Options o = base;
      o.seed = s;
      o.fencing = fencing == "on" || (fencing == "both" && s % 2 == 0);
      o.algorithm = algorithm == "maglev" || (algorithm == "both" && (s / 2) % 2 == 1) ? frodo::Algorithm::maglev
                                                                                        : frodo::Algorithm::ketama;
      return o;
    };
    auto report_failure = [&](const frodo::sim::Options& o, const frodo::sim::Result& r) {
      std::cout << "seed " << r.seed << " (" << (o.fencing ? "fencing" : "no fencing") << ", "
                << frodo::to_string(o.algorithm) << "): " << frodo::sim::to_string(r.failed) << ": " << r.failure << "\n"
                << "churn steps:\n";
      for (const std::string& step : r.plan) std::cout << "  " << step << "\n";
      // The trace, cut to what concerns the id that failed: its admissions, writes and
      // waits, and every membership, lease and churn event.
      std::cout << "trace (" << r.failed_id << " and membership, until " << r.failed_at << " ms):\n";
      for (const std::string& line : r.trace) {
        if (std::stoll(line) > r.failed_at) break;  // each line starts with its time
        bool other_id = line.find("host-") != std::string::npos && !r.failed_id.empty() &&
                        line.find(r.failed_id + " ") == std::string::npos &&
                        line.find(r.failed_id + ":") == std::string::npos;
        if (!other_id) std::cout << "  | " << line << "\n";
      }
      std::cout << "replay: frodo_guard_sim --seed " << r.seed << " --fencing " << (o.fencing ? "on" : "off")
                << " --algorithm " << frodo::to_string(o.algorithm) << (o.unguarded ? " --unguarded" : "") << " --only "
                << (r.steps.empty() ? "-1" : join(r.steps)) << " --trace\n";
    };

    if (seed) {
      frodo::sim::Options o = options_for(*seed);
      o.trace = trace;
      frodo::sim::Result r = frodo::sim::run(o);
      if (r.failed != frodo::sim::Property::none) {
        report_failure(o, r);
        return 1;
      }
      for (const std::string& step : r.plan) std::cout << "  " << step << "\n";
      for (const std::string& line : r.trace) std::cout << "  | " << line << "\n";
      std::cout << "seed " << *seed << ": ok (" << r.admitted << " admissions, " << r.handoffs << " handoffs, "
                << r.refused << " writes fenced, " << r.lease_losses << " leases lost" << ")\n";
      return 0;
    }

    std::atomic<std::uint64_t> next{0};
    std::atomic<bool> stop{false};
    std::mutex mutex;
    Totals totals;
    std::optional<std::pair<frodo::sim::Options, frodo::sim::Result>> failure;
    auto start = std::chrono::steady_clock::now();
    auto worker = [&] {
      try {
        Totals mine;
        while (!stop.load()) {
          std::uint64_t i = next.fetch_add(1);
          if (i >= schedules) break;
          frodo::sim::Options o = options_for(first_seed + i);
          frodo::sim::Result r = frodo::sim::run(o);
          mine.add(r);
          if (r.failed != frodo::sim::Property::none) {
            std::lock_guard lock(mutex);
            if (!failure || failure->second.seed > r.seed) failure.emplace(o, std::move(r));
            stop = true;
          }
        }
        std::lock_guard lock(mutex);
        totals.admitted += mine.admitted;
        totals.handoffs += mine.handoffs;
        totals.accepted += mine.accepted;
        totals.refused += mine.refused;
        totals.lease_losses += mine.lease_losses;
        totals.regrants += mine.regrants;
        totals.collapsed += mine.collapsed;
        totals.beyond += mine.beyond;
        totals.events += mine.events;
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex);
        std::cerr << "frodo_guard_sim: a worker failed: " << e.what() << "\n";
        stop = true;
      } catch (...) {
        std::lock_guard lock(mutex);
        std::cerr << "frodo_guard_sim: a worker failed\n";
        stop = true;
      }
    };
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (std::thread& t : pool) t.join();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::uint64_t ran = std::min<std::uint64_t>(next.load(), schedules);
    if (failure) {
      frodo::sim::Options o = failure->first;
      o.trace = true;
      frodo::sim::Result small = frodo::sim::shrink(o, failure->second);
      if (small.failed == frodo::sim::Property::none) small = failure->second;  // cannot happen: runs replay
      report_failure(o, small);
      return 1;
    }
    if (!failure && stop.load()) return 3;
    char line[512];
    std::snprintf(line, sizeof line,
                  "%llu schedules (seeds %llu..%llu, fencing %s, %s) passed in %.1f s: %.0f schedules/s on %u threads; "
                  "%lld admissions, %lld handoffs, %lld writes fenced, %lld leases lost at etcd, %lld re-grants, "
                  "%lld collapsed deliveries, %lld schedules beyond the no-fencing assumptions, %lld events\n",
                  static_cast<unsigned long long>(ran), static_cast<unsigned long long>(first_seed),
                  static_cast<unsigned long long>(first_seed + ran - 1), fencing.c_str(), algorithm.c_str(), seconds,
                  static_cast<double>(ran) / seconds, threads, static_cast<long long>(totals.admitted),
                  static_cast<long long>(totals.handoffs), static_cast<long long>(totals.refused),
                  static_cast<long long>(totals.lease_losses), static_cast<long long>(totals.regrants),
                  static_cast<long long>(totals.collapsed), static_cast<long long>(totals.beyond),
                  static_cast<long long>(totals.events));
    std::cout << line;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "frodo_guard_sim: " << e.what() << "\n";
    return 2;
  }
}
