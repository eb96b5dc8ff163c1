// `frodo demo`: the seed's scenario end to end on one machine. A local etcd (or --etcd), alert
// servers as separate processes (this executable, `frodo demo-server`), and an event client
// over many hosts. While events flow the churn runs (demo_report.hpp, ChurnStep): a server is
// frozen for half its lease while a new one joins, one is cut off from etcd past its lease
// TTL while clients still reach it, one leaves gracefully with slow work in flight, one is
// SIGKILLed and one is frozen past its lease TTL, then thawed with time left to serve again.
// Then the checker reads the store and gives the verdict. Everything it starts it stops by
// PID, and it removes its temp dir, also on Ctrl-C.
//
// Each alert server reaches etcd through FaultProxies the demo owns (one per etcd endpoint,
// on 127.0.0.1), so the partition step can cut it off; the demo's own view and the event
// client talk to etcd directly. An etcd off this machine's loopback cannot be proxied (the
// proxy refuses it): then the servers connect directly and the partition step is skipped.
//
// The demo-servers it starts are the alerts example's own server
// (examples/alerts/server_command.hpp): besides SIGTERM (leave) they take SIGUSR1 (slow down:
// every event admitted from then on takes --slow-us), SIGUSR2 (back to --work-us), and, when
// started with --join-on-signal, SIGRTMIN (join the cluster now).
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "alert_server.hpp"
#include "checker.hpp"
#include "demo.hpp"
#include "process/exit_codes.hpp"
#include "demo_report.hpp"
#include "event_client.hpp"
#include "fault_proxy.hpp"
#include "frodo/cluster.hpp"
#include "frodo/error.hpp"
#include "frodo/guard.hpp"
#include "store.hpp"
#include "process/child_process.hpp"
#include "process/free_port.hpp"
#include "process/local_etcd.hpp"
#include "process/temp_dir.hpp"
#include "process/termination_signals.hpp"

namespace frodo::cli::demo {
namespace {

using Clock = std::chrono::steady_clock;
using process::exit_failure;
using process::exit_ok;
using namespace std::chrono_literals;
using process::ChildProcess;
using process::TerminationSignals;


std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string log_tail(const std::filesystem::path& path, std::size_t lines = 5) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "    " + all[i] + "\n";
  return out;
}

std::string seconds_text(std::chrono::milliseconds d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return text;
}

// Stops `process` and returns the monotonic time once the kernel says it has stopped (or has
// exited), so that every admission it made before the stop has an earlier timestamp: the
// moment kill() is called is not enough, the demo may be preempted before the signal lands.
// WNOWAIT leaves the child's state to ChildProcess, which reaps it.
std::int64_t stop_process(ChildProcess& process) {
  process.signal(SIGSTOP);
  auto deadline = Clock::now() + 5s;
  while (process.pid() > 0 && Clock::now() < deadline) {
    siginfo_t info{};
    int r = ::waitid(P_PID, static_cast<id_t>(process.pid()), &info, WSTOPPED | WEXITED | WNOHANG | WNOWAIT);
    if (r != 0 && errno != EINTR) break;  // not our child any more
    if (r == 0 && info.si_pid == process.pid()) break;
    std::this_thread::sleep_for(200us);
  }
  return alerts::monotonic_us();
}

alerts::EventClientCounters minus(const alerts::EventClientCounters& a, const alerts::EventClientCounters& b) {
  return {a.sent - b.sent,     a.acknowledged - b.acknowledged,   a.redirects - b.redirects, a.waits - b.waits,
          a.handoff_waits - b.handoff_waits, a.retries - b.retries, a.given_up - b.given_up};
}

struct DemoServer {
  std::string address;
  std::filesystem::path log;
  process::PortReservation port;  // held for its life: nothing else takes its port
  ChildProcess process;
  // Its way to etcd, one per endpoint (empty: it connects directly, and cannot be cut off).
  std::vector<std::unique_ptr<fault::FaultProxy>> proxies;
  bool joiner = false;    // started with --join-on-signal
  Fate fate = Fate::serving;
  bool frozen = false;
  bool cut_off = false;   // its proxies black-hole its traffic to and from etcd
  bool taken = false;     // a churn step is acting on it
  int touched = 0;        // churn steps that acted on it
  std::vector<ServerEvent> history;  // what the demo did to it
  std::int64_t last_thaw_us = 0;
  std::vector<std::int64_t> leases_lost_us;  // from its log: when its own Cluster gave its lease up

