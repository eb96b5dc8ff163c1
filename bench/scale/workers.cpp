// The scale bench's worker processes, started by the coordinator (scale_bench.cpp) from its
// own executable: `frodo_scale_bench worker <mode> key=value...`. Each takes commands on
// stdin and answers on stdout, one line each (protocol in scale_bench.cpp); at the end of
// stdin it stops. Diagnostics go to stderr (a log file in the bench's temp dir).
#include "workers.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "etcd/kv.hpp"
#include "etcd/watcher.hpp"
#include "frodo/cluster.hpp"

namespace frodo::scale {

namespace {

using namespace std::chrono_literals;

void answer(const std::string& line) { write_all(1, line + "\n"); }

// The next command on stdin; nullopt when the coordinator closed it (or went away).
std::optional<std::vector<std::string>> command(LineReader& in) {
  auto line = in.read_blocking();
  if (!line) return std::nullopt;
  std::vector<std::string> out;
  for (std::string_view f : fields(*line)) out.emplace_back(f);
  if (out.empty()) throw std::runtime_error("an empty command");
  return out;
}

std::vector<std::string> expect_command(LineReader& in, const std::string& name, std::size_t arguments) {
  auto got = command(in);
  if (!got) throw std::runtime_error("stdin closed while waiting for '" + name + "'");
  if ((*got)[0] != name || got->size() != arguments + 1) {
    throw std::runtime_error("expected '" + name + "' with " + std::to_string(arguments) + " arguments, got '" +
                             (*got)[0] + "'");
  }
  return *got;
}

double cpu_seconds_self() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

EtcdOptions etcd_options(const std::string& endpoint) {
  EtcdOptions options;
  options.endpoints = {endpoint};
  // A loaded 2-core machine answers slowly; the bench measures latency, not timeouts.
  options.call_timeout = 30s;
  return options;
}

// ---- register: servers on their own leases, kept alive over one stream ----------------

int run_register(const WorkerArgs& args) {
  const std::string endpoint = args.text("endpoint");
  const std::string prefix = args.text("prefix");
  const std::int64_t first = args.number("first", 0, max_server_index);
  const std::int64_t count = args.number("servers", 1, 100'000);
  const std::int64_t ttl = args.number("ttl", 2, 3600);
  if (first + count > max_server_index) throw std::runtime_error("first + servers: past the last loopback address");

  auto connection = std::make_shared<etcd::Connection>(etcd_options(endpoint));
  etcd::Kv kv(connection);
  std::vector<std::int64_t> leases;
  leases.reserve(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) {
    std::string address = server_address(first + i);
    std::int64_t lease = kv.grant_lease(ttl);
    leases.push_back(lease);
    kv.put(prefix + address, server_record(address), lease);
  }

  // Keepalives: every lease every TTL/3 over one LeaseKeepAlive stream, as LeaseKeeper does
  // for one lease (one stream per registrar here instead of one per lease: etcd's work per
  // keepalive request is the same). A stream that breaks (a gRPC keepalive ping unanswered
  // on a loaded machine) is opened again at once and the round sent again, as LeaseKeeper
  // reopens its stream.
  std::atomic<std::int64_t> answered{0}, lost{0};
  struct KeepaliveStream {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>> rw;
    std::thread reader;
    std::atomic<bool> ended{false};  // the reader saw the stream end
    ~KeepaliveStream() {
      context.TryCancel();
      if (reader.joinable()) reader.join();
    }
  };
  auto open = [&]() {
    auto k = std::make_unique<KeepaliveStream>();
    connection->authorize(k->context, etcd::Clock::now() + 30s);
    etcd::Endpoint& ep = connection->endpoint(connection->current_endpoint());
    k->rw = ep.lease->LeaseKeepAlive(&k->context);
    KeepaliveStream* raw = k.get();
    k->reader = std::thread([raw, &answered, &lost]() noexcept {
      try {
        etcdserverpb::LeaseKeepAliveResponse response;
        while (raw->rw->Read(&response)) (response.ttl() > 0 ? answered : lost).fetch_add(1);
      } catch (...) {
        std::fprintf(stderr, "keepalive reader: an exception\n");
      }
      raw->ended = true;
    });
    return k;
  };
  auto stream = open();
  answer("ready");

  LineReader in(0);
  std::int64_t sent = 0, reopened = 0;
  const auto interval = std::chrono::milliseconds(ttl * 1000 / 3);
  const auto started = Clock::now();
  auto next = started;
  for (;;) {
    if (stream->ended.load()) {  // broken between rounds: reopen and send the round now
      ++reopened;
      std::fprintf(stderr, "register: the keepalive stream ended; opening another\n");
      stream.reset();
      stream = open();
      next = Clock::now();
    }
    if (Clock::now() >= next) {
      bool broke = false;
      for (std::int64_t lease : leases) {
        etcdserverpb::LeaseKeepAliveRequest request;
        request.set_id(lease);
        if (!stream->rw->Write(request)) {
          broke = true;
          break;
        }
        ++sent;
      }
      if (broke) {
        ++reopened;
        std::fprintf(stderr, "register: the keepalive stream broke; opening another\n");
        stream.reset();
        std::this_thread::sleep_for(100ms);
        stream = open();
        continue;  // the round again, on the new stream
      }
      next += interval;
    }
    std::string line;
    auto result = in.read_until(std::min(next, Clock::now() + 500ms), line);
    if (result == LineReader::Result::eof) break;
    if (result == LineReader::Result::line) {
      if (line != "finish") throw std::runtime_error("register: unknown command '" + line.substr(0, 64) + "'");
      double seconds = std::chrono::duration<double>(Clock::now() - started).count();
      answer("keepalive " + std::to_string(sent) + " " + std::to_string(answered.load()) + " " +
             std::to_string(lost.load()) + " " + std::to_string(static_cast<std::int64_t>(seconds * 1000)) + " " +
             std::to_string(reopened));
      break;
    }
  }
  return 0;
}

// ---- watch: streams that list the context and watch it, stamping every event --------

struct Stream {
  std::shared_ptr<etcd::Connection> connection;
  std::unique_ptr<etcd::Watcher> watcher;
  std::atomic<std::uint64_t> restarts{0};
  std::atomic<std::int64_t> errors{0};
  std::atomic<bool> resync{false};
  std::mutex mutex;
  std::vector<std::pair<std::int64_t, std::int64_t>> got;  // (revision, when) per event
  std::int64_t listed = -1;
  std::string failure;
};

int run_watch(const WorkerArgs& args) {
  const std::vector<std::string> endpoints = args.list("endpoints");
  const std::string prefix = args.text("prefix");
  const std::int64_t count = args.number("streams", 1, 10'000);
  const std::int64_t expect = args.number("expect", 0, 10'000'000);

  std::vector<std::unique_ptr<Stream>> streams;
  for (std::int64_t i = 0; i < count; ++i) {
    auto stream = std::make_unique<Stream>();
    // Its own Connection: its own gRPC channel and TCP connection (frodo's channels use a
    // local subchannel pool), as a process of its own would have.
    stream->connection = std::make_shared<etcd::Connection>(
        etcd_options(endpoints[static_cast<std::size_t>(i) % endpoints.size()]));
    streams.push_back(std::move(stream));
  }
  answer("armed");
  LineReader in(0);
  expect_command(in, "go", 0);

  // All streams at once: list, then watch from the listing's revision + 1. A listing that
  // fails is tried again after a second, as a Cluster re-lists with back-off, until `give_up`.
  std::vector<std::thread> starters;
  std::atomic<std::int64_t> last_ready{0};
  std::atomic<std::int64_t> list_retries{0};
  std::mutex first_error_mutex;
  std::string first_error;
  const auto give_up = Clock::now() + std::chrono::seconds(args.number("give_up_s", 1, 3600));
  for (auto& owned : streams) {
    Stream* s = owned.get();
    starters.emplace_back([&, s]() noexcept {
      try {
        etcd::Kv kv(s->connection);
        etcd::RangeResult listing;
        for (;;) {
          try {
            listing = kv.get_prefix(prefix);
            break;
          } catch (const std::exception& e) {
            list_retries.fetch_add(1);
            {
              std::lock_guard lock(first_error_mutex);
              if (first_error.empty()) first_error = e.what();
            }
            if (Clock::now() + 1s > give_up) throw;
            std::this_thread::sleep_for(1s);
          }
        }
        s->listed = static_cast<std::int64_t>(listing.kvs.size());
        etcd::WatcherCallbacks callbacks;
        callbacks.on_events = [s](const std::vector<etcd::WatchEvent>& events, std::int64_t) {
          std::int64_t now = now_ns();
          std::lock_guard lock(s->mutex);
          for (const auto& event : events) s->got.emplace_back(event.kv.mod_revision, now);
        };
        callbacks.on_resync = [s](std::int64_t) { s->resync = true; };
        callbacks.on_error = [s](const Error&) { s->errors.fetch_add(1); };
        etcd::WatcherOptions options;
        options.restarts = &s->restarts;
        s->watcher = std::make_unique<etcd::Watcher>(s->connection, prefix, listing.revision + 1,
                                                     std::move(callbacks), options);
        std::int64_t now = now_ns();
        std::int64_t seen = last_ready.load();
        while (seen < now && !last_ready.compare_exchange_weak(seen, now)) {
        }
      } catch (const std::exception& e) {
        s->failure = e.what();
      } catch (...) {
        s->failure = "a non-standard exception";
      }
    });
  }
  for (auto& t : starters) t.join();
  std::int64_t failures = 0, min_listed = expect, max_listed = 0;
  for (auto& s : streams) {
    if (!s->failure.empty()) {
      if (failures == 0) std::fprintf(stderr, "watch: a stream failed to start: %s\n", s->failure.c_str());
      ++failures;
      continue;
    }
    min_listed = std::min(min_listed, s->listed);
    max_listed = std::max(max_listed, s->listed);
  }
  if (!first_error.empty()) {
    std::string note = first_error.substr(0, 300);
    for (char& c : note) c = (c == '\n' || c == '\r') ? ' ' : c;
    std::fprintf(stderr, "watch: a listing failed (then retried): %s\n", first_error.c_str());
    answer("note " + note);
  }
  answer("ready " + std::to_string(last_ready.load()) + " " + std::to_string(failures) + " " +
         std::to_string(min_listed) + " " + std::to_string(max_listed) + " " + std::to_string(list_retries.load()));

  auto finish = expect_command(in, "finish", 2);
  const std::int64_t last = parse_int(finish[1], "finish revision", 1, INT64_MAX - 1);
  const auto deadline = Clock::now() + std::chrono::milliseconds(parse_int(finish[2], "finish deadline ms", 1, 3'600'000));
  auto behind = [&] {
    std::int64_t n = 0;
    for (auto& s : streams) n += (!s->watcher || s->watcher->next_revision() <= last) ? 1 : 0;
    return n;
  };
  while (behind() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  const std::int64_t left_behind = behind();
  std::uint64_t restarts = 0;
  std::int64_t errors = 0, resyncs = 0, duplicates = 0;
  struct Agg {
    std::int64_t count = 0, first = INT64_MAX, last = 0;
  };
  std::map<std::int64_t, Agg> by_revision;
  for (auto& s : streams) {
    s->watcher.reset();  // stops it: no callback runs after this
    restarts += s->restarts.load();
    errors += s->errors.load();
    resyncs += s->resync.load() ? 1 : 0;
    std::sort(s->got.begin(), s->got.end());
    for (std::size_t i = 0; i < s->got.size(); ++i) {
      auto [revision, when] = s->got[i];
      if (i > 0 && s->got[i - 1].first == revision) {
        ++duplicates;
        continue;
      }
      Agg& a = by_revision[revision];
      ++a.count;
      a.first = std::min(a.first, when);
      a.last = std::max(a.last, when);
    }
  }
  for (auto& [revision, a] : by_revision) {
    answer("rev " + std::to_string(revision) + " " + std::to_string(a.count) + " " + std::to_string(a.first) + " " +
           std::to_string(a.last));
  }
  answer("done " + std::to_string(count) + " " + std::to_string(left_behind) + " " + std::to_string(errors) + " " +
         std::to_string(restarts) + " " + std::to_string(resyncs) + " " + std::to_string(duplicates));
  return 0;
}

// ---- client: one full Cluster, its start-up, memory and CPU per change -----------------

ClusterOptions cluster_options(const WorkerArgs& args) {
  ClusterOptions options;
  options.context = args.text("context");
  options.etcd = etcd_options(args.text("endpoint"));
  std::string algorithm = args.text("algorithm");
  if (algorithm == "ketama") {
    options.algorithm = Algorithm::ketama;
  } else if (algorithm == "maglev") {
    options.algorithm = Algorithm::maglev;
  } else {
    throw std::runtime_error("algorithm: '" + algorithm.substr(0, 64) + "' is neither ketama nor maglev");
  }
  options.connect_timeout = 60s;
  return options;
}

int run_client(const WorkerArgs& args) {
  const std::int64_t expect = args.number("expect", 0, 10'000'000);
  ClusterOptions options = cluster_options(args);
  const std::int64_t t0 = now_ns();
  const double cpu0 = cpu_seconds_self();
  Cluster cluster(options);
  if (!cluster.wait_ready(120s)) throw std::runtime_error("client: no view within 120 s");
  const std::int64_t startup = now_ns() - t0;
  const double startup_cpu = cpu_seconds_self() - cpu0;
  const std::int64_t servers = static_cast<std::int64_t>(cluster.snapshot()->servers.size());
  if (servers != expect) {
    throw std::runtime_error("client: the first view holds " + std::to_string(servers) + " servers, not " +
                             std::to_string(expect));
  }
  // What the process costs at rest (gRPC's and the watcher's own timers), subtracted below.
  const double idle0 = cpu_seconds_self();
  std::this_thread::sleep_for(2s);
  const double idle_rate = (cpu_seconds_self() - idle0) / 2.0;
  ProcReading self = read_proc(static_cast<int>(::getpid()));
  answer("ready " + std::to_string(startup) + " " + std::to_string(static_cast<std::int64_t>(startup_cpu * 1e9)) + " " +
         std::to_string(servers) + " " + std::to_string(self.rss_kb) + " " +
         std::to_string(static_cast<std::int64_t>(idle_rate * 1e9)));

  LineReader in(0);
  expect_command(in, "begin", 0);
  const double cpu_begin = cpu_seconds_self();
  const std::int64_t begin = now_ns();
  const std::uint64_t changes_begin = cluster.stats().view_changes;
  answer("begun");
  auto finish = expect_command(in, "finish", 1);
  const std::int64_t last = parse_int(finish[1], "finish revision", 1, INT64_MAX - 1);
  bool caught_up = cluster.wait_revision(last, 120s);
  const double cpu = cpu_seconds_self() - cpu_begin;
  const std::int64_t wall = now_ns() - begin;
  const std::uint64_t views = cluster.stats().view_changes - changes_begin;
  self = read_proc(static_cast<int>(::getpid()));
  answer("result " + std::to_string(static_cast<std::int64_t>(cpu * 1e9)) + " " + std::to_string(wall) + " " +
         std::to_string(views) + " " + std::to_string(self.rss_kb) + " " + std::to_string(self.hwm_kb) + " " +
         (caught_up ? "1" : "0"));
  return 0;
}

// ---- clusters: many full Clusters, stamping when each first sees each probe ------------

struct Member {
  std::unique_ptr<Cluster> cluster;
  Subscription subscription;
  std::mutex mutex;
  std::map<std::string, std::int64_t> seen;  // probe address -> when this Cluster first had it
};

int run_clusters(const WorkerArgs& args) {
  const std::int64_t count = args.number("count", 1, 1000);
  const std::string probe_prefix = args.text("probe_prefix");
  ClusterOptions options = cluster_options(args);
  const std::int64_t t0 = now_ns();
  std::vector<std::unique_ptr<Member>> members;
  for (std::int64_t i = 0; i < count; ++i) {
    auto m = std::make_unique<Member>();
    m->cluster = std::make_unique<Cluster>(options);
    Member* raw = m.get();
    m->subscription = m->cluster->on_change([raw, &probe_prefix](const Snapshot&, const Snapshot& after) {
      std::int64_t now = now_ns();
      std::lock_guard lock(raw->mutex);
      for (const ServerInfo& s : after.servers) {
        if (s.address.rfind(probe_prefix, 0) == 0) raw->seen.emplace(s.address, now);
      }
    });
    if (!m->cluster->wait_ready(120s)) throw std::runtime_error("clusters: no view within 120 s");
    members.push_back(std::move(m));
  }
  answer("ready " + std::to_string(now_ns() - t0) + " " +
         std::to_string(read_proc(static_cast<int>(::getpid())).rss_kb));

  LineReader in(0);
  auto finish = expect_command(in, "finish", 2);
  const std::size_t probes = static_cast<std::size_t>(parse_int(finish[1], "finish probes", 0, 100'000));
  const auto deadline = Clock::now() + std::chrono::milliseconds(parse_int(finish[2], "finish deadline ms", 1, 3'600'000));
  auto incomplete = [&] {
    std::int64_t n = 0;
    for (auto& m : members) {
      std::lock_guard lock(m->mutex);
      n += m->seen.size() < probes ? 1 : 0;
    }
    return n;
  };
  while (incomplete() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  const std::int64_t left = incomplete();
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> by_probe;  // count, last
  for (auto& m : members) {
    m->subscription = Subscription();
    m->cluster->close();
    std::lock_guard lock(m->mutex);
    for (auto& [address, when] : m->seen) {
      auto& p = by_probe[address];
      ++p.first;
      p.second = std::max(p.second, when);
    }
  }
  for (auto& [address, p] : by_probe) {
    answer("probe " + address + " " + std::to_string(p.first) + " " + std::to_string(p.second));
  }
  answer("done " + std::to_string(count) + " " + std::to_string(left));
  return 0;
}

}  // namespace

std::string WorkerArgs::text(const std::string& key) const {
  auto it = values.find(key);
  if (it == values.end() || it->second.empty()) throw std::runtime_error("worker: missing " + key + "=");
  return it->second;
}

std::int64_t WorkerArgs::number(const std::string& key, std::int64_t lo, std::int64_t hi) const {
  return parse_int(text(key), key.c_str(), lo, hi);
}

std::vector<std::string> WorkerArgs::list(const std::string& key) const {
  std::vector<std::string> out;
  std::string all = text(key);
  std::size_t from = 0;
  while (from <= all.size()) {
    std::size_t comma = all.find(',', from);
    std::string item = all.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
    if (item.empty()) throw std::runtime_error(key + ": an empty entry in '" + all.substr(0, 200) + "'");
    out.push_back(item);
    if (comma == std::string::npos) break;
    from = comma + 1;
  }
  if (out.size() > 64) throw std::runtime_error(key + ": more than 64 entries");
  return out;
}

std::string server_address(std::int64_t index) {
  if (index < 0 || index >= max_server_index) throw std::runtime_error("server index out of range");
  return "127." + std::to_string(index / 62'500 + 1) + "." + std::to_string(index / 250 % 250 + 1) + "." +
         std::to_string(index % 250 + 1) + ":7000";
}

std::string server_record(const std::string& address) {
  return R"({"address":")" + address + R"(","weight":1,"zone":"","meta":{"bench":"frodo-scale"}})";
}

int run_worker(int argc, char** argv) {
  if (argc < 3) throw std::runtime_error("worker: no mode");
  const std::string mode = argv[2];
  WorkerArgs args;
  for (int i = 3; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() > 8192) throw std::runtime_error("worker: an argument longer than 8192 bytes");
    std::size_t eq = arg.find('=');
    if (eq == std::string::npos || eq == 0) throw std::runtime_error("worker: '" + arg.substr(0, 64) + "' is not key=value");
    args.values[arg.substr(0, eq)] = arg.substr(eq + 1);
  }
  if (mode == "register") return run_register(args);
  if (mode == "watch") return run_watch(args);
  if (mode == "client") return run_client(args);
  if (mode == "clusters") return run_clusters(args);
  throw std::runtime_error("worker: unknown mode '" + mode.substr(0, 64) + "'");
}

}  // namespace frodo::scale
