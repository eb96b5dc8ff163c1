#include "alert_server.hpp"

#include <httplib.h>

#include <atomic>
#include <charconv>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>
#include <vector>

#include "event.hpp"
#include "frodo/address.hpp"
#include "frodo/error.hpp"
#include "frodo/metrics.hpp"
#include "store.hpp"

namespace alerts {
namespace {

using nlohmann::json;

// Bodies up to this size reach the handler, which answers 413 with a JSON error above
// max_event_bytes; larger ones get httplib's own bare 413.
constexpr std::size_t read_limit = 64 * 1024;

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

// The client's view revision from X-Frodo-Revision (0 when absent), or nullopt if malformed.
std::optional<std::int64_t> client_revision(const httplib::Request& req) {
  if (!req.has_header("X-Frodo-Revision")) return 0;
  std::string text = req.get_header_value("X-Frodo-Revision");
  std::int64_t revision = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), revision);
  if (ec != std::errc() || end != text.data() + text.size() || revision < 0) return std::nullopt;
  return revision;
}

// What this server last knew of a host. Valid only for the token it was loaded under: a
// new token means the host may have been elsewhere meanwhile, so it is reloaded.
struct HostSlot {
  std::mutex mutex;  // held for the whole processing of one event of the host
  bool cached = false;
  std::int64_t token = 0;
  std::int64_t seq = 0;
  std::string status;
};

}  // namespace

std::string to_json(const AlertServerStats& s) {
  return json{{"address", s.address},   {"guard", s.guard},         {"fencing", s.fencing},
              {"applied", s.applied},
              {"duplicates", s.duplicates}, {"redirected", s.redirected}, {"waited", s.waited},
              {"fenced", s.fenced},     {"rejected", s.rejected},   {"epoch", s.epoch},
              {"released", s.released}, {"releases", s.releases},   {"revision", s.revision},
              {"members", s.members}}
      .dump();
}

struct AlertServer::Impl {
  AlertServerOptions options;
  std::string address;
  int port = 0;

  std::atomic<std::uint64_t> applied{0}, duplicates{0}, redirected{0}, waited{0}, fenced{0}, rejected{0};

  // Declared before the cluster: its callbacks use them until it is destroyed.
  std::unique_ptr<Store> store;
  std::mutex slots_mutex;
  std::unordered_map<std::string, std::unique_ptr<HostSlot>> slots;  // never erased

  std::unique_ptr<frodo::Cluster> cluster;
  // Set by join(), before `joined`; read only once `joined` is seen true.
  std::unique_ptr<frodo::Guard> guard;  // null when unguarded
  frodo::Subscription changes;           // the unguarded server's view callback
  std::atomic<bool> joined{false};
  std::mutex join_mutex;
  std::atomic<std::int64_t> work_us{0};
  httplib::Server http;

  // stop() and run() may race: httplib's stop() does nothing before listening starts.
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> in_run{false};
  std::thread thread;  // start()'s

  HostSlot& slot(const std::string& host) {
    std::lock_guard lock(slots_mutex);
    auto& s = slots[host];
    if (!s) s = std::make_unique<HostSlot>();
    return *s;
  }

  // A naive unguarded server forgets what it knew of the hosts it lost, nothing more.
  void forget_lost_hosts(const frodo::Snapshot& after) {
    std::vector<std::pair<std::string, HostSlot*>> all;
    {
      std::lock_guard lock(slots_mutex);
      for (auto& [host, s] : slots) all.emplace_back(host, s.get());
    }
    for (auto& [host, s] : all) {
      if (after.ring.owner(host) == address) continue;
      std::lock_guard lock(s->mutex);
      s->cached = false;
    }
  }

