// frodo's scale bench: one etcd on loopback, 10,000 registered servers, 1,000 watch streams
// directly and through etcd's gRPC proxies, full Clusters at 10,000 servers, and 100 Clusters
// end to end. docs/scale.md says what each phase measures and what it extrapolates to; `--help` lists the options.
//
// The coordinator (this file) starts every other process from its own executable
// (`frodo_scale_bench worker <mode> ...`, workers.cpp) and talks to each over a pipe, one line
// per message:
//   register: -> "ready"; <- "finish"; -> "keepalive SENT ANSWERED LOST MS"
//   watch:    -> "armed"; <- "go"; -> "ready LAST_READY_NS FAILURES MIN_LISTED MAX_LISTED";
//             <- "finish REV DEADLINE_MS"; -> "rev REV COUNT FIRST_NS LAST_NS"...; -> "done ..."
//   client:   -> "ready STARTUP_NS STARTUP_CPU_NS SERVERS RSS_KB IDLE_CPU_NS_PER_S"; <- "begin";
//             -> "begun"; <- "finish REV"; -> "result CPU_NS WALL_NS VIEWS RSS_KB HWM_KB CAUGHT_UP"
//   clusters: -> "ready NS RSS_KB"; <- "finish PROBES DEADLINE_MS"; -> "probe ADDRESS COUNT LAST_NS"...;
//             -> "done CLUSTERS INCOMPLETE"
// Times are CLOCK_MONOTONIC nanoseconds, the same clock in every process of the machine.
// Every process it starts is owned by PID (ChildProcess: killed and reaped when the bench ends,
// on failure too, and killed by the kernel if the bench itself dies); Ctrl-C and SIGTERM unwind
// in order; the temp dir goes with it.
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "etcd/kv.hpp"
#include "frodo/cluster.hpp"
#include "process/child_process.hpp"
#include "process/free_port.hpp"
#include "process/grpc_proxy.hpp"
#include "process/local_etcd.hpp"
#include "process/loopback_http.hpp"
#include "process/temp_dir.hpp"
#include "process/termination_signals.hpp"
#include "workers.hpp"

namespace frodo::scale {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

constexpr const char* usage = R"(Usage: frodo_scale_bench [--quick] [options]

Starts its own etcd on 127.0.0.1 (free ports, a temp dir) and measures, on this machine:
  fan-out   one put -> every watch stream has it (p50/p99/max), directly and through
            etcd gRPC proxies, single puts and sustained churn; etcd's CPU and memory
  storm     every watch stream starts at once, lists the context and watches it
  client    one full frodo::Cluster at the full membership: start-up, RSS, CPU per change
  e2e       many full Clusters: add_server -> visible in all of them
  keepalive the lease keepalive rate etcd serves for the registered servers
Prints a report and writes it as JSON. Everything it starts is stopped when it ends.

Options (full-run defaults; --quick: the tiny sizes in brackets):
  --quick                 tiny sizes, a smoke test of the bench itself (about a minute)
  --json PATH             where the JSON report goes [scale-report.json]
  --markdown PATH         also write the headline figures as Markdown tables (for docs/scale.md)
  --servers N             registered servers [10000; quick 100]
  --registrars N          processes registering them, one lease per server [100; quick 4]
  --ttl S                 the servers' lease TTL in seconds [60]
  --streams N             watch streams [1000; quick 20]
  --watch-procs N         processes holding the streams [10; quick 2]
  --proxies LIST          fan-out configurations: 0 = direct, k = k gRPC proxies [0,1,4; quick 0,2]
  --probes N              single puts per configuration, 500 ms apart [20; quick 5]
  --churn-rate R          changes per second during churn [10]
  --churn-seconds S       churn duration per configuration [60; quick 5]
  --idle-seconds S        after the storm, leave every stream idle this long first [0]
  --client-changes N      changes a full Cluster sees per algorithm [50; quick 10]
  --clusters N            Clusters in the end-to-end phase [100; quick 6]
  --cluster-procs N       processes holding them [5; quick 2]
  --e2e-servers N         servers in the end-to-end context [100; quick 10]
  --e2e-probes N          add_server calls timed end to end [20; quick 5]
  --phases LIST           any of client,e2e,fanout [all]
  --max-minutes M         give up (and clean up) after this long [25; quick 5]
  --keep                  keep the temp dir (etcd's data and every process's log)
  --help
)";

struct Options {
  bool quick = false;
  std::string json_path = "scale-report.json";
  std::string markdown_path;  // empty: none
  std::int64_t servers = 10'000, registrars = 100, ttl = 60, streams = 1000, watch_procs = 10;
  std::vector<std::int64_t> proxies{0, 1, 4};
  std::int64_t probes = 20, churn_rate = 10, churn_seconds = 60, client_changes = 50, idle_seconds = 0;
  std::int64_t clusters = 100, cluster_procs = 5, e2e_servers = 100, e2e_probes = 20;
  bool phase_client = true, phase_e2e = true, phase_fanout = true;
  std::int64_t max_minutes = 25;
  bool keep = false;
};

