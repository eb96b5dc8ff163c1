// The live commands: `frodo servers | lookup | register | add | remove | watch | status`,
// answering from (and changing) the membership of a context in etcd through frodo::Cluster.
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "frodo/address.hpp"
#include "frodo/cluster.hpp"
#include "frodo/error.hpp"
#include "listen_address.hpp"
#include "live_options.hpp"
#include "metrics_server.hpp"
#include "log.hpp"
#include "lookup_output.hpp"
#include "servers_file.hpp"
#include "service_notify.hpp"
#include "terminal_text.hpp"
#include "process/termination_signals.hpp"
#include "text_bars.hpp"
#include "usage_error.hpp"

namespace frodo::cli {
namespace {

struct CommandOptions {
  bool json = false;
  bool follow = false;    // lookup: answer each stdin line as it arrives, from the live view
  std::size_t count = 0;  // lookup: 0 is one owner per line
  std::vector<std::string> ids;
  std::string address;
  std::string weight = "1";  // as typed: parse_weight names it when it is refused
  std::string zone;
  int ttl = 5;
  bool persistent = false;
  std::string metrics;        // register: HOST:PORT for GET /metrics ("": none)
  bool publish_view = false;  // register: ClusterOptions::publish_view
};

std::string weight_text(double weight) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, weight);  // shortest round-trip form
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(weight);
}

std::string percent(double share) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%6.2f%%", share * 100);
  return buffer;
}

std::string pad(const std::string& text, std::size_t width) {
  return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
}

std::string pad_left(const std::string& text, std::size_t width) {
  return text.size() >= width ? text : std::string(width - text.size(), ' ') + text;
}

void check_address(const std::string& address) {
  if (auto problem = address_problem(address)) {
    throw UsageError("bad address '" + terminal_text(excerpt(address)) + "': " + *problem);
  }
}

// The --zone value, or a UsageError naming it, escaped: it may hold the very bytes refused.
void check_zone(const std::string& zone) {
  if (auto problem = zone_problem(zone)) {
    throw UsageError("bad zone '" + terminal_text(excerpt(zone)) + "': " + *problem);
  }
}

// The --weight value, read as a servers file reads one, or a UsageError naming it.
double check_weight(const std::string& text) {
  double weight = 0;
  if (auto problem = parse_weight(text, weight)) {
    throw UsageError("bad weight '" + terminal_text(excerpt(text)) + "': " + *problem);
  }
  return weight;
}

// The zone column of human output: "-" for none, else the zone escaped for the terminal.
std::string zone_text(const ServerInfo& s) { return s.zone.empty() ? "-" : terminal_text(s.zone); }

// The header every live view starts with: the revision and checksum that two processes
// compare to tell whether they see the same membership.
std::string view_header(const GlobalOptions& g, const Snapshot& s) {
  return "context " + g.context + "  revision " + std::to_string(s.revision) + "  " + to_string(s.ring.algorithm()) +
         " checksum " + s.ring.checksum_hex() + "  " + std::to_string(s.servers.size()) + " server" +
         (s.servers.size() == 1 ? "" : "s") + "\n";
}

int run_servers(const GlobalOptions& g, const CommandOptions& c) {
  auto cluster = connect(g);
  auto snapshot = cluster->snapshot();
  const Snapshot& s = *snapshot;
  if (c.json) {
    nlohmann::json j = view_json(g, s);
    j["servers"] = servers_json(s);
    write_out(json_text(j, 2) + "\n");
    return exit_ok;
  }
  std::string out = view_header(g, s);
  if (!s.servers.empty()) {
    std::size_t width = 7;
    for (const ServerInfo& server : s.servers) width = std::max(width, terminal_text(server.address).size());
    out += pad("address", width) + "  " + pad_left("weight", 8) + "  zone\n";
    for (const ServerInfo& server : s.servers) {
      out += pad(terminal_text(server.address), width) + "  " + pad_left(weight_text(server.weight), 8) + "  " +
             zone_text(server) + "\n";
    }
  }
  write_out(out);
  return exit_ok;
}

