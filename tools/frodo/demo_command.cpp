// `frodo demo`: the seed's scenario end to end on one machine. A local etcd (or --etcd), alert
// servers as separate processes (this executable, `frodo demo-server`), and an event client
// over many hosts; while events flow a server joins, one leaves gracefully, one is SIGKILLed
// and one is frozen (SIGSTOP) past its lease TTL. Then the checker reads the store and gives
// the verdict. Everything it starts it stops by PID, and it removes its temp dir, also on
// Ctrl-C.
#include <nlohmann/json.hpp>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "alert_server.hpp"
#include "checker.hpp"
#include "child_process.hpp"
#include "commands.hpp"
#include "event_client.hpp"
#include "frodo/cluster.hpp"
#include "frodo/error.hpp"
#include "frodo/guard.hpp"
#include "store.hpp"
#include "termination_signals.hpp"
#include "usage_error.hpp"

namespace frodo::cli {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct DemoOptions {
  std::string etcd;  // empty: start a local etcd
  std::size_t servers = 3;
  std::size_t hosts = 1000;
  std::int64_t events = 0;  // 0: for the whole duration
  int duration_s = 30;
  bool churn = true;
  bool guard = true;
  int ttl_s = 2;
  long long work_us = 2000;
  std::size_t workers = 32;
  bool json = false;
  bool keep = false;
};

struct DemoServerOptions {
  std::string etcd;
  std::string context;
  int port = 0;
  std::string store;
  bool guard = true;
  int ttl_s = 2;
  long long work_us = 2000;
};

// A temp dir removed with everything in it when it goes out of scope (unless kept).
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "frodo-demo-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw Error(Errc::internal, "cannot create a temp dir: " + pattern);
    path_ = pattern;
  }
  ~TempDir() {
    if (keep_) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  void keep() { keep_ = true; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

std::string with_commas(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string log_tail(const std::filesystem::path& path, std::size_t lines = 5) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "    " + all[i] + "\n";
  return out;
}

struct DemoServer {
  std::string address;
  std::filesystem::path log;
  ChildProcess process;
  std::string fate = "running";  // running, left, killed, frozen
};

class Demo {
 public:
  Demo(DemoOptions options, TerminationSignals& signals) : o_(std::move(options)), signals_(signals) {}

  int run() {
    // Live lines go where the report does not.
    std::ostream& live = o_.json ? std::cerr : std::cout;
    std::string endpoints = o_.etcd.empty() ? start_etcd(live) : o_.etcd;
    context_ = "demo-" + std::to_string(::getpid()) + "-" +
               std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000);
    cluster_options_.context = context_;
    cluster_options_.etcd.endpoints = parse_endpoints(endpoints);
    cluster_options_.lease_ttl = std::chrono::seconds(o_.ttl_s);
    auto demo_log = std::make_shared<std::ofstream>(dir_.path() / "demo.log");
    auto log_mutex = std::make_shared<std::mutex>();
    cluster_options_.logger = [demo_log, log_mutex](const std::string& m) {
      std::lock_guard lock(*log_mutex);
      *demo_log << m << std::endl;
    };
    connect_observer();
    store_path_ = dir_.path() / "store.sqlite";
    { alerts::Store create(store_path_); }  // the schema, before several processes race to make it

    live << "frodo demo: " << o_.servers << " alert servers, " << o_.hosts << " hosts, guard "
         << (o_.guard ? "on" : "off") << ", lease TTL " << o_.ttl_s << " s, etcd " << endpoints << ", context "
         << context_ << "\n";
    for (std::size_t i = 0; i < o_.servers; ++i) {
      start_server();
      live << "frodo demo: started alert server " << servers_.back().address << " (pid " << servers_.back().process.pid()
           << ")\n";
    }
    if (!wait_for_members(o_.servers, 30s)) return finish(live, "the alert servers did not all join");

    alerts::EventClientOptions client_options;
    client_options.cluster = cluster_options_;
    client_options.hosts = o_.hosts;
    client_options.events = o_.events;
    client_options.workers = o_.workers;
    client_ = std::make_unique<alerts::EventClient>(client_options);
    std::exception_ptr client_error;
    std::atomic<bool> client_done{false};
    std::thread client_thread([&] {
      try {
        client_->run();
      } catch (...) {
        client_error = std::current_exception();
      }
      client_done = true;
    });

    struct Step {
      double at;  // fraction of the duration
      std::string what;
    };
    std::vector<Step> steps;
    if (o_.churn) steps = {{0.15, "add"}, {0.35, "leave"}, {0.55, "kill"}, {0.70, "freeze"}};
    std::size_t next_step = 0;
    auto started = Clock::now();
    auto duration = std::chrono::seconds(o_.duration_s);
    Clock::time_point thaw_at = Clock::time_point::max();  // when to SIGCONT the frozen server
    std::uint64_t last_acked = 0;
    auto last_tick = started;
    while (!client_done) {
      int signal = signals_.wait_for(1s);
      if (signal != 0) {
        interrupted_ = true;
        live << "frodo demo: signal " << signal << ", stopping\n";
        break;
      }
      auto now = Clock::now();
      double elapsed = std::chrono::duration<double>(now - started).count();
      alerts::EventClientCounters c = client_->counters();
      double rate = (c.acknowledged - last_acked) / std::max(1e-3, std::chrono::duration<double>(now - last_tick).count());
      last_acked = c.acknowledged;
      last_tick = now;
      std::shared_ptr<const Snapshot> view = observer_->snapshot();
      char line[256];
      std::snprintf(line, sizeof line, "%5.0fs  %7s ev/s  acked %-9s redirects %-6s waits %-6s retries %-5s handoffs %-4llu members %zu  rev %lld",
                    elapsed, with_commas(static_cast<std::uint64_t>(rate)).c_str(), with_commas(c.acknowledged).c_str(),
                    with_commas(c.redirects).c_str(), with_commas(c.waits).c_str(), with_commas(c.retries).c_str(),
                    static_cast<unsigned long long>(handoffs_.load()), view->ring.members().size(),
                    static_cast<long long>(view->revision));
      live << line << std::endl;
      if (now >= thaw_at) {
        for (DemoServer& s : servers_) {
          if (s.fate == "frozen") {
            s.process.signal(SIGCONT);
            s.fate = "thawed";
            live << "      > SIGCONT " << s.address << " (frozen past its lease: it must not apply stale work)\n";
          }
        }
        thaw_at = Clock::time_point::max();
      }
      while (next_step < steps.size() && elapsed >= steps[next_step].at * o_.duration_s) {
        churn(steps[next_step++].what, live, thaw_at);
      }
      if (o_.events == 0 && now - started >= duration) break;
    }
    client_->stop();
    client_thread.join();
    if (client_error) {
      try {
        std::rethrow_exception(client_error);
      } catch (const std::exception& e) {
        return finish(live, std::string("the event client failed: ") + e.what());
      }
    }
    client_seconds_ = std::chrono::duration<double>(Clock::now() - started).count();
    return finish(live, interrupted_ ? "interrupted" : "");
  }

  ~Demo() { shut_down(); }

 private:
  std::string start_etcd(std::ostream& live) {
    std::optional<std::string> binary = find_program("etcd");
    if (!binary) {
      throw Error(Errc::unavailable,
                  "etcd is not on PATH: run scripts/setup (Debian package etcd-server) or pass --etcd HOST:PORT");
    }
    int client_port = free_port(), peer_port = free_port();
    while (peer_port == client_port) peer_port = free_port();
    std::string client_url = "http://127.0.0.1:" + std::to_string(client_port);
    std::string peer_url = "http://127.0.0.1:" + std::to_string(peer_port);
    etcd_ = ChildProcess({*binary, "--name", "demo", "--data-dir", (dir_.path() / "etcd").string(), "--listen-client-urls",
                          client_url, "--advertise-client-urls", client_url, "--listen-peer-urls", peer_url,
                          "--initial-advertise-peer-urls", peer_url, "--initial-cluster", "demo=" + peer_url},
                         (dir_.path() / "etcd.log").string());
    live << "frodo demo: started etcd (pid " << etcd_.pid() << ") on 127.0.0.1:" << client_port << "\n";
    return "127.0.0.1:" + std::to_string(client_port);
  }

  // The demo's own view (members, revision, handoffs); also how it knows etcd is up.
  void connect_observer() {
    auto deadline = Clock::now() + 30s;
    ClusterOptions o = cluster_options_;
    o.etcd.call_timeout = 1000ms;
    while (true) {
      try {
        observer_ = std::make_unique<Cluster>(o);
        break;
      } catch (const Error& e) {
        if (e.code() == Errc::invalid_argument) throw;
        if (!o_.etcd.empty() && Clock::now() >= deadline) throw;
        if (o_.etcd.empty() && !etcd_.running()) {
          throw Error(Errc::unavailable, "etcd exited at start:\n" + log_tail(dir_.path() / "etcd.log"));
        }
        if (Clock::now() >= deadline) {
          throw Error(Errc::unavailable, std::string("etcd did not become ready: ") + e.what());
        }
      }
      if (signals_.wait_for(100ms) != 0) throw Error(Errc::unavailable, "interrupted while waiting for etcd");
    }
    observer_->on_change([this](const Snapshot& before, const Snapshot& after) {
      std::map<std::string, std::string> old;
      for (const ServerInfo& s : before.servers) {
        if (auto it = s.meta.find(released_meta_key); it != s.meta.end()) old[s.address] = it->second;
      }
      for (const ServerInfo& s : after.servers) {
        auto it = s.meta.find(released_meta_key);
        if (it == s.meta.end() || it->second == "0") continue;
        auto was = old.find(s.address);
        if (was == old.end() || was->second != it->second) ++handoffs_;
      }
    });
  }

  void start_server() {
    int port = free_port();
    DemoServer s;
    s.address = "127.0.0.1:" + std::to_string(port);
    s.log = dir_.path() / ("server-" + std::to_string(servers_.size() + 1) + ".log");
    std::vector<std::string> argv = {self_executable(), "demo-server", "--etcd", join_endpoints(), "--context", context_,
                                     "--port", std::to_string(port), "--store", store_path_.string(),
                                     "--ttl", std::to_string(o_.ttl_s), "--work-us", std::to_string(o_.work_us)};
    if (!o_.guard) argv.push_back("--no-guard");
    s.process = ChildProcess(argv, s.log.string());
    servers_.push_back(std::move(s));
  }

  std::string join_endpoints() const {
    std::string out;
    for (const std::string& e : cluster_options_.etcd.endpoints) out += (out.empty() ? "" : ",") + e;
    return out;
  }

  bool wait_for_members(std::size_t n, std::chrono::milliseconds limit) {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (observer_->snapshot()->ring.members().size() >= n) return true;
      for (DemoServer& s : servers_) {
        if (s.fate == "running" && !s.process.running()) {
          throw Error(Errc::unavailable, "alert server " + s.address + " exited at start:\n" + log_tail(s.log));
        }
      }
      if (signals_.wait_for(50ms) != 0) {
        interrupted_ = true;
        return false;
      }
    }
    return false;
  }

  void churn(const std::string& what, std::ostream& live, Clock::time_point& thaw_at) {
    if (what == "add") {
      start_server();
      live << "      > added " << servers_.back().address << " (pid " << servers_.back().process.pid() << ")\n";
      return;
    }
    // Keep at least one untouched server in the ring, so the hosts always have somewhere to
    // go (a server just added may not have joined yet on a loaded machine).
    std::shared_ptr<const Snapshot> view = observer_->snapshot();
    auto in_ring = [&](const DemoServer& s) {
      const auto& members = view->ring.members();
      return std::any_of(members.begin(), members.end(), [&](const Member& m) { return m.address == s.address; });
    };
    std::size_t serving = 0;
    for (const DemoServer& s : servers_) serving += s.fate == "running" && in_ring(s);
    DemoServer* victim = nullptr;
    if (serving >= 2) {
      for (DemoServer& s : servers_) {
        if (s.fate == "running" && in_ring(s)) {
          victim = &s;
          break;
        }
      }
    }
    if (!victim) {
      live << "      > skipped '" << what << "': only one server is serving\n";
      return;
    }
    if (what == "leave") {
      victim->process.signal(SIGTERM);
      victim->fate = "left";
      live << "      > SIGTERM " << victim->address << " (graceful: drains, hands over, leaves)\n";
    } else if (what == "kill") {
      victim->process.signal(SIGKILL);
      victim->fate = "killed";
      live << "      > SIGKILL " << victim->address << " (its lease expires in " << o_.ttl_s << " s)\n";
    } else if (what == "freeze") {
      victim->process.signal(SIGSTOP);
      victim->fate = "frozen";
      thaw_at = Clock::now() + std::chrono::seconds(o_.ttl_s) + 1500ms;
      live << "      > SIGSTOP " << victim->address << " for " << o_.ttl_s + 1.5 << " s (past its lease TTL)\n";
    }
  }

  // Stops every server (SIGTERM: they leave in order), then reads their final stats.
  nlohmann::json stop_servers() {
    nlohmann::json stats = nlohmann::json::array();
    for (DemoServer& s : servers_) {
      if (s.process.pid() <= 0) continue;
      s.process.stop(15s);
      std::ifstream in(s.log);
      std::string last;
      for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.front() == '{') last = line;
      }
      if (auto j = nlohmann::json::parse(last, nullptr, false); !j.is_discarded()) {
        j["fate"] = s.fate;
        stats.push_back(j);
      }
    }
    return stats;
  }

  int finish(std::ostream& live, const std::string& problem) {
    if (client_) client_->stop();
    nlohmann::json server_stats = stop_servers();
    int status = exit_ok;
    nlohmann::json report;
    if (client_ && client_seconds_ > 0) {
      alerts::Store store(store_path_);
      alerts::CheckReport r = alerts::check(store.rows(), client_->acknowledged());
      alerts::EventClientCounters c = client_->counters();
      std::uint64_t fenced = 0;
      for (const auto& s : server_stats) fenced += s.value("fenced", 0ull);
      report = {{"guard", o_.guard},
                {"seconds", client_seconds_},
                {"hosts", o_.hosts},
                {"acknowledged", r.acknowledged},
                {"in_flight", r.in_flight},
                {"events_per_second", c.acknowledged / std::max(1e-3, client_seconds_)},
                {"redirects", c.redirects},
                {"waits", c.waits},
                {"retries", c.retries},
                {"handoffs", handoffs_.load()},
                {"fenced", fenced},
                {"rows", r.rows},
                {"violations", r.violations},
                {"duplicates", r.duplicates},
                {"lost", r.lost},
                {"final_mismatches", r.final_mismatches},
                {"token_violations", r.token_violations},
                {"overlaps", r.overlaps},
                {"ok", r.ok()},  // everything, token decreases and overlaps included
                {"servers", server_stats}};
      // Token decreases and overlaps are reported here; judging them needs to know which writes
      // a freeze past the lease made late (a later change).
      bool pass = o_.guard ? r.violations == 0 && r.lost == 0 && r.final_mismatches == 0 : r.lost == 0;
      if (!pass || !problem.empty()) status = exit_failure;
      report["verdict"] = problem.empty() ? (pass ? "pass" : "fail") : problem;
      if (o_.json) {
        std::cout << report.dump() << std::endl;
      } else {
        std::ostringstream out;
        out << "\n" << alerts::format_table(r);
        out << "  " << with_commas(c.acknowledged) << " events acknowledged in " << static_cast<int>(client_seconds_)
            << " s (" << with_commas(static_cast<std::uint64_t>(c.acknowledged / std::max(1e-3, client_seconds_)))
            << " events/s), " << with_commas(c.redirects) << " redirects, " << with_commas(handoffs_.load())
            << " handoffs, " << fenced << " stale writes fenced by the store\n\n";
        if (!problem.empty()) {
          out << "verdict: " << problem << "\n";
        } else if (o_.guard) {
          out << (r.ok() ? "verdict: PASS - every host's events were applied once, in order, by one server at a time"
                         : "verdict: FAIL - the guarded run broke per-host order or lost events")
              << "\n";
        } else {
          out << "verdict (guard off): " << r.violations << " ordering violations, " << r.duplicates
              << " duplicates, " << r.overlaps << " overlapping admissions, " << r.final_mismatches
              << " hosts whose final status is wrong; run without --no-guard "
              << "to see the guard keep all of them at 0\n";
        }
        std::cout << out.str() << std::flush;
      }
    } else {
      status = exit_failure;
      live << "frodo demo: " << (problem.empty() ? "stopped" : problem) << "\n";
    }
    if (o_.keep) {
      dir_.keep();
      live << "frodo demo: logs and store kept in " << dir_.path().string() << "\n";
    }
    shut_down();
    return status;
  }

  void shut_down() {
    if (client_) client_.reset();
    for (DemoServer& s : servers_) s.process.stop(0ms);
    observer_.reset();  // revokes its lease while etcd is still up
    etcd_.stop(0ms);    // SIGKILL: a lone member asked to stop politely can hang for seconds
  }

  DemoOptions o_;
  TerminationSignals& signals_;
  TempDir dir_;
  ChildProcess etcd_;
  std::string context_;
  ClusterOptions cluster_options_;
  std::filesystem::path store_path_;
  std::unique_ptr<Cluster> observer_;
  std::vector<DemoServer> servers_;
  std::unique_ptr<alerts::EventClient> client_;
  std::atomic<std::uint64_t> handoffs_{0};
  double client_seconds_ = 0;
  bool interrupted_ = false;
};