std::vector<std::string> split(const std::string& text, const char* what) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) throw std::runtime_error(std::string(what) + ": an empty entry in '" + text + "'");
    out.push_back(item);
  }
  if (out.empty() || out.size() > 16) throw std::runtime_error(std::string(what) + ": 1 to 16 entries");
  return out;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--quick") {
      o.quick = true;
      o.servers = 100, o.registrars = 4, o.streams = 20, o.watch_procs = 2, o.proxies = {0, 2};
      o.probes = 5, o.churn_seconds = 5, o.client_changes = 10, o.clusters = 6, o.cluster_procs = 2;
      o.e2e_servers = 10, o.e2e_probes = 5, o.max_minutes = 5;
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() > 4096) throw std::runtime_error("an argument longer than 4096 bytes");
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      std::string v = argv[++i];
      if (v.size() > 4096) throw std::runtime_error(arg + ": a value longer than 4096 bytes");
      return v;
    };
    auto number = [&](std::int64_t lo, std::int64_t hi) { return parse_int(value(), arg.c_str(), lo, hi); };
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage, stdout);
      std::exit(0);
    } else if (arg == "--quick") {
    } else if (arg == "--keep") {
      o.keep = true;
    } else if (arg == "--json") {
      o.json_path = value();
    } else if (arg == "--markdown") {
      o.markdown_path = value();
    } else if (arg == "--servers") {
      o.servers = number(1, 1'000'000);
    } else if (arg == "--registrars") {
      o.registrars = number(1, 1000);
    } else if (arg == "--ttl") {
      o.ttl = number(6, 3600);
    } else if (arg == "--streams") {
      o.streams = number(1, 100'000);
    } else if (arg == "--watch-procs") {
      o.watch_procs = number(1, 1000);
    } else if (arg == "--proxies") {
      o.proxies.clear();
      for (const auto& p : split(value(), "--proxies")) o.proxies.push_back(parse_int(p, "--proxies entry", 0, 16));
    } else if (arg == "--probes") {
      o.probes = number(1, 10'000);
    } else if (arg == "--churn-rate") {
      o.churn_rate = number(1, 1000);
    } else if (arg == "--idle-seconds") {
      o.idle_seconds = number(0, 3600);
    } else if (arg == "--churn-seconds") {
      o.churn_seconds = number(0, 3600);
    } else if (arg == "--client-changes") {
      o.client_changes = number(1, 100'000);
    } else if (arg == "--clusters") {
      o.clusters = number(1, 10'000);
    } else if (arg == "--cluster-procs") {
      o.cluster_procs = number(1, 1000);
    } else if (arg == "--e2e-servers") {
      o.e2e_servers = number(0, 100'000);
    } else if (arg == "--e2e-probes") {
      o.e2e_probes = number(1, 10'000);
    } else if (arg == "--phases") {
      o.phase_client = o.phase_e2e = o.phase_fanout = false;
      for (const auto& p : split(value(), "--phases")) {
        if (p == "client") o.phase_client = true;
        else if (p == "e2e") o.phase_e2e = true;
        else if (p == "fanout") o.phase_fanout = true;
        else throw std::runtime_error("--phases: '" + p + "' is not one of client, e2e, fanout");
      }
    } else if (arg == "--max-minutes") {
      o.max_minutes = number(1, 600);
    } else {
      throw std::runtime_error("unknown option '" + arg + "' (--help lists them)");
    }
  }
  if (o.registrars > o.servers) throw std::runtime_error("--registrars: more registrars than servers");
  if (o.watch_procs > o.streams) throw std::runtime_error("--watch-procs: more processes than streams");
  if (o.cluster_procs > o.clusters) throw std::runtime_error("--cluster-procs: more processes than Clusters");
  if (o.streams / o.watch_procs > 2000) throw std::runtime_error("--streams: at most 2000 per watch process");
  return o;
}

// ---- time and deadlines --------------------------------------------------------------------

Clock::time_point g_overall_deadline;

Clock::time_point deadline_in(std::chrono::seconds s) { return std::min(Clock::now() + s, g_overall_deadline); }

void pause_until(Clock::time_point when) {
  while (Clock::now() < when) {
    if (interrupted()) throw Interrupted();
    if (Clock::now() >= g_overall_deadline) throw std::runtime_error("the run passed --max-minutes");
    std::this_thread::sleep_for(std::min<Clock::duration>(when - Clock::now(), 100ms));
  }
}

double ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

json summary(std::vector<double> values) {
  json out = {{"n", values.size()}};
  if (values.empty()) return out;
  std::sort(values.begin(), values.end());
  auto at = [&](double p) {
    std::size_t i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size()))) ;
    return values[std::min(values.size() - 1, i == 0 ? 0 : i - 1)];
  };
  out["p50"] = at(0.50);
  out["p99"] = at(0.99);
  out["max"] = values.back();
  return out;
}

std::string fmt(const json& s, const char* unit = "ms") {
  if (!s.contains("p50")) return "(no samples)";
  char buf[160];
  std::snprintf(buf, sizeof buf, "p50 %.1f %s, p99 %.1f %s, max %.1f %s (n=%d)", s["p50"].get<double>(), unit,
                s["p99"].get<double>(), unit, s["max"].get<double>(), unit, s["n"].get<int>());
  return buf;
}

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

// ---- worker processes ------------------------------------------------------------------------

class Worker {
 public:
  Worker(std::string name, std::vector<std::string> argv, const std::filesystem::path& log)
      : name_(std::move(name)), log_(log.string()) {
    int to[2], from[2];
    if (::pipe2(to, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    if (::pipe2(from, O_CLOEXEC) != 0) {
      ::close(to[0]), ::close(to[1]);
      throw std::runtime_error("pipe2 failed");
    }
    int err = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    try {
      if (err < 0) throw std::runtime_error("cannot open " + log_);
      process_ = process::ChildProcess(argv, process::SpawnOptions{.stdin_fd = to[0], .stdout_fd = from[1], .stderr_fd = err});
    } catch (...) {
      ::close(to[0]), ::close(to[1]), ::close(from[0]), ::close(from[1]);
      if (err >= 0) ::close(err);
      throw;
    }
    ::close(to[0]), ::close(from[1]), ::close(err);
    to_ = to[1];
    from_ = from[0];
    reader_.emplace(from_);
  }
  ~Worker() {
    if (to_ >= 0) ::close(to_);
    if (from_ >= 0) ::close(from_);
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  const std::string& name() const { return name_; }
  int pid() const { return process_.pid(); }
  std::int64_t leases = 0;  // a registrar's servers (one lease each)

  void send(const std::string& line) {
    try {
      write_all(to_, line + "\n");
    } catch (const std::exception& e) {
      throw std::runtime_error(name_ + ": " + e.what() + "; its log ends:\n" + file_tail(log_));
    }
  }
  // The next line; it must start with `word`. Returns its fields (word first).
  std::vector<std::string> expect(const std::string& word, Clock::time_point deadline, std::size_t max_fields = 16) {
    std::optional<std::string> line;
    try {
      line = reader_->read(deadline, name_);
    } catch (const Interrupted&) {
      throw;
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string(e.what()) + " (waiting for '" + word + "'); its log ends:\n" + file_tail(log_));
    }
    if (!line) throw std::runtime_error(name_ + " exited (waiting for '" + word + "'); its log ends:\n" + file_tail(log_));
    std::vector<std::string> out;
    for (std::string_view f : fields(*line, max_fields)) out.emplace_back(f);
    if (out.empty() || out[0] != word) {
      throw std::runtime_error(name_ + ": expected '" + word + "', got '" + line->substr(0, 200) + "'");
    }
    return out;
  }
  // Any next line (or nullopt when it exited).
  std::optional<std::vector<std::string>> next(Clock::time_point deadline) {
    auto line = reader_->read(deadline, name_);
    if (!line) return std::nullopt;
    std::vector<std::string> out;
    for (std::string_view f : fields(*line)) out.emplace_back(f);
    if (out.empty()) throw std::runtime_error(name_ + ": an empty line");
    return out;
  }
  // Closes its stdin (it stops by itself), then waits for it; SIGTERM/SIGKILL after `grace`.
  // Returns "" when it exited with 0, else what happened (with the end of its log).
  std::string stop(std::chrono::milliseconds grace = 10s) {
    if (to_ >= 0) ::close(to_), to_ = -1;
    std::optional<int> status = process_.wait(grace);
    if (!status) {
      process_.stop(2s);
      return name_ + " did not exit within " + std::to_string(grace.count()) + " ms of its last command";
    }
    int code = process::exit_code(*status);
    if (code == 0) return "";
    return name_ + " exited with " + (code < 0 ? std::string("a signal") : std::to_string(code)) + "; its log ends:\n" +
           log_tail();
  }
  std::string log_tail() const { return file_tail(log_); }
  // expect(), taking "note TEXT" lines first (the first one kept in `note`).
  std::vector<std::string> expect_after_notes(const std::string& word, Clock::time_point deadline, std::string& note) {
    for (;;) {
      auto line = next(deadline);
      if (!line) throw std::runtime_error(name_ + " exited (waiting for '" + word + "'); its log ends:\n" + log_tail());
      if ((*line)[0] == "note") {
        if (note.empty()) {
          for (std::size_t i = 1; i < line->size(); ++i) note += (i > 1 ? " " : "") + (*line)[i];
        }
        continue;
      }
      if ((*line)[0] != word) throw std::runtime_error(name_ + ": expected '" + word + "', got '" + (*line)[0] + "'");
      return *line;
    }
  }

 private:
  std::string name_;
  std::string log_;
  process::ChildProcess process_;
  int to_ = -1;
  int from_ = -1;
  std::optional<LineReader> reader_;
};

std::vector<std::string> worker_argv(const std::string& mode, std::vector<std::string> args) {
  std::vector<std::string> argv{process::self_executable(), "worker", mode};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// ---- what etcd and the proxies cost --------------------------------------------------------

// Samples the CPU time and resident memory of the processes it is given every 100 ms, so a
// phase can ask for their CPU over it and their peak memory in it.
class Monitor {
 public:
  Monitor() {
    thread_ = std::thread([this]() noexcept {
      try {
        loop();
      } catch (...) {
        std::fprintf(stderr, "monitor: stopped by an exception\n");
      }
    });
  }
  ~Monitor() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    thread_.join();
  }
  // Starts a window over `pids` (labelled); ends with end().
  void begin(std::map<std::string, std::vector<int>> groups) {
    std::lock_guard lock(mutex_);
    groups_ = std::move(groups);
    start_cpu_.clear();
    peak_.clear();
    for (auto& [label, pids] : groups_) {
      for (int pid : pids) start_cpu_[pid] = read_proc(pid).cpu_seconds;
    }
    started_ = Clock::now();
    sample_locked();
  }
  json end() {
    std::lock_guard lock(mutex_);
    sample_locked();
    double wall = std::chrono::duration<double>(Clock::now() - started_).count();
    json out = {{"seconds", wall}};
    for (auto& [label, pids] : groups_) {
      double cpu = 0;
      std::int64_t rss = 0, peak = 0;
      for (int pid : pids) {
        ProcReading r = read_proc(pid);
        cpu += r.cpu_seconds - start_cpu_[pid];
        rss += r.rss_kb;
      }
      peak = peak_[label];
      out[label] = {{"cpu_seconds", cpu}, {"cpu_cores", wall > 0 ? cpu / wall : 0}, {"rss_mb", rss / 1024.0},
                    {"peak_rss_mb", peak / 1024.0}};
    }
    groups_.clear();
    return out;
  }

 private:
  void sample_locked() {
    for (auto& [label, pids] : groups_) {
      std::int64_t rss = 0;
      for (int pid : pids) rss += read_proc(pid).rss_kb;
      peak_[label] = std::max(peak_[label], rss);
    }
  }
  void loop() {
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (stop_) return;
        sample_locked();
      }
      std::this_thread::sleep_for(100ms);
    }
  }
  std::mutex mutex_;
  bool stop_ = false;
  std::map<std::string, std::vector<int>> groups_;
  std::map<int, double> start_cpu_;
  std::map<std::string, std::int64_t> peak_;
  Clock::time_point started_;
  std::thread thread_;
};

std::string cost_line(const json& window, const std::string& label) {
  if (!window.contains(label)) return "";
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s CPU %.2f cores (%.1f s over %.1f s), RSS %.0f MB (peak %.0f MB)", label.c_str(),
                window[label]["cpu_cores"].get<double>(), window[label]["cpu_seconds"].get<double>(),
                window["seconds"].get<double>(), window[label]["rss_mb"].get<double>(),
                window[label]["peak_rss_mb"].get<double>());
  return buf;
}