int run_lookup(const GlobalOptions& g, const CommandOptions& c) {
  if (c.follow && !c.ids.empty()) throw UsageError("--follow reads ids from stdin: give no ids as arguments");
  auto cluster = connect(g);
  if (c.follow || c.json) {
    // Answers from the live view as each line arrives (JSON: also for ids given as values).
    const AnswerFormat format = c.json ? AnswerFormat::json : AnswerFormat::text;
    if (c.ids.empty()) {
      answer_lines([&cluster] { return cluster->snapshot(); }, c.count, format, STDIN_FILENO, stdout);
    } else {
      answer_ids(*cluster->snapshot(), c.count, c.ids, stdout);
    }
    return exit_ok;
  }
  auto snapshot = cluster->snapshot();
  if (snapshot->ring.empty()) {
    throw std::runtime_error("no servers registered in context '" + g.context + "' (revision " +
                             std::to_string(snapshot->revision) + "): no id has an owner");
  }
  // Pure ring order, as `ring lookup --count` prints (Cluster::owners prefers other zones).
  if (c.ids.empty()) {
    print_owners(snapshot->ring, c.count, stdin, stdout);
  } else {
    print_owners(snapshot->ring, c.count, c.ids, stdout);
  }
  return exit_ok;
}

int run_register(const GlobalOptions& g, const CommandOptions& c) {
  check_address(c.address);
  const double weight = check_weight(c.weight);
  check_zone(c.zone);
  std::optional<ListenAddress> metrics_at;
  if (!c.metrics.empty()) metrics_at = parse_listen("--metrics", c.metrics);  // a usage error before connecting
  process::TerminationSignals signals;  // before the Cluster starts its threads
  auto cluster = connect(g, std::chrono::seconds(c.ttl), c.publish_view);
  std::optional<MetricsServer> metrics;
  if (metrics_at) metrics.emplace(*cluster, c.metrics);
  std::atomic<bool> leaving{false};
  const std::string address = c.address;
  Subscription lease_lost = cluster->on_lease_lost([&leaving, address](LeaseLossReason reason) {
    if (leaving || reason == LeaseLossReason::closed) return;
    // The library grants a new lease and puts the server back on it by itself.
    warn(std::string("lease lost (") + to_string(reason) + "): " + address +
         " may be out of the ring until it is registered again on a new lease");
  });
  // Waits up to --timeout for a lost lease's re-grant (ClusterOptions::connect_timeout).
  cluster->add_server(c.address, {.weight = weight, .zone = c.zone});
  const std::string lease = lease_hex(cluster->lease_id());
  if (c.json) {
    nlohmann::json registered = {{"event", "registered"},
                                 {"address", c.address},
                                 {"context", g.context},
                                 {"lease", lease},
                                 {"ttl_seconds", c.ttl},
                                 {"revision", cluster->snapshot()->revision}};
    if (metrics) registered["metrics"] = metrics->url();
    write_out(json_text(registered) + "\n");
  } else {
    write_out("registered " + c.address + " in " + g.context + " (lease TTL " + std::to_string(c.ttl) +
              " s); Ctrl-C to leave\n");
    if (metrics) write_out("metrics on " + metrics->url() + "\n");
  }
  notify_ready("registered " + c.address + " in " + g.context);
  log_info("lease " + lease + ", TTL " + std::to_string(c.ttl) + " s");
  Subscription log_changes = cluster->on_change([address](const Snapshot& before, const Snapshot& after) {
    bool was = false, is = false;
    for (const ServerInfo& s : before.servers) was = was || s.address == address;
    for (const ServerInfo& s : after.servers) is = is || s.address == address;
    log_info("view of revision " + std::to_string(after.revision) + ": " + std::to_string(after.servers.size()) +
             " servers" + (was != is ? (is ? ", " + address + " back in the ring" : ", " + address + " out of the ring")
                                      : std::string()));
  });
  signals.wait();
  notify_stopping();
  leaving = true;
  // No throw: the terminal may be gone (SIGHUP).
  const std::string bye = c.json ? json_text({{"event", "leaving"}, {"address", c.address}, {"context", g.context}})
                                 : "leaving " + g.context;
  std::fprintf(stdout, "%s\n", bye.c_str());
  std::fflush(stdout);
  cluster->close();  // revokes the lease: the server leaves at once (or at expiry if etcd is away)
  return exit_ok;
}