  void handle_event(const httplib::Request& req, httplib::Response& res) {
    if (req.body.size() > max_event_bytes) {
      ++rejected;
      return reply(res, 413, {{"error", "event body is " + std::to_string(req.body.size()) +
                                            " bytes, more than the " + std::to_string(max_event_bytes) +
                                            " allowed"}});
    }
    ParsedEvent parsed = parse_event(req.body);
    if (auto* problem = std::get_if<std::string>(&parsed)) {
      ++rejected;
      return reply(res, 400, {{"error", *problem}});
    }
    const Event& event = std::get<Event>(parsed);
    std::optional<std::int64_t> revision = client_revision(req);
    if (!revision) {
      ++rejected;
      return reply(res, 400, {{"error", "bad X-Frodo-Revision '" + req.get_header_value("X-Frodo-Revision") +
                                            "': expected an integer >= 0"}});
    }

    if (!joined.load(std::memory_order_acquire)) {
      ++waited;
      res.set_header("Retry-After", "0");
      return reply(res, 503, {{"wait", "not joined"}, {"revision", cluster->snapshot()->revision}});
    }
    // The Admission lives until the event is written: the guard counts the host in flight.
    frodo::Admission admission;
    std::int64_t token = 0;
    if (guard) {
      admission = guard->admit(event.host, *revision);
      switch (admission.verdict()) {
        case frodo::Verdict::admit: break;
        case frodo::Verdict::redirect:
          ++redirected;
          return reply(res, 421, {{"redirect", admission.owner()}, {"revision", admission.revision()}});
        case frodo::Verdict::wait:
          ++waited;
          res.set_header("Retry-After", "0");
          return reply(res, 503, {{"wait", admission.reason()}, {"revision", admission.revision()}});
      }
      token = admission.token();
    } else {
      std::shared_ptr<const frodo::Snapshot> view = cluster->snapshot();
      std::optional<std::string_view> owner = view->ring.owner(event.host);
      if (!owner) {
        ++waited;
        res.set_header("Retry-After", "0");
        return reply(res, 503, {{"wait", "no owner"}, {"revision", view->revision}});
      }
      if (*owner != address) {
        ++redirected;
        return reply(res, 421, {{"redirect", std::string(*owner)}, {"revision", view->revision}});
      }
    }

    // From here until the row is written the server holds the host: the row's admission
    // interval starts now.
    const Processing processing{token, address, monotonic_us()};
    HostSlot& s = slot(event.host);
    std::lock_guard lock(s.mutex);
    if (!s.cached || s.token != token) {
      // A new holding of the host: its state read, and (with fencing) its token raised, in one
      // step, so that a previous holder's late write is fenced from here on (Store::claim).
      Store::Claim claim = store->claim(event.host, token);
      if (claim.result == ApplyResult::fenced) {
        ++fenced;
        res.set_header("Retry-After", "0");
        return reply(res, 503, {{"wait", "fenced"}, {"revision", cluster->snapshot()->revision}});
      }
      s.seq = claim.state ? claim.state->seq : 0;
      s.status = claim.state ? claim.state->status : "";
      s.token = token;
      s.cached = true;
    }
    if (event.seq <= s.seq) {
      // Recorded, not silently dropped: the checker must see this admission too, or two
      // servers holding the host at once would go unnoticed whenever one of them found
      // nothing to do.
      switch (store->record_duplicate(event, processing)) {
        case ApplyResult::applied:
          ++duplicates;
          return reply(res, 200, {{"result", "duplicate"}});
        case ApplyResult::fenced:
          s.cached = false;
          ++fenced;
          res.set_header("Retry-After", "0");
          return reply(res, 503, {{"wait", "fenced"}, {"revision", cluster->snapshot()->revision}});
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(work_us.load(std::memory_order_relaxed)));
    switch (store->apply(event, processing)) {
      case ApplyResult::applied:
        s.seq = event.seq;
        s.status = event.status;
        ++applied;
        return reply(res, 200, {{"result", "applied"}, {"token", token}});
      case ApplyResult::fenced:
        // A newer owner wrote meanwhile: what this server knew is stale.
        s.cached = false;
        ++fenced;
        res.set_header("Retry-After", "0");
        return reply(res, 503, {{"wait", "fenced"}, {"revision", cluster->snapshot()->revision}});
    }
  }
};

AlertServer::AlertServer(AlertServerOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  d.options = std::move(options);
  const AlertServerOptions& o = d.options;
  if (o.port < 0 || o.port > 65535) {
    throw frodo::Error(frodo::Errc::invalid_argument, "bad port " + std::to_string(o.port) + ": expected 0-65535");
  }
  if (o.store_path.empty()) throw frodo::Error(frodo::Errc::invalid_argument, "no store path given");
  if (o.threads == 0) throw frodo::Error(frodo::Errc::invalid_argument, "threads must be at least 1");

  std::size_t threads = o.threads;
  d.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  d.http.set_payload_max_length(read_limit);
  // Small requests and replies: Nagle's algorithm with delayed ACKs would add 40 ms to each.
  d.http.set_tcp_nodelay(true);
  // Clients send one event at a time per connection for as long as they run. An idle
  // connection holds a worker thread and delays stop() until it times out, so keep that short.
  d.http.set_keep_alive_max_count(100000);
  d.http.set_keep_alive_timeout(1);
  d.http.Post("/events", [&d](const httplib::Request& req, httplib::Response& res) {
    try {
      d.handle_event(req, res);
    } catch (const std::exception& e) {
      reply(res, 500, {{"error", e.what()}});
    }
  });
  d.http.Get("/stats", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(to_json(stats()), "application/json");
  });
  d.http.Get("/health", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
  // The Cluster's and the guard's metrics (docs/metrics.md) for Prometheus.
  d.http.Get("/metrics", [&d](const httplib::Request&, httplib::Response& res) {
    try {
      std::vector<const frodo::Guard*> guards;
      if (d.joined.load(std::memory_order_acquire) && d.guard) guards.push_back(d.guard.get());
      res.set_content(frodo::prometheus_text(*d.cluster, guards), frodo::prometheus_content_type);
    } catch (const std::exception& e) {
      reply(res, 500, {{"error", e.what()}});
    }
  });

  if (o.port == 0) {
    d.port = d.http.bind_to_any_port(o.listen_host);
  } else if (d.http.bind_to_port(o.listen_host, o.port)) {
    d.port = o.port;
  } else {
    d.port = -1;
  }
  if (d.port <= 0) {
    throw frodo::Error(frodo::Errc::invalid_argument,
                       "cannot listen on " + o.listen_host + ":" + std::to_string(o.port));
  }
  d.address = o.advertise.empty() ? o.listen_host + ":" + std::to_string(d.port) : o.advertise;
  frodo::parse_address(d.address);  // names the address if it is not host:port

  if (o.work.count() < 0) {
    throw frodo::Error(frodo::Errc::invalid_argument,
                       "work must not be negative, got " + std::to_string(o.work.count()) + " us");
  }
  d.work_us = o.work.count();

  d.store = std::make_unique<Store>(o.store_path, StoreOptions{.fencing = o.fencing});
  d.cluster = o.memory_registry ? std::make_unique<frodo::Cluster>(o.cluster, o.memory_registry)
                                : std::make_unique<frodo::Cluster>(o.cluster);
  if (o.join) join();
}

void AlertServer::join() {
  Impl& d = *impl_;
  std::lock_guard lock(d.join_mutex);
  if (d.joined) return;
  if (d.options.guard) {
    d.guard = std::make_unique<frodo::Guard>(*d.cluster, d.address, d.options.guard_options);
  } else {
    d.changes = d.cluster->on_change([&d](const frodo::Snapshot&, const frodo::Snapshot& after) { d.forget_lost_hosts(after); });
    d.cluster->add_server(d.address);
  }
  d.joined.store(true, std::memory_order_release);
}

void AlertServer::set_work(std::chrono::microseconds work) {
  impl_->work_us.store(std::max<std::int64_t>(0, work.count()), std::memory_order_relaxed);
}

AlertServer::~AlertServer() {
  stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

const std::string& AlertServer::address() const { return impl_->address; }
int AlertServer::port() const { return impl_->port; }
frodo::Cluster& AlertServer::cluster() { return *impl_->cluster; }

void AlertServer::run() {
  Impl& d = *impl_;
  d.in_run = true;
  if (!d.stop_requested) d.http.listen_after_bind();
  d.in_run = false;
}

void AlertServer::start() {
  impl_->thread = std::thread([this] {
    try {
      run();
    } catch (const std::exception& e) {
      std::cerr << "alert server " << impl_->address << ": " << e.what() << '\n';
    } catch (...) {
      std::cerr << "alert server " << impl_->address << ": stopped by a non-standard exception\n";
    }
  });
}

void AlertServer::stop() {
  Impl& d = *impl_;
  if (d.stop_requested.exchange(true)) return;  // httplib's stop() must run at most once
  // run() checks stop_requested after setting in_run: either it returns without listening,
  // or it is (about to be) listening and stop() must wait for that to close the socket.
  while (d.in_run && !d.http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  d.http.stop();
}

void AlertServer::leave(std::chrono::milliseconds timeout) {
  Impl& d = *impl_;
  {
    std::lock_guard lock(d.join_mutex);
    if (d.joined && d.guard) {
      d.guard->leave(timeout);
    } else if (d.joined) {
      d.cluster->remove_server(d.address);
    }
  }
  stop();
}

AlertServerStats AlertServer::stats() const {
  const Impl& d = *impl_;
  AlertServerStats s;
  s.address = d.address;
  s.guard = d.options.guard;
  s.fencing = d.options.fencing;
  s.applied = d.applied;
  s.duplicates = d.duplicates;
  s.redirected = d.redirected;
  s.waited = d.waited;
  s.fenced = d.fenced;
  s.rejected = d.rejected;
  if (d.joined.load(std::memory_order_acquire) && d.guard) {
    frodo::GuardStats g = d.guard->stats();
    s.epoch = g.epoch;
    s.released = g.released;
    s.releases = g.releases;
  }
  std::shared_ptr<const frodo::Snapshot> view = d.cluster->snapshot();
  s.revision = view->revision;
  s.members = view->ring.size();
  return s;
}

}  // namespace alerts