  void happened(Happening what, std::int64_t at_us = alerts::monotonic_us()) { history.push_back({what, at_us}); }
};

// The ring as the demo's own view saw it change, and the guard releases it saw published.
struct Observed {
  struct RingChange {
    std::string address;
    bool in = false;
    std::int64_t at_us = 0;
  };
  std::mutex mutex;
  std::vector<RingChange> ring;
  std::vector<std::int64_t> releases;
  std::atomic<std::int64_t> churn_began_us{0};
  std::atomic<std::uint64_t> releases_since_churn{0};
};

class Demo {
 public:
  Demo(DemoOptions options, TerminationSignals& signals)
      : o_(std::move(options)), timing_(churn_timing(o_.ttl_s)), signals_(signals) {}

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
         << (o_.guard ? "on" : "off") << ", fencing " << (o_.fencing ? "on" : "off") << ", lease TTL " << o_.ttl_s
         << " s, etcd " << endpoints << ", context " << context_ << "\n";
    for (std::size_t i = 0; i < o_.servers; ++i) {
      start_server(false, live);
      live << "frodo demo: started alert server " << servers_.back().address << " (pid " << servers_.back().process.pid()
           << ")\n";
    }
    if (o_.churn) {
      start_server(true, live);
      live << "frodo demo: started alert server " << servers_.back().address << " (pid " << servers_.back().process.pid()
           << "), waiting to join during the churn\n";
    }
    if (!wait_for_members(o_.servers, 30s)) return finish(live, "the alert servers did not all join");
    if (o_.churn && !wait_for_joiner(30s)) return finish(live, "the joining alert server did not get ready");

    alerts::EventClientOptions client_options;
    client_options.cluster = cluster_options_;
    client_options.hosts = o_.hosts;
    client_options.events = o_.events;
    client_options.workers = o_.workers;
    client_options.timeout = timing_.client_timeout;
    client_ = std::make_unique<alerts::EventClient>(client_options);
    std::exception_ptr client_error;
    std::atomic<bool> client_done{false};
    started_ = Clock::now();
    started_us_ = alerts::monotonic_us();
    std::thread client_thread([&] {
      try {
        client_->run();
      } catch (...) {
        client_error = std::current_exception();
      }
      client_done = true;
    });

    if (o_.churn) schedule_churn(live);
    auto duration = std::chrono::seconds(o_.duration_s);
    std::uint64_t last_acked = 0;
    auto last_tick = started_;
    auto next_tick = started_ + 1s;
    while (!client_done) {
      Clock::time_point wake = next_tick;
      if (!actions_.empty()) wake = std::min(wake, actions_.begin()->first);
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(wake - Clock::now());
      int signal = signals_.wait_for(std::max(left, 0ms));
      if (signal != 0) {
        interrupted_ = true;
        live << "frodo demo: signal " << signal << ", stopping\n";
        break;
      }
      auto now = Clock::now();
      while (!actions_.empty() && actions_.begin()->first <= now) {
        auto action = std::move(actions_.begin()->second);
        actions_.erase(actions_.begin());
        action(live);
      }
      if (now >= next_tick) {
        print_tick(live, now, last_tick, last_acked);
        next_tick += 1s;
      }
      if (o_.events == 0 && now - started_ >= duration) break;
    }
    end_us_ = alerts::monotonic_us();
    client_->stop();
    client_thread.join();
    if (client_error) {
      try {
        std::rethrow_exception(client_error);
      } catch (const std::exception& e) {
        return finish(live, std::string("the event client failed: ") + e.what());
      }
    }
    client_seconds_ = std::chrono::duration<double>(Clock::now() - started_).count();
    return finish(live, interrupted_ ? "interrupted" : "");
  }

  ~Demo() { shut_down(); }

 private:
  using Action = std::function<void(std::ostream&)>;

  std::string start_etcd(std::ostream& live) {
    if (!process::find_program("etcd")) {
      throw Error(Errc::unavailable,
                  "etcd is not on PATH: run scripts/setup (Debian package etcd-server) or pass --etcd HOST:PORT");
    }
    etcd_ = std::make_unique<process::LocalEtcd>("demo", dir_.path() / "etcd", dir_.path() / "etcd.log");
    live << "frodo demo: started etcd (pid " << etcd_->process().pid() << ") on " << etcd_->endpoint() << "\n";
    return etcd_->endpoint();
  }

