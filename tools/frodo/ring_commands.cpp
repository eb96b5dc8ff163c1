// `frodo ring lookup` and `frodo ring stats`: the ring offline, from a servers file.
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "frodo/error.hpp"
#include "frodo/ring.hpp"
#include "lookup_output.hpp"
#include "servers_file.hpp"
#include "text_bars.hpp"
#include "usage_error.hpp"

namespace frodo::cli {
namespace {

struct RingOptions {
  std::string servers;
  std::string algorithm = "ketama";
  std::size_t count = 0;  // 0: one owner per line
  bool json = false;
};

Ring load_ring(const RingOptions& o) {
  Algorithm algorithm;
  try {
    algorithm = parse_algorithm(o.algorithm);
  } catch (const Error& e) {
    throw UsageError(std::string("--algorithm: ") + e.what());
  }
  return Ring(read_servers_file(o.servers), algorithm);
}

int run_lookup(const RingOptions& o) {
  if (o.json) {
    // The offline ring as a view of revision 0: JSON Lines {"id", "owner", "revision": 0}.
    auto view = std::make_shared<Snapshot>();
    view->ring = load_ring(o);
    answer_lines([&view] { return view; }, o.count, AnswerFormat::json, STDIN_FILENO, stdout);
    return exit_ok;
  }
  print_owners(load_ring(o), o.count, stdin, stdout);
  return exit_ok;
}

std::string percent(double share) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%6.2f%%", share * 100);
  return buffer;
}

struct Disruption {
  double mean = 0;
  double max = 0;
  std::string max_address;  // for removals: the server whose removal moves the most
  std::size_t trials = 0;
};

// Share of ids that move when one hypothetical server joins, over a few different names
// (ketama's answer depends on where the new server's points land).
Disruption added_disruption(const Ring& ring) {
  Disruption d;
  const std::size_t trials = 8;
  for (std::size_t t = 0; t < trials; ++t) {
    std::vector<Member> members = ring.members();
    members.push_back({"new-server-" + std::to_string(t) + ".invalid:1", 1, ""});
    double moved = moved_share(ring, Ring(members, ring.algorithm()));
    d.mean += moved / trials;
    if (moved > d.max) d.max = moved;
  }
  d.trials = trials;
  return d;
}

// Share of ids that move when one server leaves: every server for small rings, an even
// sample of 64 for large ones.
Disruption removed_disruption(const Ring& ring) {
  Disruption d;
  const std::vector<Member>& all = ring.members();
  if (all.size() < 2) return d;
  std::size_t trials = std::min<std::size_t>(all.size(), 64);
  for (std::size_t t = 0; t < trials; ++t) {
    std::size_t victim = t * all.size() / trials;
    std::vector<Member> members = all;
    members.erase(members.begin() + static_cast<std::ptrdiff_t>(victim));
    double moved = moved_share(ring, Ring(members, ring.algorithm()));
    d.mean += moved / static_cast<double>(trials);
    if (moved > d.max) {
      d.max = moved;
      d.max_address = all[victim].address;
    }
  }
  d.trials = trials;
  return d;
}

int run_stats(const RingOptions& o) {
  Ring ring = load_ring(o);
  const std::vector<Member>& members = ring.members();
  std::vector<double> shares = ring.shares();
  double total_weight = 0;
  for (const Member& m : members) total_weight += m.weight;
  double peak = *std::max_element(shares.begin(), shares.end());
  double mean = 1.0 / static_cast<double>(members.size());
  // Peak over the member's fair share: with weights, a server's fair share is weight/total.
  double peak_to_fair = 0;
  for (std::size_t i = 0; i < members.size(); ++i) {
    peak_to_fair = std::max(peak_to_fair, shares[i] / (members[i].weight / total_weight));
  }
  Disruption added = added_disruption(ring);
  Disruption removed = removed_disruption(ring);
  double n = static_cast<double>(members.size());

  if (o.json) {
    nlohmann::json j;
    j["algorithm"] = to_string(ring.algorithm());
    j["servers"] = members.size();
    j["checksum"] = ring.checksum_hex();
    j["memory_bytes"] = ring.memory_bytes();
    j["members"] = nlohmann::json::array();
    for (std::size_t i = 0; i < members.size(); ++i) {
      j["members"].push_back({{"address", members[i].address}, {"weight", members[i].weight}, {"share", shares[i]}});
    }
    j["peak_to_mean"] = peak / mean;
    j["peak_to_fair_share"] = peak_to_fair;
    j["one_added"] = {{"moved_mean", added.mean}, {"moved_max", added.max}, {"ideal", 1.0 / (n + 1)},
                      {"trials", added.trials}};
    if (removed.trials > 0) {
      j["one_removed"] = {{"moved_mean", removed.mean}, {"moved_max", removed.max}, {"ideal", 1.0 / n},
                          {"worst", removed.max_address}, {"trials", removed.trials}};
    }
    std::cout << j.dump(2) << '\n';
    return exit_ok;
  }

  std::size_t width = 7;
  for (const Member& m : members) width = std::max(width, m.address.size());
  std::cout << "ring      " << to_string(ring.algorithm()) << ", " << members.size() << " server"
            << (members.size() == 1 ? "" : "s") << ", checksum " << ring.checksum_hex() << ", "
            << (ring.memory_bytes() + 1023) / 1024 << " KiB\n\n";
  std::printf("%-*s  %8s  %8s\n", static_cast<int>(width), "server", "weight", "share");
  std::fflush(stdout);
  for (std::size_t i = 0; i < members.size(); ++i) {
    char weight[32];
    std::snprintf(weight, sizeof weight, "%g", members[i].weight);
    std::cout << members[i].address << std::string(width - members[i].address.size(), ' ') << "  "
              << std::string(8 - std::min<std::size_t>(8, std::strlen(weight)), ' ') << weight << "  "
              << percent(shares[i]) << "  " << text_bar(shares[i] / peak, 40) << '\n';
  }
  char line[256];
  std::snprintf(line, sizeof line, "\npeak/mean %.3f", peak / mean);
  std::cout << line;
  if (peak_to_fair != peak / mean) {
    std::snprintf(line, sizeof line, "   peak/fair share (by weight) %.3f", peak_to_fair);
    std::cout << line;
  }
  std::cout << "   (1.000 is perfect balance)\n";
  std::cout << "add one server     moves " << percent(added.mean) << " of ids on average, " << percent(added.max)
            << " at most over " << added.trials << " trials (ideal " << percent(1.0 / (n + 1)) << ")\n";
  if (removed.trials > 0) {
    std::cout << "remove one server  moves " << percent(removed.mean) << " of ids on average, " << percent(removed.max)
              << " at most (" << removed.max_address << ") over " << removed.trials << " of " << members.size()
              << " servers (ideal " << percent(1.0 / n) << ")\n";
  }
  return exit_ok;
}

}  // namespace