int run_add(const GlobalOptions& g, const CommandOptions& c) {
  if (!c.persistent) {
    throw UsageError(
        "add needs --persistent: without it " + c.address +
        " would be attached to this command's lease and vanish as soon as the command exits. Use `frodo register " +
        c.address + "` to keep it registered while a process runs, or `frodo add " + c.address +
        " --persistent` to store it until `frodo remove`.");
  }
  check_address(c.address);
  const double weight = check_weight(c.weight);
  check_zone(c.zone);
  auto cluster = connect(g);
  const std::int64_t revision = cluster->add_server(c.address, {.weight = weight, .zone = c.zone, .persistent = true});
  if (c.json) {
    write_out(json_text({{"added", c.address}, {"context", g.context}, {"revision", revision}, {"persistent", true}}) +
              "\n");
  } else {
    write_out("added " + c.address + " to " + g.context + " (persistent: stays until `frodo remove " + c.address +
              "`)\n");
  }
  return exit_ok;
}

int run_remove(const GlobalOptions& g, const CommandOptions& c) {
  check_address(c.address);
  auto cluster = connect(g);
  if (!cluster->remove_server(c.address)) {
    log_error(c.address + " is not registered in " + g.context);
    return exit_failure;
  }
  if (c.json) {
    write_out(json_text({{"removed", c.address}, {"context", g.context}, {"revision", cluster->snapshot()->revision}}) +
              "\n");
  } else {
    write_out("removed " + c.address + " from " + g.context + "\n");
  }
  return exit_ok;
}

// Prints the first view, then every change after it. Changes arrive on the Cluster's
// thread; each is printed as the difference from the last view printed, so a change that
// happened while the first view was being taken is neither lost nor printed twice.
class WatchPrinter {
 public:
  WatchPrinter(const GlobalOptions& g, bool json) : g_(g), json_(json) {}

  void start(std::shared_ptr<const Snapshot> first) {
    std::lock_guard lock(mutex_);
    const Snapshot& s = *first;
    if (json_) {
      nlohmann::json j = {{"event", "view"},
                          {"context", g_.context},
                          {"revision", s.revision},
                          {"algorithm", to_string(s.ring.algorithm())},
                          {"checksum", s.ring.checksum_hex()},
                          {"servers", servers_json(s)}};
      write_out(json_text(j) + "\n");
    } else {
      std::string out = view_header(g_, s);
      for (const ServerInfo& server : s.servers) {
        out += "  " + terminal_text(server.address) + "  weight " + weight_text(server.weight) +
               (server.zone.empty() ? "" : "  zone " + terminal_text(server.zone)) + "\n";
      }
      write_out(out);
    }
    last_ = std::move(first);
  }

  void change(const Snapshot& after) noexcept {
    std::lock_guard lock(mutex_);
    if (!last_ || after.revision <= last_->revision) return;  // already in the view printed
    try {
      print_change(*last_, after);
    } catch (const std::exception& e) {
      warn(e.what());
    }
    last_ = std::make_shared<const Snapshot>(after);
  }