// ---- the bench -------------------------------------------------------------------------------

class Bench {
 public:
  explicit Bench(Options options) : o_(std::move(options)), dir_("frodo-scale", {.remove_after_crash = true}) {
    if (o_.keep) dir_.keep();
  }

  json run() {
    json report;
    report["machine"] = {{"cpus", std::thread::hardware_concurrency()}, {"loadavg_before", loadavg()}};
    report["sizes"] = {{"servers", o_.servers},       {"registrars", o_.registrars}, {"ttl_s", o_.ttl},
                       {"streams", o_.streams},       {"watch_procs", o_.watch_procs}, {"proxies", o_.proxies},
                       {"probes", o_.probes},         {"churn_rate", o_.churn_rate}, {"churn_seconds", o_.churn_seconds},
                       {"clusters", o_.clusters},     {"e2e_servers", o_.e2e_servers}, {"quick", o_.quick}};
    say("frodo scale bench" + std::string(o_.quick ? " (--quick: a smoke test of the bench, tiny sizes)" : "") +
        "; load average before: " + loadavg() + "; temp dir " + dir_.path().string());
    start_etcd();
    report["register"] = register_servers();
    if (o_.phase_client) report["client"] = clients();
    if (o_.phase_e2e) report["e2e"] = end_to_end();
    if (o_.phase_fanout) {
      json configs = json::array();
      for (std::int64_t p : o_.proxies) configs.push_back(fanout(p));
      report["fanout"] = configs;
    }
    report["keepalive"] = keepalive();
    report["machine"]["loadavg_after"] = loadavg();
    report["targets"] = targets(report);
    report["worker_failures"] = worker_failures_;
    return report;
  }

  // Every registrar is told to finish; their processes, etcd's and the dir go with the object.
 private:
  void start_etcd() {
    etcd_.emplace("scale", dir_ / "etcd", dir_ / "etcd.log");
    connection_ = std::make_shared<etcd::Connection>(EtcdOptions{.endpoints = {etcd_->endpoint()}, .call_timeout = 30s});
    kv_.emplace(connection_);
    auto until = deadline_in(60s);
    for (;;) {
      try {
        kv_->status(0);
        break;
      } catch (const std::exception& e) {
        if (Clock::now() > until) throw std::runtime_error(std::string("etcd did not answer: ") + e.what());
        pause_until(Clock::now() + 200ms);
      }
    }
    say("etcd " + etcd_->endpoint() + " (pid " + std::to_string(etcd_->process().pid()) + ")");
  }

  std::string prefix() const { return "/frodo/scale/servers/"; }

  // A worker that exits other than with 0 after its last answer (a sanitizer's report, a
  // crash at exit) fails the run, after the figures are written.
  void check_exit(Worker& w) {
    std::string problem = w.stop();
    if (problem.empty()) return;
    say("  WORKER FAILED: " + problem);
    worker_failures_.push_back(problem.substr(0, 2000));
  }

 public:
  const std::vector<std::string>& worker_failures() const { return worker_failures_; }

 private:
  std::int64_t storm_give_up_s() const { return o_.quick ? 60 : 240; }

  // etcd's own count of watch streams and watchers (its /metrics on the client port), to show
  // what the proxies coalesce. Empty when it cannot be read.
  json etcd_watch_metrics() {
    json out = json::object();
    try {
      std::string body = process::loopback_http_get(etcd_->client_port(), "/metrics");
      auto value = [&](const std::string& name) -> std::optional<std::int64_t> {
        std::size_t at = body.find("\n" + name + " ");
        if (at == std::string::npos) return std::nullopt;
        std::size_t from = at + name.size() + 2;
        std::size_t end = body.find('\n', from);
        double v = std::strtod(body.substr(from, std::min<std::size_t>(end - from, 40)).c_str(), nullptr);
        if (!(v >= 0 && v < 1e12)) return std::nullopt;
        return static_cast<std::int64_t>(v);
      };
      if (auto v = value("etcd_debugging_mvcc_watch_stream_total")) out["watch_streams"] = *v;
      if (auto v = value("etcd_debugging_mvcc_watcher_total")) out["watchers"] = *v;
      if (out.size() != 2) out = json::object();
    } catch (const std::exception& e) {
      say(std::string("  (etcd's metrics could not be read: ") + e.what() + ")");
    }
    return out;
  }