void add_ring_commands(CLI::App& app, int& status) {
  CLI::App* ring = app.add_subcommand("ring", "The ring offline: answers and balance from a servers file");
  ring->require_subcommand(1);
  auto options = std::make_shared<RingOptions>();

  auto common = [options](CLI::App* cmd) {
    cmd->add_option("--servers", options->servers, "File with one member per line: ADDRESS [WEIGHT]; # comments")
        ->required()
        ->type_name("FILE");
    cmd->add_option("--algorithm", options->algorithm, "ketama (frodo.io/node-hashring compatible) or maglev")
        ->type_name("NAME")
        ->default_str("ketama");
  };

  CLI::App* lookup = ring->add_subcommand("lookup", "Print the owner of each id read from stdin, one line per id");
  common(lookup);
  lookup->add_option("--count", options->count, "Print N distinct owners per id, tab-separated, in preference order")
      ->type_name("N")
      ->check(CLI::Range(std::size_t{1}, Ring::max_members));
  lookup->footer(
      "\nIds are read from stdin, one per line, as raw bytes without the newline (an empty line is the\n"
      "empty id). Output has one line per id in input order, so it can be compared with diff.");
  lookup->add_flag("--json", options->json,
                   "One JSON object per id: {\"id\", \"owner\" (or \"owners\"), \"revision\": 0}; null when no "
                   "server owns it");
  lookup->callback([options, &status] { status = run_lookup(*options); });

  CLI::App* stats = ring->add_subcommand("stats", "Each server's share of the ids, balance, and disruption");
  common(stats);
  stats->add_flag("--json", options->json, "Machine-readable output");
  stats->callback([options, &status] { status = run_stats(*options); });
}

}  // namespace frodo::cli