int run_demo_server(const DemoServerOptions& o) {
  TerminationSignals signals;  // before any thread starts
  alerts::AlertServerOptions s;
  s.cluster.context = o.context;
  s.cluster.etcd.endpoints = parse_endpoints(o.etcd);
  s.cluster.lease_ttl = std::chrono::seconds(o.ttl_s);
  s.port = o.port;
  s.store_path = o.store;
  s.guard = o.guard;
  s.work = std::chrono::microseconds(o.work_us);
  // etcd may still be starting (or a loaded machine slow to answer the first grant): keep
  // trying for a while rather than failing the whole demo.
  std::unique_ptr<alerts::AlertServer> started;
  auto deadline = std::chrono::steady_clock::now() + 25s;
  while (!started) {
    try {
      started = std::make_unique<alerts::AlertServer>(s);
    } catch (const Error& e) {
      bool transient = e.code() == Errc::unavailable || e.code() == Errc::deadline_exceeded;
      if (!transient || std::chrono::steady_clock::now() >= deadline) throw;
      std::cerr << "demo-server: " << e.what() << "; retrying" << std::endl;
      if (signals.wait_for(200ms) != 0) return exit_ok;
    }
  }
  alerts::AlertServer& server = *started;
  server.start();
  std::cout << "demo-server " << server.address() << " ready (guard " << (o.guard ? "on" : "off") << ")" << std::endl;
  signals.wait();
  server.leave();
  std::cout << alerts::to_json(server.stats()) << std::endl;
  return exit_ok;
}

}  // namespace