  json register_servers() {
    say("\n== Registering " + std::to_string(o_.servers) + " servers (" + std::to_string(o_.registrars) +
        " processes, one lease each, TTL " + std::to_string(o_.ttl) + " s)");
    monitor_.begin({{"etcd", {etcd_->process().pid()}}});
    const std::int64_t t0 = now_ns();
    std::int64_t first = 0;
    for (std::int64_t r = 0; r < o_.registrars; ++r) {
      std::int64_t n = o_.servers / o_.registrars + (r < o_.servers % o_.registrars ? 1 : 0);
      registrars_.push_back(std::make_unique<Worker>(
          "registrar " + std::to_string(r),
          worker_argv("register", {"endpoint=" + etcd_->endpoint(), "prefix=" + prefix(), "first=" + std::to_string(first),
                                   "servers=" + std::to_string(n), "ttl=" + std::to_string(o_.ttl)}),
          dir_ / ("registrar-" + std::to_string(r) + ".log")));
      registrars_.back()->leases = n;
      first += n;
    }
    auto until = deadline_in(300s);
    for (auto& w : registrars_) w->expect("ready", until);
    const double seconds = ms(now_ns() - t0) / 1000;
    json cost = monitor_.end();
    std::int64_t listed = static_cast<std::int64_t>(kv_->get_prefix(prefix()).kvs.size());
    if (listed != o_.servers) {
      throw std::runtime_error("etcd lists " + std::to_string(listed) + " servers, not " + std::to_string(o_.servers));
    }
    // etcd at rest with every lease kept alive.
    monitor_.begin({{"etcd", {etcd_->process().pid()}}});
    pause_until(Clock::now() + (o_.quick ? 2s : 10s));
    json rest = monitor_.end();
    std::int64_t db = 0;
    std::error_code ec;
    auto size = std::filesystem::file_size(dir_ / "etcd" / "member" / "snap" / "db", ec);
    if (!ec) db = static_cast<std::int64_t>(size);
    say("registered in " + std::to_string(static_cast<int>(seconds)) + " s; " + cost_line(cost, "etcd"));
    say("at rest (keepalives only): " + cost_line(rest, "etcd") + "; db file " + std::to_string(db / 1024 / 1024) + " MB");
    return {{"seconds", seconds}, {"cost", cost}, {"at_rest", rest}, {"db_bytes", db}};
  }

  std::int64_t change(std::int64_t index, bool add) {
    std::string address = server_address(index);
    if (add) return kv_->put(prefix() + address, server_record(address));
    std::int64_t revision = 0;
    kv_->remove(prefix() + address, &revision);
    return revision;
  }

  json clients() {
    json out;
    for (const char* algorithm : {"ketama", "maglev"}) {
      say(std::string("\n== One full Cluster (") + algorithm + ") at " + std::to_string(o_.servers) + " servers");
      Worker w(std::string("client ") + algorithm,
               worker_argv("client", {"endpoint=" + etcd_->endpoint(), "context=scale", "algorithm=" + std::string(algorithm),
                                      "expect=" + std::to_string(o_.servers)}),
               dir_ / (std::string("client-") + algorithm + ".log"));
      auto ready = w.expect("ready", deadline_in(180s));
      if (ready.size() != 6) throw std::runtime_error(w.name() + ": a short 'ready'");
      const std::int64_t startup = parse_int(ready[1], "startup", 0, INT64_MAX);
      const std::int64_t startup_cpu = parse_int(ready[2], "startup cpu", 0, INT64_MAX);
      const std::int64_t rss_ready = parse_int(ready[4], "rss", 0, INT64_MAX);
      const std::int64_t idle_rate = parse_int(ready[5], "idle cpu", 0, INT64_MAX);
      w.send("begin");
      w.expect("begun", deadline_in(30s));
      std::int64_t last = 0;
      const auto start = Clock::now();
      const std::int64_t base = 6'000'000;
      for (std::int64_t i = 0; i < o_.client_changes; ++i) {
        pause_until(start + std::chrono::milliseconds(i * 1000 / o_.churn_rate));
        last = change(base + i / 2, i % 2 == 0);
      }
      if (o_.client_changes % 2 == 1) last = change(base + o_.client_changes / 2, false);
      const std::int64_t writes = o_.client_changes + o_.client_changes % 2;
      w.send("finish " + std::to_string(last));
      auto result = w.expect("result", deadline_in(180s));
      if (result.size() != 7) throw std::runtime_error(w.name() + ": a short 'result'");
      const std::int64_t cpu = parse_int(result[1], "cpu", 0, INT64_MAX);
      const std::int64_t wall = parse_int(result[2], "wall", 0, INT64_MAX);
      const std::int64_t views = parse_int(result[3], "views", 0, INT64_MAX);
      const std::int64_t rss = parse_int(result[4], "rss", 0, INT64_MAX);
      const std::int64_t hwm = parse_int(result[5], "hwm", 0, INT64_MAX);
      const bool caught_up = result[6] == "1";
      check_exit(w);
      const double idle_ms = static_cast<double>(idle_rate) * (static_cast<double>(wall) / 1e9) / 1e6;
      const double net_ms = std::max(0.0, ms(cpu) - idle_ms);
      json r = {{"startup_ms", ms(startup)},
                {"startup_cpu_ms", ms(startup_cpu)},
                {"rss_mb_ready", rss_ready / 1024.0},
                {"rss_mb", rss / 1024.0},
                {"peak_rss_mb", hwm / 1024.0},
                {"changes", writes},
                {"views", views},
                {"cpu_ms_total", ms(cpu)},
                {"cpu_ms_idle_share", idle_ms},
                {"cpu_ms_per_change", net_ms / static_cast<double>(writes)},
                {"cpu_ms_per_view", views > 0 ? net_ms / static_cast<double>(views) : 0.0},
                {"caught_up", caught_up}};
      char buf[400];
      std::snprintf(buf, sizeof buf,
                    "start-up (list %lld + build) %.0f ms wall, %.0f ms CPU; RSS %.1f MB (peak %.1f MB); "
                    "%lld changes -> %lld views, CPU %.2f ms per change (%.2f ms per view; idle share %.0f ms removed)",
                    static_cast<long long>(o_.servers), ms(startup), ms(startup_cpu), rss / 1024.0, hwm / 1024.0,
                    static_cast<long long>(writes), static_cast<long long>(views),
                    r["cpu_ms_per_change"].get<double>(), r["cpu_ms_per_view"].get<double>(), idle_ms);
      say(buf);
      if (!caught_up) say("  the Cluster did not reach the last revision in time");
      out[algorithm] = r;
    }
    return out;
  }

