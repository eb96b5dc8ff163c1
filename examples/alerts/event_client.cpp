#include "event_client.hpp"

#include <httplib.h>

#include <algorithm>
#include <exception>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "event.hpp"
#include "frodo/error.hpp"

namespace alerts {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
using std::chrono::milliseconds;

constexpr milliseconds first_backoff{2};
constexpr milliseconds max_backoff{20};

std::string status_of(std::int64_t seq) { return seq % 2 == 1 ? "DOWN" : "UP"; }

struct HostCursor {
  std::string host;
  std::int64_t next_seq = 1;
};

}  // namespace

struct EventClient::Impl {
  EventClientOptions options;
  std::unique_ptr<frodo::Cluster> cluster;

  std::atomic<bool> stopping{false};
  std::atomic<std::int64_t> claimed{0};  // events started, against options.events
  std::atomic<std::uint64_t> sent{0}, acknowledged{0}, redirects{0}, waits{0}, retries{0}, given_up{0};

  mutable std::mutex acked_mutex;
  std::map<std::string, Acked> acked;

  std::mutex failure_mutex;
  std::exception_ptr failure;

  struct Worker {
    std::vector<HostCursor> hosts;
    // One keep-alive connection per server this worker has talked to.
    std::map<std::string, std::unique_ptr<httplib::Client>> connections;
  };

  httplib::Client& connection(Worker& w, const std::string& address) {
    auto& c = w.connections[address];
    if (!c) {
      c = std::make_unique<httplib::Client>("http://" + address);
      c->set_keep_alive(true);
      c->set_tcp_nodelay(true);  // one small request at a time: no Nagle delay
      c->set_connection_timeout(options.timeout);
      c->set_read_timeout(options.timeout);
      c->set_write_timeout(options.timeout);
    }
    return *c;
  }

  // Sends `event` until a server acknowledges it (true), or stop() was called more than
  // stop_grace ago (false).
  bool deliver(Worker& w, const Event& event) {
    const std::string body = to_json(event);
    milliseconds backoff = first_backoff;
    auto back_off = [&] {
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, max_backoff);
    };
    std::optional<Clock::time_point> give_up_at;
    for (;;) {
      if (stopping) {
        if (!give_up_at) give_up_at = Clock::now() + options.stop_grace;
        if (Clock::now() > *give_up_at) return false;
      }
      // Owner and revision from one view, so the server can tell which view we asked in.
      std::shared_ptr<const frodo::Snapshot> view = cluster->snapshot();
      std::optional<std::string_view> owner = view->ring.owner(event.host);
      if (!owner) {
        ++waits;
        if (!cluster->wait_revision(view->revision + 1, options.timeout)) back_off();
        continue;
      }
      std::string address(*owner);
      httplib::Client& http = connection(w, address);
      ++sent;
      httplib::Result res =
          http.Post("/events", {{"X-Frodo-Revision", std::to_string(view->revision)}}, body, "application/json");
      if (!res) {
        ++retries;
        w.connections.erase(address);  // reconnect from scratch next time
        back_off();
        continue;
      }
      switch (res->status) {
        case 200:
          ++acknowledged;
          return true;
        case 421: {
          ++redirects;
          json reply = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
          std::int64_t revision = reply.is_object() ? reply.value("revision", std::int64_t{0}) : 0;
          // A server behind this client's view points back at a stale owner: waiting for
          // its revision would return at once, so back off instead of spinning.
          if (revision <= view->revision || !cluster->wait_revision(revision, options.timeout)) back_off();
          continue;
        }
        case 503:
          ++waits;
          back_off();
          continue;
        default:
          if (res->status >= 500) {
            ++retries;
            back_off();
            continue;
          }
          throw frodo::Error(frodo::Errc::internal, "server " + address + " answered " +
                                                        std::to_string(res->status) + " to " + body + ": " +
                                                        res->body);
      }
    }
  }

  void work(Worker& w) {
    for (std::size_t next = 0; !stopping; next = (next + 1) % w.hosts.size()) {
      if (options.events > 0 && claimed.fetch_add(1) >= options.events) return;
      HostCursor& cursor = w.hosts[next];
      Event event{cursor.host, cursor.next_seq, status_of(cursor.next_seq)};
      bool delivered = deliver(w, event);
      std::lock_guard lock(acked_mutex);
      Acked& a = acked[event.host];
      if (!delivered) {
        ++given_up;
        a.in_flight_seq = event.seq;
        a.in_flight_status = event.status;
        return;
      }
      a.seq = event.seq;
      a.status = event.status;
      ++cursor.next_seq;
    }
  }
};

EventClient::EventClient(EventClientOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  d.options = std::move(options);
  const EventClientOptions& o = d.options;
  if (o.hosts == 0) throw frodo::Error(frodo::Errc::invalid_argument, "hosts must be at least 1, got 0");
  if (o.workers == 0) throw frodo::Error(frodo::Errc::invalid_argument, "workers must be at least 1, got 0");
  if (o.events < 0) {
    throw frodo::Error(frodo::Errc::invalid_argument,
                       "events must be >= 0 (0: until stopped), got " + std::to_string(o.events));
  }
  if (o.timeout <= milliseconds::zero()) {
    throw frodo::Error(frodo::Errc::invalid_argument,
                       "timeout must be positive, got " + std::to_string(o.timeout.count()) + " ms");
  }
  d.cluster = o.memory_registry ? std::make_unique<frodo::Cluster>(o.cluster, o.memory_registry)
                                : std::make_unique<frodo::Cluster>(o.cluster);
}

EventClient::~EventClient() = default;

void EventClient::run() {
  Impl& d = *impl_;
  std::size_t count = std::min(d.options.workers, d.options.hosts);
  std::vector<Impl::Worker> workers(count);
  for (std::size_t i = 0; i < d.options.hosts; ++i) {
    workers[i % count].hosts.push_back({"host-" + std::to_string(i + 1)});
  }
  std::vector<std::thread> threads;
  threads.reserve(count);
  for (Impl::Worker& w : workers) {
    threads.emplace_back([&d, &w] {
      try {
        d.work(w);
      } catch (...) {
        std::lock_guard lock(d.failure_mutex);
        if (!d.failure) d.failure = std::current_exception();
        d.stopping = true;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (d.failure) std::rethrow_exception(d.failure);
}

void EventClient::stop() { impl_->stopping = true; }

EventClientCounters EventClient::counters() const {
  const Impl& d = *impl_;
  return {d.sent, d.acknowledged, d.redirects, d.waits, d.retries, d.given_up};
}

std::map<std::string, std::int64_t> EventClient::acknowledged_seq() const {
  std::lock_guard lock(impl_->acked_mutex);
  std::map<std::string, std::int64_t> seqs;
  for (const auto& [host, a] : impl_->acked) {
    if (a.seq > 0) seqs.emplace(host, a.seq);
  }
  return seqs;
}

std::map<std::string, Acked> EventClient::acknowledged() const {
  std::lock_guard lock(impl_->acked_mutex);
  return impl_->acked;
}

frodo::Cluster& EventClient::cluster() { return *impl_->cluster; }

}  // namespace alerts