 private:
  void print_change(const Snapshot& before, const Snapshot& after) {
    std::map<std::string, const ServerInfo*> old_servers, new_servers;
    for (const ServerInfo& s : before.servers) old_servers[s.address] = &s;
    for (const ServerInfo& s : after.servers) new_servers[s.address] = &s;
    std::vector<const ServerInfo*> added, changed;
    std::vector<std::string> removed;
    for (const auto& [address, s] : new_servers) {
      auto it = old_servers.find(address);
      if (it == old_servers.end()) {
        added.push_back(s);
      } else if (!(*it->second == *s)) {
        changed.push_back(s);
      }
    }
    for (const auto& [address, s] : old_servers) {
      if (!new_servers.count(address)) removed.push_back(address);
    }
    double moved = moved_share(before.ring, after.ring);
    if (json_) {
      nlohmann::json j = {{"event", "change"},
                          {"revision", after.revision},
                          {"checksum", after.ring.checksum_hex()},
                          {"servers", after.servers.size()},
                          {"added", nlohmann::json::array()},
                          {"removed", removed},
                          {"changed", nlohmann::json::array()},
                          {"moved", moved}};
      // Server objects as in the view, each with its share of ids in the new view.
      const std::vector<double> shares = server_shares(after);
      std::map<std::string_view, double> share_of;
      std::size_t i = 0;
      for (const ServerInfo& s : after.servers) share_of[s.address] = shares[i++];
      auto with_share = [&](const ServerInfo& s) {
        nlohmann::json server = server_json(s);
        server["share"] = share_of[s.address];
        return server;
      };
      for (const ServerInfo* s : added) j["added"].push_back(with_share(*s));
      for (const ServerInfo* s : changed) j["changed"].push_back(with_share(*s));
      write_out(json_text(j) + "\n");
      return;
    }
    std::string out = "revision " + std::to_string(after.revision) + " ";
    for (const ServerInfo* s : added) out += " +" + terminal_text(s->address);
    for (const std::string& a : removed) out += " -" + terminal_text(a);
    for (const ServerInfo* s : changed) out += " ~" + terminal_text(s->address);
    char share[32];
    std::snprintf(share, sizeof share, "%.2f%%", moved * 100);
    out += "  moved " + std::string(share) + " of ids  " + std::to_string(after.servers.size()) + " server" +
           (after.servers.size() == 1 ? "" : "s") + "  checksum " + after.ring.checksum_hex() + "\n";
    write_out(out);
  }

  const GlobalOptions& g_;
  const bool json_;
  std::mutex mutex_;
  std::shared_ptr<const Snapshot> last_;  // the last view printed; null until start()
};

int run_watch(const GlobalOptions& g, const CommandOptions& c) {
  process::TerminationSignals signals;  // before the Cluster starts its threads
  WatchPrinter printer(g, c.json);  // outlives the Cluster, whose thread calls it
  auto cluster = connect(g);
  Subscription print_changes = cluster->on_change([&printer](const Snapshot&, const Snapshot& after) { printer.change(after); });
  printer.start(cluster->snapshot());
  signals.wait();
  cluster->close();
  return exit_ok;
}

int run_status(const GlobalOptions& g, const CommandOptions& c) {
  auto cluster = connect(g);
  auto snapshot = cluster->snapshot();
  const Snapshot& s = *snapshot;
  // In s.servers order; a leaving server (not in the ring) owns 0.
  std::vector<double> shares = server_shares(s);
  if (c.json) {
    nlohmann::json j = view_json(g, s);
    j["servers"] = servers_json(s);
    write_out(json_text(j, 2) + "\n");
    return exit_ok;
  }
  std::string out = view_header(g, s);
  if (s.servers.empty()) {
    write_out(out + "no servers registered: no id has an owner\n");
    return exit_ok;
  }
  double peak = *std::max_element(shares.begin(), shares.end());
  std::size_t width = 6, zone_width = 4;
  for (const ServerInfo& server : s.servers) {
    width = std::max(width, terminal_text(server.address).size());
    zone_width = std::max(zone_width, zone_text(server).size());
  }
  out += "\n" + pad("server", width) + "  " + pad_left("weight", 8) + "  " + pad("zone", zone_width) + "  " +
         pad_left("share", 7) + "\n";
  for (std::size_t i = 0; i < s.servers.size(); ++i) {
    const ServerInfo& server = s.servers[i];
    out += pad(terminal_text(server.address), width) + "  " + pad_left(weight_text(server.weight), 8) + "  " +
           pad(zone_text(server), zone_width) + "  " + percent(shares[i]) + "  " +
           text_bar(shares[i] / peak, 40) + "\n";
  }
  write_out(out);
  return exit_ok;
}

}  // namespace