  json end_to_end() {
    const std::string context = "scale-e2e";
    const std::string e2e_prefix = "/frodo/" + context + "/servers/";
    say("\n== End to end: " + std::to_string(o_.clusters) + " full Clusters (" + std::to_string(o_.cluster_procs) +
        " processes) over " + std::to_string(o_.e2e_servers) + " servers; add_server -> visible in all");
    for (std::int64_t i = 0; i < o_.e2e_servers; ++i) {
      std::string address = server_address(6'500'000 + i);
      kv_->put(e2e_prefix + address, server_record(address));
    }
    monitor_.begin({{"etcd", {etcd_->process().pid()}}});
    std::vector<std::unique_ptr<Worker>> workers;
    for (std::int64_t p = 0; p < o_.cluster_procs; ++p) {
      std::int64_t n = o_.clusters / o_.cluster_procs + (p < o_.clusters % o_.cluster_procs ? 1 : 0);
      workers.push_back(std::make_unique<Worker>(
          "clusters " + std::to_string(p),
          worker_argv("clusters", {"endpoint=" + etcd_->endpoint(), "context=" + context, "algorithm=ketama",
                                   "count=" + std::to_string(n), "probe_prefix=127.113."}),
          dir_ / ("clusters-" + std::to_string(p) + ".log")));
    }
    std::int64_t worker_rss = 0;
    for (auto& w : workers) {
      auto ready = w->expect("ready", deadline_in(300s));
      if (ready.size() == 3) worker_rss += parse_int(ready[2], "rss", 0, INT64_MAX);
    }
    ClusterOptions options;
    options.context = context;
    options.etcd = EtcdOptions{.endpoints = {etcd_->endpoint()}, .call_timeout = 30s};
    options.lease_ttl = 30s;
    Cluster writer(options);
    std::map<std::string, std::int64_t> sent;
    std::vector<double> returned;
    for (std::int64_t k = 0; k < o_.e2e_probes; ++k) {
      std::string address = server_address(7'000'000 + k);  // 127.113.x.y
      const std::int64_t t = now_ns();
      writer.add_server(address);
      returned.push_back(ms(now_ns() - t));
      sent[address] = t;
      pause_until(Clock::now() + 300ms);
    }
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> seen;
    std::int64_t incomplete = 0;
    for (auto& w : workers) w->send("finish " + std::to_string(o_.e2e_probes) + " 60000");
    for (auto& w : workers) {
      for (;;) {
        auto line = w->next(deadline_in(120s));
        if (!line) throw std::runtime_error(w->name() + " exited; its log ends:\n" + w->log_tail());
        if ((*line)[0] == "probe" && line->size() == 4) {
          auto& s = seen[(*line)[1]];
          s.first += parse_int((*line)[2], "probe count", 0, INT64_MAX);
          s.second = std::max(s.second, parse_int((*line)[3], "probe time", 0, INT64_MAX));
        } else if ((*line)[0] == "done" && line->size() == 3) {
          incomplete += parse_int((*line)[2], "incomplete", 0, INT64_MAX);
          break;
        } else {
          throw std::runtime_error(w->name() + ": unexpected '" + (*line)[0] + "'");
        }
      }
    }
    json cost = monitor_.end();
    for (auto& w : workers) check_exit(*w);
    writer.close();
    std::vector<double> latency;
    std::int64_t missing = 0;
    for (auto& [address, t] : sent) {
      auto it = seen.find(address);
      if (it == seen.end() || it->second.first != o_.clusters) {
        ++missing;
        continue;
      }
      latency.push_back(ms(it->second.second - t));
    }
    json out = {{"visible_in_all_ms", summary(latency)},
                {"add_server_returned_ms", summary(returned)},
                {"missing", missing},
                {"incomplete_clusters", incomplete},
                {"clusters_rss_mb_per_instance", worker_rss / 1024.0 / static_cast<double>(o_.clusters)},
                {"cost", cost}};
    say("add_server -> visible in all " + std::to_string(o_.clusters) + ": " + fmt(out["visible_in_all_ms"]));
    say("add_server returned (own view): " + fmt(out["add_server_returned_ms"]));
    if (missing > 0) say("  " + std::to_string(missing) + " probes were not seen by every Cluster");
    return out;
  }