  // The demo's own view: members, revision, ring changes and releases; also how it knows etcd
  // is up.
  void connect_observer() {
    ClusterOptions o = cluster_options_;
    o.etcd.call_timeout = 1000ms;
    o.connect_timeout = 30s;  // etcd may still be starting
    try {
      observer_ = std::make_unique<Cluster>(o);
    } catch (const Error& e) {
      if (etcd_ && !etcd_->process().running()) {
        throw Error(Errc::unavailable, "etcd exited at start:\n" + log_tail(dir_.path() / "etcd.log"));
      }
      if (e.code() == Errc::invalid_argument || !o_.etcd.empty()) throw;
      throw Error(Errc::unavailable, std::string("etcd did not become ready: ") + e.what());
    }
    std::shared_ptr<Observed> observed = observed_;
    observer_changes_ = observer_->on_change([observed](const Snapshot& before, const Snapshot& after) {
      std::int64_t now = alerts::monotonic_us();
      std::set<std::string> was, is;
      for (const Member& m : before.ring.members()) was.insert(m.address);
      for (const Member& m : after.ring.members()) is.insert(m.address);
      std::map<std::string, std::string> old;
      for (const ServerInfo& s : before.servers) {
        if (auto it = s.meta.find(released_meta_key); it != s.meta.end()) old[s.address] = it->second;
      }
      std::lock_guard lock(observed->mutex);
      for (const std::string& a : is) {
        if (!was.contains(a)) observed->ring.push_back({a, true, now});
      }
      for (const std::string& a : was) {
        if (!is.contains(a)) observed->ring.push_back({a, false, now});
      }
      for (const ServerInfo& s : after.servers) {
        auto it = s.meta.find(released_meta_key);
        if (it == s.meta.end() || it->second == "0") continue;
        auto before_it = old.find(s.address);
        if (before_it != old.end() && before_it->second == it->second) continue;
        observed->releases.push_back(now);
        std::int64_t began = observed->churn_began_us.load();
        if (began != 0 && now >= began) ++observed->releases_since_churn;
      }
    });
  }

  // The server's proxies to etcd, or none (and why, once) when the endpoints cannot be proxied.
  std::vector<std::unique_ptr<fault::FaultProxy>> proxies_to_etcd(std::ostream& live) {
    std::vector<std::unique_ptr<fault::FaultProxy>> proxies;
    if (!no_proxy_.empty()) return proxies;
    try {
      for (const std::string& endpoint : cluster_options_.etcd.endpoints) {
        proxies.push_back(std::make_unique<fault::FaultProxy>(fault::FaultProxyOptions{.upstream = endpoint}));
      }
    } catch (const std::invalid_argument& e) {
      no_proxy_ = e.what();
      live << "frodo demo: the servers connect to etcd directly, so none can be cut off from it: " << no_proxy_ << "\n";
      proxies.clear();
    }
    return proxies;
  }

  void start_server(bool joiner, std::ostream& live) {
    DemoServer s;
    const int port = s.port.port();
    s.address = "127.0.0.1:" + std::to_string(port);
    s.log = dir_.path() / ("server-" + std::to_string(servers_.size() + 1) + ".log");
    s.joiner = joiner;
    s.proxies = proxies_to_etcd(live);
    std::vector<std::string> endpoints = cluster_options_.etcd.endpoints;
    if (!s.proxies.empty()) {
      endpoints.clear();
      for (const auto& proxy : s.proxies) endpoints.push_back(proxy->address());
    }
    std::string etcd = comma_joined(endpoints);
    std::vector<std::string> argv = {process::self_executable(), "demo-server", "--etcd", etcd, "--context", context_,
                                     "--port", std::to_string(port), "--store", store_path_.string(),
                                     "--ttl", std::to_string(o_.ttl_s), "--work-us", std::to_string(o_.work_us),
                                     "--slow-us", std::to_string(1000LL * timing_.slow_work.count()),
                                     "--catch-up-ms", std::to_string(timing_.catch_up.count()),
                                     // etcd may still be starting, or a loaded machine slow to
                                     // answer the first grant: keep trying rather than fail.
                                     "--connect-timeout", "25"};
    if (!o_.guard) argv.push_back("--no-guard");
    if (!o_.fencing) argv.push_back("--no-fencing");
    if (joiner) argv.push_back("--join-on-signal");
    s.process = ChildProcess(argv, s.log.string());
    s.happened(Happening::started);
    servers_.push_back(std::move(s));
  }