void add_cluster_commands(CLI::App& app, std::shared_ptr<GlobalOptions> g, int& status) {
  auto c = std::make_shared<CommandOptions>();
  auto command = [&app](const std::string& name, const std::string& description, const std::string& notes = "") {
    CLI::App* cmd = app.add_subcommand(name, description);
    cmd->fallthrough();  // global options may follow the command name
    cmd->footer(notes + global_footer);
    return cmd;
  };
  auto json_flag = [c](CLI::App* cmd) { cmd->add_flag("--json", c->json, "Machine-readable output"); };
  auto weight_zone = [c](CLI::App* cmd) {
    cmd->add_option("--weight", c->weight, "Relative weight, 0.001 to 1000000: shares are proportional to weights")
        ->type_name("W")
        ->default_str("1");
    cmd->add_option("--zone", c->zone,
                    "Failure domain (owners --count prefers distinct zones): UTF-8 text without control "
                    "characters, at most 256 bytes")
        ->type_name("Z");
  };

  CLI::App* servers =
      command("servers", "List the servers registered in the context, with the view's revision and checksum");
  json_flag(servers);
  servers->callback([g, c, &status] { status = run_servers(*g, *c); });

  CLI::App* lookup = command(
      "lookup", "Print the owner of each id from the live view, as `frodo ring lookup` does",
      "\nOutput has one line per id in input order, byte for byte what `frodo ring lookup --servers FILE`\n"
      "prints for the same members, so live and offline answers compare with diff. Ids on stdin are raw\n"
      "bytes without the newline (an empty line is the empty id); put -- before ids that start with -.\n"
      "Exit status 1 when no server is registered.\n");
  lookup->add_option("ids", c->ids, "Ids to look up; read from stdin, one per line, when none are given")
      ->type_name("ID");
  lookup->add_option("--count", c->count, "Print N distinct owners per id, tab-separated, in ring order")
      ->type_name("N")
      ->check(CLI::Range(std::size_t{1}, Ring::max_members));
  lookup->add_flag("--follow", c->follow,
                   "Answer each stdin line as it arrives, from the live view, until end of input (an id with "
                   "no owner gets an empty line)");
  lookup->add_flag("--json", c->json,
                   "One JSON object per id: {\"id\", \"owner\" (or \"owners\" with --count), \"revision\"}; null "
                   "when no server owns it");
  lookup->callback([g, c, &status] { status = run_lookup(*g, *c); });

  CLI::App* reg = command(
      "register", "Register a server on this process's lease and hold it until Ctrl-C",
      "\nRuns in the foreground keeping the lease alive. SIGINT or SIGTERM revokes the lease, so the server\n"
      "leaves at once; if the process dies otherwise, it leaves when the lease expires.\n");
  reg->add_option("address", c->address, "The server, host:port")->required()->type_name("ADDRESS");
  weight_zone(reg);
  reg->add_option("--ttl", c->ttl, "Lease TTL: the server leaves within this long if this process dies (5s, 2m; bare: s)")
      ->type_name("DURATION")
      ->default_str("5s")
      ->transform(duration_in(std::chrono::seconds(1)))
      ->check(CLI::Range(1, std::numeric_limits<int>::max()));
  reg->add_option("--metrics", c->metrics, "Serve GET /metrics (Prometheus, docs/metrics.md) on HOST:PORT (port 0: any)")
      ->type_name("HOST:PORT");
  reg->add_flag("--publish-view", c->publish_view,
                "Publish this process's view (its ring checksum) in the record, for the view agreement of the status "
                "page");
  json_flag(reg);
  reg->callback([g, c, &status] { status = run_register(*g, *c); });

  CLI::App* add = command("add", "Register a server permanently (no lease) and exit; needs --persistent");
  add->add_option("address", c->address, "The server, host:port")->required()->type_name("ADDRESS");
  add->add_flag("--persistent", c->persistent, "Store it without a lease: it stays until `frodo remove`");
  weight_zone(add);
  json_flag(add);
  add->callback([g, c, &status] { status = run_add(*g, *c); });

  CLI::App* remove = command("remove", "Remove a server (registered by anyone); exit 1 if it was not registered");
  remove->add_option("address", c->address, "The server, host:port")->required()->type_name("ADDRESS");
  json_flag(remove);
  remove->callback([g, c, &status] { status = run_remove(*g, *c); });

  CLI::App* watch = command("watch", "Print the view, then each change and the share of ids it moved, until Ctrl-C");
  json_flag(watch);
  watch->callback([g, c, &status] { status = run_watch(*g, *c); });

  CLI::App* stat = command("status", "Revision, checksum and each server's share of the ids");
  json_flag(stat);
  stat->callback([g, c, &status] { status = run_status(*g, *c); });
}

}  // namespace frodo::cli