  json fanout(std::int64_t proxies) {
    const std::string how = proxies == 0 ? "directly" : "through " + std::to_string(proxies) + " gRPC prox" +
                                                            (proxies == 1 ? "y" : "ies");
    say("\n== Fan-out " + how + ": " + std::to_string(o_.streams) + " watch streams in " + std::to_string(o_.watch_procs) +
        " processes");
    std::vector<std::unique_ptr<process::GrpcProxy>> proxy_list;
    std::vector<std::string> endpoints;
    std::vector<int> proxy_pids;
    for (std::int64_t p = 0; p < proxies; ++p) {
      std::string tag = "proxy-" + std::to_string(proxies) + "-" + std::to_string(p);
      proxy_list.push_back(std::make_unique<process::GrpcProxy>(std::vector<std::string>{etcd_->endpoint()},
                                                                dir_ / tag, dir_ / (tag + ".log")));
      endpoints.push_back(proxy_list.back()->endpoint());
      proxy_pids.push_back(proxy_list.back()->process().pid());
    }
    for (std::size_t i = 0; i < proxy_list.size(); ++i) {
      auto& p = proxy_list[i];
      auto until = deadline_in(30s);
      while (!process::accepts_connections(p->port())) {
        if (!p->process().running()) {
          throw std::runtime_error("a gRPC proxy exited; its log ends:\n" +
                                   file_tail((dir_ / ("proxy-" + std::to_string(proxies) + "-" + std::to_string(i) + ".log")).string()));
        }
        if (Clock::now() > until) throw std::runtime_error("a gRPC proxy did not listen within 30 s");
        pause_until(Clock::now() + 50ms);
      }
    }
    if (endpoints.empty()) endpoints.push_back(etcd_->endpoint());
    std::string endpoint_list;
    for (auto& e : endpoints) endpoint_list += (endpoint_list.empty() ? "" : ",") + e;

    std::vector<std::unique_ptr<Worker>> workers;
    for (std::int64_t w = 0; w < o_.watch_procs; ++w) {
      std::int64_t n = o_.streams / o_.watch_procs + (w < o_.streams % o_.watch_procs ? 1 : 0);
      // Each worker starts its streams on a different proxy first, so they spread evenly.
      std::vector<std::string> rotated = endpoints;
      std::rotate(rotated.begin(), rotated.begin() + static_cast<std::ptrdiff_t>(w % rotated.size()), rotated.end());
      std::string list;
      for (auto& e : rotated) list += (list.empty() ? "" : ",") + e;
      workers.push_back(std::make_unique<Worker>(
          "watch " + std::to_string(w),
          worker_argv("watch", {"endpoints=" + list, "prefix=" + prefix(), "streams=" + std::to_string(n),
                                "expect=" + std::to_string(o_.servers), "give_up_s=" + std::to_string(storm_give_up_s())}),
          dir_ / ("watch-" + std::to_string(proxies) + "-" + std::to_string(w) + ".log")));
    }
    for (auto& w : workers) w->expect("armed", deadline_in(120s));
    std::map<std::string, std::vector<int>> groups{{"etcd", {etcd_->process().pid()}}};
    if (!proxy_pids.empty()) groups["proxies"] = proxy_pids;
    for (auto& w : workers) groups["watchers"].push_back(w->pid());

    // The start-up storm: every stream lists and watches at once.
    monitor_.begin(groups);
    const std::int64_t go = now_ns();
    for (auto& w : workers) w->send("go");
    std::int64_t last_ready = go, failures = 0, min_listed = o_.servers, max_listed = 0, list_retries = 0;
    std::string note;
    for (auto& w : workers) {
      auto ready = w->expect_after_notes("ready", deadline_in(std::chrono::seconds(storm_give_up_s() + 60)), note);
      if (ready.size() != 6) throw std::runtime_error(w->name() + ": a short 'ready'");
      list_retries += parse_int(ready[5], "list retries", 0, INT64_MAX);
      last_ready = std::max(last_ready, parse_int(ready[1], "ready time", 0, INT64_MAX));
      failures += parse_int(ready[2], "failures", 0, INT64_MAX);
      min_listed = std::min(min_listed, parse_int(ready[3], "listed", 0, INT64_MAX));
      max_listed = std::max(max_listed, parse_int(ready[4], "listed", 0, INT64_MAX));
    }
    json storm_cost = monitor_.end();
    const double storm_ms = ms(last_ready - go);
    say("start-up storm: " + std::to_string(o_.streams - failures) + " of " + std::to_string(o_.streams) +
        " streams listed " + std::to_string(min_listed) + " records and watching in " +
        std::to_string(static_cast<int>(storm_ms)) + " ms (" + std::to_string(list_retries) + " listings retried)");
    say("  " + cost_line(storm_cost, "etcd") + (proxies ? "; " + cost_line(storm_cost, "proxies") : "") + "; " +
        cost_line(storm_cost, "watchers"));
    if (!note.empty()) say("  a failed listing said: " + note);
    if (failures > 0) say("  " + std::to_string(failures) + " streams never started (listing kept failing)");
    if (min_listed != o_.servers || max_listed != o_.servers) {
      say("  a stream listed " + std::to_string(min_listed) + ".." + std::to_string(max_listed) + " records, not " +
          std::to_string(o_.servers));
    }

    // Idle streams must stay up (frodo's watcher probes a silent stream with a progress request).
    if (o_.idle_seconds > 0) pause_until(Clock::now() + std::chrono::seconds(o_.idle_seconds));

    // Single puts, far enough apart to be timed alone.
    struct Sent {
      std::int64_t revision, when;
      bool churn;
    };
    std::vector<Sent> sent;
    monitor_.begin(groups);
    const std::int64_t probe_base = 5'000'000 + proxies * 100'000;
    for (std::int64_t q = 0; q < o_.probes; ++q) {
      const std::int64_t t = now_ns();
      sent.push_back({change(probe_base + q, true), t, false});
      pause_until(Clock::now() + (o_.quick ? 200ms : 500ms));
    }
    json probe_cost = monitor_.end();
    // Every watch is established by now (each stream has delivered a put).
    json etcd_watch = etcd_watch_metrics();
    if (etcd_watch.contains("watch_streams")) {
      say("  etcd holds " + std::to_string(etcd_watch["watch_streams"].get<std::int64_t>()) + " watch streams, " +
          std::to_string(etcd_watch["watchers"].get<std::int64_t>()) + " watchers");
    }

    // Sustained churn: joins and leaves at a fixed rate.
    monitor_.begin(groups);
    const std::int64_t churn_n = o_.churn_rate * o_.churn_seconds;
    const std::int64_t churn_base = probe_base + 50'000;
    const auto churn_start = Clock::now();
    std::int64_t late = 0;
    for (std::int64_t i = 0; i < churn_n; ++i) {
      auto due = churn_start + std::chrono::microseconds(i * 1'000'000 / o_.churn_rate);
      if (Clock::now() > due + 50ms) ++late;
      pause_until(due);
      const std::int64_t t = now_ns();
      sent.push_back({change(churn_base + i / 2, i % 2 == 0), t, true});
    }
    json churn_cost = monitor_.end();

    // Every stream must have every event.
    std::map<std::int64_t, std::array<std::int64_t, 3>> got;  // revision -> count, first, last
    std::int64_t behind = 0, errors = 0, restarts = 0, resyncs = 0, duplicates = 0;
    const std::int64_t last_revision = sent.back().revision;
    for (auto& w : workers) w->send("finish " + std::to_string(last_revision) + " 60000");
    for (auto& w : workers) {
      for (;;) {
        auto line = w->next(deadline_in(120s));
        if (!line) throw std::runtime_error(w->name() + " exited; its log ends:\n" + w->log_tail());
        const auto& f = *line;
        if (f[0] == "rev" && f.size() == 5) {
          auto r = parse_int(f[1], "revision", 0, INT64_MAX);
          auto [it, fresh] = got.try_emplace(r, std::array<std::int64_t, 3>{0, INT64_MAX, 0});
          it->second[0] += parse_int(f[2], "count", 0, INT64_MAX);
          it->second[1] = std::min(it->second[1], parse_int(f[3], "first", 0, INT64_MAX));
          it->second[2] = std::max(it->second[2], parse_int(f[4], "last", 0, INT64_MAX));
        } else if (f[0] == "done" && f.size() == 7) {
          behind += parse_int(f[2], "behind", 0, INT64_MAX);
          errors += parse_int(f[3], "errors", 0, INT64_MAX);
          restarts += parse_int(f[4], "restarts", 0, INT64_MAX);
          resyncs += parse_int(f[5], "resyncs", 0, INT64_MAX);
          duplicates += parse_int(f[6], "duplicates", 0, INT64_MAX);
          break;
        } else {
          throw std::runtime_error(w->name() + ": unexpected '" + f[0] + "'");
        }
      }
    }
    for (auto& w : workers) check_exit(*w);
    proxy_list.clear();
    // Leave the context as it was for the next configuration.
    for (std::int64_t q = 0; q < o_.probes; ++q) change(probe_base + q, false);
    if (churn_n % 2 == 1) change(churn_base + churn_n / 2, false);

    std::vector<double> probe_all, probe_first, churn_all;
    std::int64_t incomplete = 0;
    for (const Sent& s : sent) {
      auto it = got.find(s.revision);
      if (it == got.end() || it->second[0] != o_.streams) {
        ++incomplete;
        continue;
      }
      (s.churn ? churn_all : probe_all).push_back(ms(it->second[2] - s.when));
      if (!s.churn) probe_first.push_back(ms(it->second[1] - s.when));
    }
    json out = {{"proxies", proxies},
                {"storm",
                 {{"all_ready_ms", storm_ms},
                  {"records_listed_per_stream", min_listed},
                  {"streams_failed", failures},
                  {"listings_retried", list_retries},
                  {"cost", storm_cost}}},
                {"etcd_watch_metrics", etcd_watch},
                {"put_to_all_streams_ms", summary(probe_all)},
                {"put_to_first_stream_ms", summary(probe_first)},
                {"probe_cost", probe_cost},
                {"churn",
                 {{"rate_per_s", o_.churn_rate},
                  {"seconds", o_.churn_seconds},
                  {"changes", churn_n},
                  {"writes_late", late},
                  {"put_to_all_streams_ms", summary(churn_all)},
                  {"cost", churn_cost}}},
                {"events_not_on_every_stream", incomplete},
                {"streams_behind_at_end", behind},
                {"stream_errors", errors},
                {"stream_restarts", restarts},
                {"resyncs", resyncs},
                {"duplicates", duplicates}};
    say("one put -> all " + std::to_string(o_.streams) + " streams: " + fmt(out["put_to_all_streams_ms"]) +
        "; -> the first stream: " + fmt(out["put_to_first_stream_ms"]));
    say("  while idle-ish: " + cost_line(probe_cost, "etcd") + (proxies ? "; " + cost_line(probe_cost, "proxies") : ""));
    say("churn " + std::to_string(o_.churn_rate) + "/s for " + std::to_string(o_.churn_seconds) +
        " s -> all streams: " + fmt(out["churn"]["put_to_all_streams_ms"]) + "; " + cost_line(churn_cost, "etcd") +
        (proxies ? "; " + cost_line(churn_cost, "proxies") : ""));
    say("every stream saw every event: " + std::string(incomplete == 0 && behind == 0 ? "yes" : "NO") + " (" +
        std::to_string(incomplete) + " events missing somewhere, " + std::to_string(behind) + " streams behind, " +
        std::to_string(restarts) + " stream restarts, " + std::to_string(errors) + " stream errors, " +
        std::to_string(duplicates) + " duplicates, " + std::to_string(resyncs) + " resyncs)");
    return out;
  }