  static std::string comma_joined(const std::vector<std::string>& endpoints) {
    std::string out;
    for (const std::string& e : endpoints) out += (out.empty() ? "" : ",") + e;
    return out;
  }

  void check_started_servers() {
    for (DemoServer& s : servers_) {
      if (s.fate == Fate::serving && !s.process.running()) {
        throw Error(Errc::unavailable, "alert server " + s.address + " exited at start:\n" + log_tail(s.log));
      }
    }
  }

  bool wait_for_members(std::size_t n, std::chrono::milliseconds limit) {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (observer_->snapshot()->ring.members().size() >= n) return true;
      check_started_servers();
      if (signals_.wait_for(50ms) != 0) {
        interrupted_ = true;
        return false;
      }
    }
    return false;
  }

  // The joiner blocks its control signals before it prints this line: only then may it be
  // signalled (an unblocked SIGRTMIN would kill it).
  bool wait_for_joiner(std::chrono::milliseconds limit) {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (read_file(servers_.back().log).find("waiting to join") != std::string::npos) return true;
      check_started_servers();
      if (signals_.wait_for(20ms) != 0) {
        interrupted_ = true;
        return false;
      }
    }
    return false;
  }

  void print_tick(std::ostream& live, Clock::time_point now, Clock::time_point& last_tick, std::uint64_t& last_acked) {
    double elapsed = std::chrono::duration<double>(now - started_).count();
    alerts::EventClientCounters c = client_->counters();
    double rate = (c.acknowledged - last_acked) / std::max(1e-3, std::chrono::duration<double>(now - last_tick).count());
    last_acked = c.acknowledged;
    last_tick = now;
    std::shared_ptr<const Snapshot> view = observer_->snapshot();
    char line[256];
    std::snprintf(line, sizeof line,
                  "%5.0fs  %7s ev/s  acked %-9s redirects %-6s waits %-6s retries %-5s handoffs %-4llu members %zu  rev %lld",
                  elapsed, with_commas(static_cast<std::uint64_t>(rate)).c_str(), with_commas(c.acknowledged).c_str(),
                  with_commas(c.redirects).c_str(), with_commas(c.waits).c_str(), with_commas(c.retries).c_str(),
                  static_cast<unsigned long long>(observed_->releases_since_churn.load()), view->ring.members().size(),
                  static_cast<long long>(view->revision));
    live << line << std::endl;
  }

  void at(Clock::time_point when, Action action) { actions_.emplace(when, std::move(action)); }
  Clock::time_point at_seconds(double s) const {
    return started_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }

  // The step begins: its client counters and, for the first, the start of handoff counting.
  void begin_step(std::size_t i) {
    StepRecord& step = steps_[i];
    step.begin_us = alerts::monotonic_us();
    step_counters_[i] = client_->counters();
    std::int64_t expected = 0;
    observed_->churn_began_us.compare_exchange_strong(expected, step.begin_us);
  }

  void schedule_churn(std::ostream& live) {
    std::optional<std::vector<PlannedStep>> plan = plan_churn(o_.duration_s, timing_);
    if (!plan) return;  // the options were checked: does not happen
    step_counters_.resize(plan->size());
    for (std::size_t i = 0; i < plan->size(); ++i) {
      const PlannedStep& p = (*plan)[i];
      StepRecord record;
      record.step = p.step;
      record.planned_s = p.at_s;
      steps_.push_back(record);
      Clock::time_point main = at_seconds(p.at_s);
      switch (p.step) {
        case ChurnStep::freeze_join:
          at(main - timing_.slow_lead, [this, i](std::ostream& out) { slow_down(i, out); });
          at(main, [this, i](std::ostream& out) { freeze_and_join(i, out); });
          break;
        case ChurnStep::partition_past_ttl:
          at(main, [this, i](std::ostream& out) { cut_off(i, out); });
          break;
        case ChurnStep::slow_leave:
          at(main - timing_.slow_lead, [this, i](std::ostream& out) { slow_down(i, out); });
          at(main, [this, i](std::ostream& out) { leave(i, out); });
          break;
        case ChurnStep::kill:
          at(main, [this, i](std::ostream& out) { kill(i, out); });
          break;
        case ChurnStep::freeze_past_ttl:
          at(main, [this, i](std::ostream& out) { freeze_past_ttl(i, out); });
          break;
      }
    }
    live << "frodo demo: churn at";
    for (const StepRecord& s : steps_) {
      char text[96];
      std::snprintf(text, sizeof text, " %.1fs (%s)", s.planned_s, describe(s.step));
      live << text;
    }
    live << "\n";
  }

  bool in_ring(const std::string& address) const {
    std::shared_ptr<const Snapshot> view = observer_->snapshot();
    const auto& members = view->ring.members();
    return std::any_of(members.begin(), members.end(), [&](const Member& m) { return m.address == address; });
  }

  // A server to act on: serving, in the ring, not frozen, cut off nor taken by another step,
  // and not the last one serving (the hosts always have somewhere to go). Untouched servers
  // first; for the partition, only a server that reaches etcd through proxies.
  DemoServer* choose_victim(bool needs_proxies = false) {
    std::size_t serving = 0;
    for (DemoServer& s : servers_) serving += s.fate == Fate::serving && !s.frozen && !s.cut_off && in_ring(s.address);
    if (serving < 2) return nullptr;
    DemoServer* victim = nullptr;
    for (DemoServer& s : servers_) {
      if (s.fate != Fate::serving || s.frozen || s.cut_off || s.taken || !in_ring(s.address) || !s.process.running()) {
        continue;
      }
      if (needs_proxies && s.proxies.empty()) continue;
      if (!victim || s.touched < victim->touched) victim = &s;
    }
    if (victim) {
      victim->taken = true;
      ++victim->touched;
    }
    return victim;
  }

  DemoServer* find(const std::string& address) {
    for (DemoServer& s : servers_) {
      if (s.address == address) return &s;
    }
    return nullptr;
  }

  DemoServer* victim_of(std::size_t i, std::ostream& live) {
    StepRecord& step = steps_[i];
    if (!step.victim.empty()) return find(step.victim);
    if (step.step == ChurnStep::partition_past_ttl && !no_proxy_.empty()) {
      step.skipped = "the servers reach etcd directly (" + no_proxy_ + ")";
      live << "      > skipped '" << describe(step.step) << "': " << step.skipped << "\n";
      return nullptr;
    }
    DemoServer* victim = choose_victim(step.step == ChurnStep::partition_past_ttl);
    if (!victim) {
      step.skipped = "only one server is serving";
      live << "      > skipped '" << describe(step.step) << "': only one server is serving\n";
      return nullptr;
    }
    step.victim = victim->address;
    return victim;
  }

  void slow_down(std::size_t i, std::ostream& live) {
    begin_step(i);
    DemoServer* victim = victim_of(i, live);
    if (!victim) return;
    victim->process.signal(SIGUSR1);
    victim->happened(Happening::slowed);
    live << "      > slowing " << victim->address << " (each event it admits now takes " << seconds_text(timing_.slow_work)
         << ", past the client's " << seconds_text(timing_.client_timeout) << " timeout)\n";
  }

  void freeze_and_join(std::size_t i, std::ostream& live) {
    StepRecord& step = steps_[i];
    DemoServer* victim = step.skipped.empty() ? victim_of(i, live) : nullptr;
    if (victim) {
      step.action_us = stop_process(victim->process);
      victim->frozen = true;
      victim->happened(Happening::frozen, step.action_us);
      live << "      > SIGSTOP " << victim->address << " for " << seconds_text(timing_.short_freeze)
           << " (half its lease TTL: the lease holds)\n";
      at(Clock::now() + timing_.short_freeze, [this, i](std::ostream& out) { thaw(i, out, true); });
    }
    // The join goes ahead even without a freeze: later steps need the servers.
    for (DemoServer& s : servers_) {
      if (!s.joiner || s.fate != Fate::serving) continue;
      step.joiner = s.address;
      step.joiner_signal_us = alerts::monotonic_us();
      s.process.signal(SIGRTMIN);
      live << "      > " << s.address << " joins" << (victim ? " during the freeze" : "") << "\n";
    }
  }

  void thaw(std::size_t i, std::ostream& live, bool speed_up) {
    StepRecord& step = steps_[i];
    DemoServer* victim = find(step.victim);
    if (!victim || !victim->frozen) return;
    step.thaw_us = alerts::monotonic_us();
    victim->process.signal(SIGCONT);
    if (speed_up) victim->process.signal(SIGUSR2);
    victim->frozen = false;
    victim->taken = false;
    victim->last_thaw_us = step.thaw_us;
    victim->happened(Happening::thawed, step.thaw_us);
    if (speed_up) victim->happened(Happening::normal_speed, step.thaw_us);
    live << "      > SIGCONT " << victim->address
         << (speed_up ? " (back to normal speed)" : " (frozen past its lease: it must not apply stale work)") << "\n";
  }

  // The partition: the victim's proxies hold etcd's answers (its keepalives still reach
  // etcd, which keeps the lease), then every byte both ways, for longer than its lease; its
  // TCP connections stay up and the clients still reach it.
  void cut_off(std::size_t i, std::ostream& live) {
    begin_step(i);
    StepRecord& step = steps_[i];
    DemoServer* victim = victim_of(i, live);
    if (!victim) return;
    for (auto& proxy : victim->proxies) proxy->black_hole(fault::Direction::to_client);
    // Read once every proxy holds etcd's answers: a keepalive answered before this was sent
    // before it, so the server's own lease deadline is at most a TTL from now.
    step.action_us = alerts::monotonic_us();
    step.lease_deadline_us = step.action_us + 1'000'000LL * o_.ttl_s;
    victim->cut_off = true;
    victim->happened(Happening::cut_off, step.action_us);
    live << "      > " << victim->address << " cut off from etcd for " << seconds_text(timing_.partition)
         << ": etcd's answers held for " << seconds_text(timing_.one_way)
         << " (etcd keeps its lease), then both ways (clients still reach it: it must stop admitting at its own "
            "lease deadline)\n";
    at(Clock::now() + timing_.one_way, [this, i](std::ostream& out) { cut_both_ways(i, out); });
    at(Clock::now() + timing_.partition, [this, i](std::ostream& out) { heal(i, out); });
  }

  void cut_both_ways(std::size_t i, std::ostream&) {
    StepRecord& step = steps_[i];
    DemoServer* victim = find(step.victim);
    if (!victim || !victim->cut_off) return;
    for (auto& proxy : victim->proxies) proxy->black_hole(fault::Direction::both);
    step.both_ways_us = alerts::monotonic_us();
  }

  void heal(std::size_t i, std::ostream& live) {
    StepRecord& step = steps_[i];
    DemoServer* victim = find(step.victim);
    if (!victim || !victim->cut_off) return;
    for (auto& proxy : victim->proxies) proxy->heal();
    step.thaw_us = alerts::monotonic_us();
    victim->cut_off = false;
    victim->taken = false;
    victim->last_thaw_us = step.thaw_us;
    victim->happened(Happening::healed, step.thaw_us);
    live << "      > " << victim->address << " reaches etcd again (a new lease; it gains hosts only after their handoff)\n";
  }

  void leave(std::size_t i, std::ostream& live) {
    StepRecord& step = steps_[i];
    DemoServer* victim = step.skipped.empty() ? victim_of(i, live) : nullptr;
    if (!victim) return;
    step.action_us = alerts::monotonic_us();
    victim->process.signal(SIGTERM);
    victim->fate = Fate::left;
    victim->happened(Happening::leaving, step.action_us);
    live << "      > SIGTERM " << victim->address << " with slow work in flight (graceful: drains, hands over, leaves)\n";
  }

  void kill(std::size_t i, std::ostream& live) {
    begin_step(i);
    StepRecord& step = steps_[i];
    DemoServer* victim = victim_of(i, live);
    if (!victim) return;
    step.action_us = alerts::monotonic_us();
    victim->process.signal(SIGKILL);
    victim->fate = Fate::killed;
    victim->happened(Happening::killed, step.action_us);
    live << "      > SIGKILL " << victim->address << " (its lease expires in " << o_.ttl_s << " s)\n";
  }

  void freeze_past_ttl(std::size_t i, std::ostream& live) {
    begin_step(i);
    StepRecord& step = steps_[i];
    DemoServer* victim = victim_of(i, live);
    if (!victim) return;
    step.action_us = stop_process(victim->process);
    victim->frozen = true;
    victim->happened(Happening::frozen, step.action_us);
    live << "      > SIGSTOP " << victim->address << " for " << seconds_text(timing_.long_freeze)
         << " (past its lease TTL)\n";
    at(Clock::now() + timing_.long_freeze, [this, i](std::ostream& out) { thaw(i, out, false); });
  }

  // Stops every server (SIGTERM: they leave in order), then reads each one's log once: its
  // final stats (a killed server has none) and when its Cluster gave its lease up.
  void stop_servers() {
    for (DemoServer& s : servers_) {
      const bool stopped_here = s.process.pid() > 0;
      if (stopped_here) s.process.stop(15s);
      std::ifstream in(s.log);
      std::string last;
      for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.front() == '{') last = line;
        if (std::optional<std::int64_t> us = lease_lost_time(line)) s.leases_lost_us.push_back(*us);
      }
      if (!stopped_here) continue;
      if (auto j = nlohmann::json::parse(last, nullptr, false); !j.is_discarded()) stats_[s.address] = j;
    }
  }

  // The time in a demo-server's "lease lost (REASON) at_us N" line, if `line` is one.
  static std::optional<std::int64_t> lease_lost_time(std::string_view line) {
    std::size_t at = line.find(") at_us ");
    if (line.find("lease lost (") == std::string_view::npos || at == std::string_view::npos) return std::nullopt;
    std::string_view digits = line.substr(at + 8);
    std::int64_t us = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), us);
    if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
    return us;
  }

  // What the observer saw, folded into the steps and the servers' histories.
  std::vector<ServerRecord> server_records(std::vector<alerts::Pause>& pauses) {
    std::vector<Observed::RingChange> ring;
    std::vector<std::int64_t> releases;
    {
      std::lock_guard lock(observed_->mutex);
      ring = observed_->ring;
      releases = observed_->releases;
    }
    auto first_change = [&](const std::string& address, bool in, std::int64_t from_us, std::int64_t to_us) {
      for (const Observed::RingChange& c : ring) {
        if (c.address == address && c.in == in && c.at_us >= from_us && c.at_us <= to_us) return c.at_us;
      }
      return std::int64_t{0};
    };
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      StepRecord& s = steps_[i];
      s.end_us = i + 1 < steps_.size() && steps_[i + 1].begin_us != 0 ? steps_[i + 1].begin_us : end_us_;
      if (s.begin_us != 0) {
        alerts::EventClientCounters until =
            i + 1 < steps_.size() && steps_[i + 1].begin_us != 0 ? step_counters_[i + 1] : end_counters_;
        s.client = minus(until, step_counters_[i]);
        s.releases = static_cast<std::uint64_t>(
            std::count_if(releases.begin(), releases.end(), [&](std::int64_t t) { return t >= s.begin_us && t < s.end_us; }));
      }
      if (!s.joiner.empty()) {  // the join happens even when the freeze was skipped
        s.joined_us = first_change(s.joiner, true, s.joiner_signal_us, std::numeric_limits<std::int64_t>::max());
      }
      if (s.action_us == 0) continue;
      s.victim_out_us = first_change(s.victim, false, s.action_us, std::numeric_limits<std::int64_t>::max());
      if (s.step == ChurnStep::freeze_join) {
        // Its record leaving the ring during the freeze (or just after, when etcd noticed) means
        // the lease expired: then the freeze was a pause past the lease after all.
        std::int64_t until = (s.thaw_us != 0 ? s.thaw_us : end_us_) + 1'000'000;
        s.lease_held = first_change(s.victim, false, s.action_us, until) == 0;
        if (!s.lease_held && s.thaw_us != 0) pauses.push_back({s.victim, s.action_us, s.thaw_us});
      }
      if (s.step == ChurnStep::freeze_past_ttl && s.thaw_us != 0) pauses.push_back({s.victim, s.action_us, s.thaw_us});
      if (s.step == ChurnStep::partition_past_ttl) {
        if (DemoServer* victim = find(s.victim)) {
          const std::int64_t until = s.thaw_us != 0 ? s.thaw_us : end_us_;
          for (std::int64_t us : victim->leases_lost_us) {
            if (us >= s.action_us && us <= until) {
              s.lease_lost_us = us;
              break;
            }
          }
        }
      }
    }
    std::vector<ServerRecord> records;
    for (DemoServer& s : servers_) {
      ServerRecord r;
      r.address = s.address;
      r.joiner = s.joiner;
      r.fate = s.fate;
      r.history = s.history;
      bool seen = false;
      for (const Observed::RingChange& c : ring) {
        if (c.address != s.address || c.at_us > end_us_) continue;  // later: the demo's own shutdown
        r.history.push_back({c.in ? (seen ? Happening::back_in_ring : Happening::joined) : Happening::out_of_ring, c.at_us});
        seen = seen || c.in;
      }
      std::stable_sort(r.history.begin(), r.history.end(),
                       [](const ServerEvent& a, const ServerEvent& b) { return a.at_us < b.at_us; });
      r.last_thaw_us = s.last_thaw_us;
      if (auto it = stats_.find(s.address); it != stats_.end()) r.stats = it->second;
      records.push_back(std::move(r));
    }
    return records;
  }

  int finish(std::ostream& live, const std::string& problem) {
    if (client_) {
      client_->stop();
      end_counters_ = client_->counters();
    }
    if (end_us_ == 0) end_us_ = alerts::monotonic_us();
    // A freeze the run ended during: thawed now, so that its server can leave.
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      bool freeze = steps_[i].step == ChurnStep::freeze_join || steps_[i].step == ChurnStep::freeze_past_ttl;
      if (freeze && steps_[i].action_us != 0 && steps_[i].thaw_us == 0) {
        thaw(i, live, steps_[i].step == ChurnStep::freeze_join);
      }
      // A partition too: its server leaves through etcd.
      if (steps_[i].step == ChurnStep::partition_past_ttl && steps_[i].action_us != 0 && steps_[i].thaw_us == 0) {
        heal(i, live);
      }
    }
    stop_servers();
    int status = exit_ok;
    if (client_ && client_seconds_ > 0) {
      std::vector<alerts::Pause> pauses;
      std::vector<ServerRecord> servers = server_records(pauses);
      alerts::Store store(store_path_);
      std::vector<alerts::StoreRow> rows = store.rows();
      alerts::CheckReport r = alerts::check(rows, client_->acknowledged(), pauses);
      step_evidence(rows, steps_, servers);
      DemoFacts facts;
      facts.guard = o_.guard;
      facts.fencing = o_.fencing;
      facts.churn = o_.churn;
      facts.ttl_s = o_.ttl_s;
      facts.hosts = o_.hosts;
      facts.seconds = client_seconds_;
      facts.started_us = started_us_;
      facts.client = client_->counters();
      facts.handoffs = observed_->releases_since_churn.load();
      facts.host_moves = host_moves(rows);
      for (const auto& [address, s] : stats_) {
        if (s.is_object() && s.contains("fenced") && s["fenced"].is_number_unsigned()) {
          facts.fenced += s["fenced"].get<std::uint64_t>();
        }
      }
      Judgement judgement = judge(r, o_.guard, o_.fencing, steps_);
      if (!judgement.pass || !problem.empty()) status = exit_failure;
      if (!problem.empty()) judgement.verdict = problem;
      if (o_.json) {
        nlohmann::json report = report_json(facts, r, judgement, steps_, servers);
        report["verdict"] = problem.empty() ? (judgement.pass ? "pass" : "fail") : problem;
        std::cout << report.dump() << std::endl;
      } else {
        std::cout << report_text(facts, r, judgement, steps_, servers) << std::flush;
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
    if (etcd_) etcd_->process().stop(0ms);  // SIGKILL: a lone member asked to stop politely can hang for seconds
  }

  DemoOptions o_;
  ChurnTiming timing_;
  TerminationSignals& signals_;
  process::TempDir dir_{"frodo-demo"};
  std::unique_ptr<process::LocalEtcd> etcd_;  // empty with --etcd
  std::string context_;
  ClusterOptions cluster_options_;
  std::filesystem::path store_path_;
  std::shared_ptr<Observed> observed_ = std::make_shared<Observed>();
  std::unique_ptr<Cluster> observer_;
  Subscription observer_changes_;  // declared after observer_: unregistered before it closes
  std::vector<DemoServer> servers_;
  std::string no_proxy_;  // why the servers reach etcd directly (empty: through proxies)
  std::map<std::string, nlohmann::json> stats_;  // each server's final counters, by address
  std::unique_ptr<alerts::EventClient> client_;
  std::multimap<Clock::time_point, Action> actions_;
  std::vector<StepRecord> steps_;
  std::vector<alerts::EventClientCounters> step_counters_;  // at each step's begin
  alerts::EventClientCounters end_counters_;
  Clock::time_point started_;
  std::int64_t started_us_ = 0;
  std::int64_t end_us_ = 0;
  double client_seconds_ = 0;
  bool interrupted_ = false;
};

}  // namespace

int run_demo(const DemoOptions& options, process::TerminationSignals& signals) {
  Demo demo(options, signals);
  return demo.run();
}

}  // namespace frodo::cli::demo