void add_demo_commands(CLI::App& app, int& status) {
  auto o = std::make_shared<DemoOptions>();
  CLI::App* demo = app.add_subcommand(
      "demo",
      "The seed's scenario on this machine: a local etcd, alert servers as separate processes and an event "
      "client over many hosts; a server joins, one leaves, one is killed and one frozen past its lease while "
      "events flow; then a checker verifies every host's events were applied in order, none lost.");
  demo->group("Demo");
  demo->add_option("--etcd", o->etcd, "Use this etcd (HOST:PORT,...) instead of starting a local one")
      ->type_name("HOST:PORT,...");
  demo->add_option("--servers", o->servers, "Alert servers at the start")->check(CLI::Range(1, 32))->capture_default_str();
  demo->add_option("--hosts", o->hosts, "Monitored hosts the events are about")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  demo->add_option("--events", o->events, "Stop after this many acknowledged events (0: run for --duration)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 40))
      ->capture_default_str();
  demo->add_option("--duration", o->duration_s, "Seconds of event flow (the churn is spread over it)")
      ->check(CLI::Range(2, 3600))
      ->capture_default_str();
  demo->add_flag("--no-churn", [o](std::int64_t) { o->churn = false; }, "No join, leave, kill or freeze");
  demo->add_flag("--no-guard", [o](std::int64_t) { o->guard = false; },
                 "Servers process what plain server_by_id says they own, without frodo::Guard");
  demo->add_option("--ttl", o->ttl_s, "Lease TTL of the alert servers, seconds")->check(CLI::Range(1, 60))->capture_default_str();
  demo->add_option("--work-us", o->work_us, "Simulated processing time per event, microseconds")
      ->check(CLI::Range(0LL, 1'000'000LL))
      ->capture_default_str();
  demo->add_option("--workers", o->workers, "Concurrent client workers (one event in flight each)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  demo->add_flag("--json", o->json, "Print the final report as JSON (live lines go to stderr)");
  demo->add_flag("--keep", o->keep, "Keep the temp dir (logs, SQLite store) and print its path");
  demo->callback([o, &status] {
    if (o->hosts < o->workers) o->workers = o->hosts;
    TerminationSignals signals;  // before any thread starts
    Demo d(*o, signals);
    status = d.run();
  });

  auto so = std::make_shared<DemoServerOptions>();
  CLI::App* server = app.add_subcommand("demo-server", "One alert server of `frodo demo` (started by it)");
  server->group("");  // internal: not listed in --help
  server->add_option("--etcd", so->etcd)->required();
  server->add_option("--context", so->context)->required();
  server->add_option("--port", so->port)->required()->check(CLI::Range(1, 65535));
  server->add_option("--store", so->store)->required();
  server->add_option("--ttl", so->ttl_s)->check(CLI::Range(1, 60));
  server->add_option("--work-us", so->work_us)->check(CLI::Range(0LL, 1'000'000LL));
  server->add_flag("--no-guard", [so](std::int64_t) { so->guard = false; });
  server->callback([so, &status] { status = run_demo_server(*so); });
}

}  // namespace frodo::cli