  json keepalive() {
    std::int64_t sent = 0, answered = 0, lost = 0, reopened = 0;
    double rate = 0;
    for (auto& w : registrars_) w->send("finish");
    for (auto& w : registrars_) {
      auto f = w->expect("keepalive", deadline_in(60s));
      if (f.size() != 6) throw std::runtime_error(w->name() + ": a short 'keepalive'");
      reopened += parse_int(f[5], "reopened", 0, INT64_MAX);
      std::int64_t s = parse_int(f[1], "sent", 0, INT64_MAX);
      sent += s;
      answered += parse_int(f[2], "answered", 0, INT64_MAX);
      lost += parse_int(f[3], "lost", 0, INT64_MAX);
      std::int64_t elapsed = parse_int(f[4], "ms", 1, INT64_MAX);
      // Each registrar sends its first round at once, then one every TTL/3: the rate is over
      // the rounds after the first.
      const std::int64_t leases = w->leases;
      rate += static_cast<double>(std::max<std::int64_t>(0, s - leases)) / (static_cast<double>(elapsed) / 1000.0);
    }
    for (auto& w : registrars_) check_exit(*w);
    const double expected = static_cast<double>(o_.servers) / (static_cast<double>(o_.ttl) / 3.0);
    char buf[300];
    std::snprintf(buf, sizeof buf,
                  "\n== Keepalives: %lld leases at TTL %lld s: %.0f requests/s measured (%.0f expected), %lld sent, "
                  "%lld answered, %lld lost (lease gone), %lld keepalive streams reopened",
                  static_cast<long long>(o_.servers), static_cast<long long>(o_.ttl), rate, expected,
                  static_cast<long long>(sent), static_cast<long long>(answered), static_cast<long long>(lost),
                  static_cast<long long>(reopened));
    say(buf);
    return {{"leases", o_.servers},     {"ttl_s", o_.ttl},   {"requests_per_s", rate}, {"expected_per_s", expected},
            {"sent", sent},             {"answered", answered}, {"lost", lost}, {"streams_reopened", reopened},
            {"projection_ttl5_per_s", static_cast<double>(o_.servers) / (5.0 / 3.0)}};
  }

  json targets(const json& r) {
    json t = json::array();
    auto add = [&](const std::string& what, double value, double limit, const char* unit) {
      bool met = value <= limit;
      t.push_back({{"target", what}, {"value", value}, {"limit", limit}, {"met", met}});
      char buf[300];
      std::snprintf(buf, sizeof buf, "  %-62s %9.2f %s (target <= %.0f %s): %s", what.c_str(), value, unit, limit, unit,
                    met ? "met" : "NOT met");
      say(buf);
    };
    auto info = [&](const std::string& what, double value, const char* unit) {
      char buf[300];
      std::snprintf(buf, sizeof buf, "  %-62s %9.2f %s (no target)", what.c_str(), value, unit);
      say(buf);
    };
    say("\n== Against the targets (this machine, " + std::to_string(std::thread::hardware_concurrency()) +
        " CPUs, load before " + r["machine"]["loadavg_before"].get<std::string>() + ", after " +
        r["machine"]["loadavg_after"].get<std::string>() + ")" + (o_.quick ? " -- --quick sizes: not the targets' sizes" : ""));
    if (r.contains("fanout")) {
      for (const auto& f : r["fanout"]) {
        std::string how = f["proxies"].get<int>() == 0 ? "direct" : std::to_string(f["proxies"].get<int>()) + " proxies";
        if (f["put_to_all_streams_ms"].contains("p99")) {
          add("fan-out p99, one put -> " + std::to_string(o_.streams) + " streams (" + how + ")",
              f["put_to_all_streams_ms"]["p99"].get<double>(), 250, "ms");
        }
        if (f["churn"]["put_to_all_streams_ms"].contains("p99")) {
          add("fan-out p99 under churn (" + how + ")", f["churn"]["put_to_all_streams_ms"]["p99"].get<double>(), 250, "ms");
        }
        add("start-up storm, " + std::to_string(o_.streams) + " x " + std::to_string(o_.servers) + " records (" + how + ")",
            f["storm"]["all_ready_ms"].get<double>() / 1000.0, 30, "s");
      }
    }
    if (r.contains("client")) {
      add("CPU per change, one Cluster at " + std::to_string(o_.servers) + " servers (ketama)",
          r["client"]["ketama"]["cpu_ms_per_change"].get<double>(), 10, "ms");
      info("CPU per change, one Cluster (maglev)", r["client"]["maglev"]["cpu_ms_per_change"].get<double>(), "ms");
      add("RSS of one Cluster at " + std::to_string(o_.servers) + " servers (ketama)",
          r["client"]["ketama"]["peak_rss_mb"].get<double>(), 64, "MB");
      add("RSS of one Cluster (maglev)", r["client"]["maglev"]["peak_rss_mb"].get<double>(), 64, "MB");
    }
    return t;
  }

  Options o_;
  process::TempDir dir_;
  Monitor monitor_;
  std::optional<process::LocalEtcd> etcd_;
  std::shared_ptr<etcd::Connection> connection_;
  std::optional<etcd::Kv> kv_;
  std::vector<std::unique_ptr<Worker>> registrars_;
  std::vector<std::string> worker_failures_;
};

// The headline figures as Markdown tables, as docs/scale.md shows them.
std::string markdown(const json& r) {
  std::ostringstream md;
  char buf[512];
  auto num = [](const json& v, const char* fmt) {
    char b[64];
    if (!v.is_number()) return std::string("-");
    std::snprintf(b, sizeof b, fmt, v.get<double>());
    return std::string(b);
  };
  auto dist = [&](const json& d, double scale = 1.0) {
    if (!d.contains("p50")) return std::string("-");
    std::snprintf(buf, sizeof buf, "%.0f / %.0f / %.0f", d["p50"].get<double>() * scale, d["p99"].get<double>() * scale,
                  d["max"].get<double>() * scale);
    return std::string(buf);
  };
  md << "Load average before / after the run: " << r["machine"]["loadavg_before"].get<std::string>() << " / "
     << r["machine"]["loadavg_after"].get<std::string>() << ".\n\n";
  if (r.contains("fanout")) {
    const auto& f = r["fanout"];
    md << "| fan-out, " << r["sizes"]["streams"].get<int>() << " streams, " << r["sizes"]["servers"].get<int>()
       << " servers |";
    for (const auto& c : f) {
      int p = c["proxies"].get<int>();
      md << " " << (p == 0 ? std::string("direct") : std::to_string(p) + (p == 1 ? " proxy" : " proxies")) << " |";
    }
    md << "\n|---|";
    for (std::size_t i = 0; i < f.size(); ++i) md << "---|";
    md << "\n";
    auto row = [&](const std::string& name, const std::function<std::string(const json&)>& cell) {
      md << "| " << name << " |";
      for (const auto& c : f) md << " " << cell(c) << " |";
      md << "\n";
    };
    auto cost = [](const json& c, const char* part, const char* who, const char* field) -> json {
      const json& w = part[0] ? c[part]["cost"] : c["probe_cost"];
      return w.contains(who) ? w[who][field] : json();
    };
    row("start-up storm: all streams listed and watching (s)",
        [&](const json& c) { return num(c["storm"]["all_ready_ms"].get<double>() / 1000.0, "%.1f"); });
    row("storm: etcd CPU (s) / peak RSS (MB)", [&](const json& c) {
      return num(cost(c, "storm", "etcd", "cpu_seconds"), "%.1f") + " / " + num(cost(c, "storm", "etcd", "peak_rss_mb"), "%.0f");
    });
    row("storm: proxies CPU (s) / peak RSS (MB)", [&](const json& c) {
      return num(cost(c, "storm", "proxies", "cpu_seconds"), "%.1f") + " / " +
             num(cost(c, "storm", "proxies", "peak_rss_mb"), "%.0f");
    });
    row("storm: listings retried after a timeout", [&](const json& c) { return num(c["storm"]["listings_retried"], "%.0f"); });
    row("watch streams / watchers etcd holds", [&](const json& c) {
      const json& m = c["etcd_watch_metrics"];
      return m.contains("watchers") ? num(m["watch_streams"], "%.0f") + " / " + num(m["watchers"], "%.0f") : std::string("-");
    });
    row("one put -> every stream, p50 / p99 / max (ms)", [&](const json& c) { return dist(c["put_to_all_streams_ms"]); });
    row("one put -> the first stream, p50 / p99 / max (ms)", [&](const json& c) { return dist(c["put_to_first_stream_ms"]); });
    row("churn 10/s: put -> every stream, p50 / p99 / max (ms)",
        [&](const json& c) { return dist(c["churn"]["put_to_all_streams_ms"]); });
    row("churn: etcd CPU (cores) / RSS (MB)", [&](const json& c) {
      return num(cost(c, "churn", "etcd", "cpu_cores"), "%.2f") + " / " + num(cost(c, "churn", "etcd", "rss_mb"), "%.0f");
    });
    row("churn: proxies CPU (cores) / RSS (MB)", [&](const json& c) {
      return num(cost(c, "churn", "proxies", "cpu_cores"), "%.2f") + " / " + num(cost(c, "churn", "proxies", "rss_mb"), "%.0f");
    });
    row("churn: etcd + proxies CPU per delivered event (us)", [&](const json& c) {
      double deliveries = c["churn"]["changes"].get<double>() * r["sizes"]["streams"].get<double>();
      json e = cost(c, "churn", "etcd", "cpu_seconds"), p = cost(c, "churn", "proxies", "cpu_seconds");
      double us = (e.is_number() ? e.get<double>() : 0) + (p.is_number() ? p.get<double>() : 0);
      return deliveries > 0 ? num(us * 1e6 / deliveries, "%.0f") : std::string("-");
    });
    row("churn: watching processes' CPU per delivered event (us)", [&](const json& c) {
      double deliveries = c["churn"]["changes"].get<double>() * r["sizes"]["streams"].get<double>();
      json w = cost(c, "churn", "watchers", "cpu_seconds");
      return deliveries > 0 && w.is_number() ? num(w.get<double>() * 1e6 / deliveries, "%.0f") : std::string("-");
    });
    row("every stream saw every event once (restarts)", [&](const json& c) {
      bool ok = c["events_not_on_every_stream"].get<int>() == 0 && c["streams_behind_at_end"].get<int>() == 0 &&
                c["duplicates"].get<int>() == 0;
      return std::string(ok ? "yes" : "**no**") + " (" + std::to_string(c["stream_restarts"].get<int>()) + ")";
    });
    md << "\n";
  }
  if (r.contains("client")) {
    md << "| one full Cluster at " << r["sizes"]["servers"].get<int>() << " servers | ketama | maglev |\n|---|---|---|\n";
    const auto& k = r["client"]["ketama"];
    const auto& m = r["client"]["maglev"];
    auto both = [&](const std::string& name, const char* field, const char* fmt) {
      md << "| " << name << " | " << num(k[field], fmt) << " | " << num(m[field], fmt) << " |\n";
    };
    both("start-up: list + build, wall (ms)", "startup_ms", "%.0f");
    both("start-up CPU (ms)", "startup_cpu_ms", "%.0f");
    both("CPU per membership change (ms)", "cpu_ms_per_change", "%.1f");
    both("peak RSS (MB)", "peak_rss_mb", "%.1f");
    md << "\n";
  }
  md << "| other figures | |\n|---|---|\n";
  if (r.contains("e2e")) {
    std::snprintf(buf, sizeof buf, "| `add_server` -> visible in all %d Clusters (%d servers), p50 / p99 / max (ms) | %s |\n",
                  r["sizes"]["clusters"].get<int>(), r["sizes"]["e2e_servers"].get<int>(),
                  dist(r["e2e"]["visible_in_all_ms"]).c_str());
    md << buf;
  }
  const auto& reg = r["register"];
  std::snprintf(buf, sizeof buf, "| registering %d servers on their own leases (s) | %.0f |\n", r["sizes"]["servers"].get<int>(),
                reg["seconds"].get<double>());
  md << buf;
  std::snprintf(buf, sizeof buf, "| etcd at rest with them: CPU (cores) / RSS (MB) / db file (MB) | %.3f / %.0f / %.1f |\n",
                reg["at_rest"]["etcd"]["cpu_cores"].get<double>(), reg["at_rest"]["etcd"]["rss_mb"].get<double>(),
                reg["db_bytes"].get<double>() / 1048576.0);
  md << buf;
  const auto& ka = r["keepalive"];
  std::snprintf(buf, sizeof buf,
                "| keepalives: %d leases at TTL %d s (requests/s measured; lost; streams reopened) | %.0f; %d; %d |\n",
                ka["leases"].get<int>(), ka["ttl_s"].get<int>(), ka["requests_per_s"].get<double>(), ka["lost"].get<int>(),
                ka["streams_reopened"].get<int>());
  md << buf;
  return md.str();
}

// Whether every stream and every Cluster saw every event: what the smoke test asserts.
bool complete(const json& r) {
  bool ok = true;
  if (r.contains("fanout")) {
    for (const auto& f : r["fanout"]) {
      ok = ok && f["events_not_on_every_stream"].get<int>() == 0 && f["streams_behind_at_end"].get<int>() == 0 &&
           f["storm"]["streams_failed"].get<int>() == 0 && f["storm"]["records_listed_per_stream"] == r["sizes"]["servers"] &&
           f["duplicates"].get<int>() == 0 && f["resyncs"].get<int>() == 0;
    }
  }
  if (r.contains("e2e")) ok = ok && r["e2e"]["missing"].get<int>() == 0;
  if (r.contains("client")) {
    ok = ok && r["client"]["ketama"]["caught_up"].get<bool>() && r["client"]["maglev"]["caught_up"].get<bool>();
  }
  ok = ok && r["keepalive"]["lost"].get<int>() == 0 && r["worker_failures"].empty();
  return ok;
}

int coordinate(int argc, char** argv) {
  Options options = parse_options(argc, argv);
  g_overall_deadline = Clock::now() + std::chrono::minutes(options.max_minutes);
  // Signals are taken by a thread of ours, before any other thread exists (so they inherit
  // the mask): Ctrl-C makes every wait give up and the bench unwind, stopping what it started.
  process::TerminationSignals signals;
  std::atomic<bool> done{false};
  std::thread signal_thread([&]() noexcept {
    try {
      while (!done.load()) {
        if (int s = signals.wait_for(200ms); s != 0) {
          std::fprintf(stderr, "frodo_scale_bench: signal %d, stopping everything it started\n", s);
          set_interrupted();
        }
      }
    } catch (...) {
      set_interrupted();
    }
  });
  int rc = 0;
  try {
    json report;
    {
      Bench bench(options);
      report = bench.run();
    }
    std::ofstream out(options.json_path);
    out << report.dump(2) << "\n";
    if (!out) throw std::runtime_error("cannot write " + options.json_path);
    say("\nJSON report: " + options.json_path);
    if (!options.markdown_path.empty()) {
      std::ofstream md(options.markdown_path);
      md << markdown(report);
      if (!md) throw std::runtime_error("cannot write " + options.markdown_path);
      say("Markdown tables: " + options.markdown_path);
    }
    if (!complete(report)) {
      say("FAILED: a stream, a Cluster or a lease missed something (see above)");
      rc = 1;
    }
  } catch (const Interrupted&) {
    std::fprintf(stderr, "frodo_scale_bench: interrupted; everything it started has been stopped\n");
    rc = 130;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "frodo_scale_bench: %s\n", e.what());
    rc = 1;
  }
  done = true;
  signal_thread.join();
  return rc;
}

}  // namespace
}  // namespace frodo::scale

int main(int argc, char** argv) {
  try {
    if (argc >= 2 && std::string(argv[1]) == "worker") return frodo::scale::run_worker(argc, argv);
    return frodo::scale::coordinate(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "frodo_scale_bench: %s\n", e.what());
    return 2;
  } catch (...) {
    std::fprintf(stderr, "frodo_scale_bench: a non-standard exception\n");
    return 2;
  }
}
