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
  bool pending = false;  // next_seq was sent and is not acknowledged yet
  Clock::time_point retry_at{};
  milliseconds backoff = first_backoff;
};

// How one try at delivering an event ended.
enum class Attempt { acknowledged, later };

}  // namespace

struct EventClient::Impl {
  EventClientOptions options;
  std::unique_ptr<frodo::Cluster> cluster;

  std::atomic<bool> stopping{false};
  std::atomic<std::int64_t> claimed{0};  // events started, against options.events
  std::atomic<std::uint64_t> sent{0}, acknowledged{0}, redirects{0}, waits{0}, handoff_waits{0}, retries{0},
      given_up{0};

  mutable std::mutex acked_mutex;
  std::map<std::string, Acked> acked;

  std::mutex failure_mutex;
  std::exception_ptr failure;

  // Servers that failed to answer (refused, timed out) recently: hosts they own are set aside
  // without a request until then, so a frozen server costs the workers one timeout, not one
  // per host. Shared by the workers.
  std::mutex suspects_mutex;
  std::map<std::string, Clock::time_point> suspects;

  bool suspected(const std::string& address) {
    std::lock_guard lock(suspects_mutex);
    auto it = suspects.find(address);
    if (it == suspects.end()) return false;
    if (Clock::now() < it->second) return true;
    suspects.erase(it);
    return false;
  }
  void suspect(const std::string& address) {
    std::lock_guard lock(suspects_mutex);
    suspects[address] = Clock::now() + options.timeout;
  }

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

  // One try at delivering `event`: follows redirects to the owner a server names (after
  // this client's view has caught up with the server's). `later` when the owner is
  // unreachable, busy (503) or unknown: the worker sets the host aside and goes on with its
  // other hosts, so one dead or frozen server does not stall the hosts of the others.
  Attempt attempt(Worker& w, const Event& event) {
    const std::string body = to_json(event);
    for (int hop = 0; hop < 4; ++hop) {
      // Owner and revision from one view, so the server can tell which view we asked in.
      std::shared_ptr<const frodo::Snapshot> view = cluster->snapshot();
      std::optional<std::string_view> owner = view->ring.owner(event.host);
      if (!owner) {
        ++waits;
        return Attempt::later;
      }
      std::string address(*owner);
      if (suspected(address)) return Attempt::later;
      httplib::Client& http = connection(w, address);
      ++sent;
      httplib::Result res =
          http.Post("/events", {{"X-Frodo-Revision", std::to_string(view->revision)}}, body, "application/json");
      if (!res) {
        ++retries;
        w.connections.erase(address);  // reconnect from scratch next time
        suspect(address);
        return Attempt::later;
      }
      switch (res->status) {
        case 200:
          ++acknowledged;
          return Attempt::acknowledged;
        case 421: {
          ++redirects;
          json reply = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
          // The server's answer is input: a "revision" that is not an integer counts as none.
          std::int64_t revision = 0;
          if (reply.is_object() && reply.contains("revision") && reply["revision"].is_number_integer()) {
            revision = reply["revision"].get<std::int64_t>();
          }
          // A server behind this client's view points back at a stale owner: waiting for
          // its revision would return at once, so come back later instead of spinning.
          if (revision > view->revision && cluster->wait_revision(revision, options.timeout)) continue;
          return Attempt::later;
        }
        case 503: {
          ++waits;
          json reply = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
          if (reply.is_object() && reply.contains("wait") && reply["wait"] == "handoff") ++handoff_waits;
          return Attempt::later;
        }
        default:
          if (res->status >= 500) {
            ++retries;
            return Attempt::later;
          }
          throw frodo::Error(frodo::Errc::internal, "server " + address + " answered " +
                                                        std::to_string(res->status) + " to " + body + ": " +
                                                        res->body);
      }
    }
    return Attempt::later;
  }

  // Round-robin over the worker's hosts, one event in flight at a time; a host whose event
  // was not acknowledged keeps that event (same seq) and is retried after a backoff, so each
  // host's events are still sent strictly one after the other, in order.
  void work(Worker& w) {
    const std::size_t n = w.hosts.size();
    std::size_t next = 0;
    bool budget_left = true;
    std::optional<Clock::time_point> give_up_at;
    while (true) {
      Clock::time_point now = Clock::now();
      if (stopping && !give_up_at) give_up_at = now + options.stop_grace;
      HostCursor* chosen = nullptr;
      bool any_pending = false;
      Clock::time_point earliest = Clock::time_point::max();
      for (std::size_t k = 0; k < n && !chosen; ++k) {
        HostCursor& c = w.hosts[(next + k) % n];
        if (c.pending) {
          any_pending = true;
          if (c.retry_at <= now) chosen = &c;
          earliest = std::min(earliest, c.retry_at);
        } else if (!stopping && budget_left) {
          if (options.events > 0 && claimed.fetch_add(1) >= options.events) {
            budget_left = false;
          } else {
            chosen = &c;
          }
        }
        if (chosen) next = (next + k + 1) % n;
      }
      if (!chosen) {
        if (!any_pending) return;  // stopped or out of events, nothing left in flight
        if (give_up_at && now > *give_up_at) {
          give_up(w);
          return;
        }
        std::this_thread::sleep_until(std::min(earliest, now + max_backoff));
        continue;
      }
      Event event{chosen->host, chosen->next_seq, status_of(chosen->next_seq)};
      chosen->pending = true;
      if (attempt(w, event) == Attempt::acknowledged) {
        std::lock_guard lock(acked_mutex);
        Acked& a = acked[event.host];
        a.seq = event.seq;
        a.status = event.status;
        ++chosen->next_seq;
        chosen->pending = false;
        chosen->backoff = first_backoff;
      } else {
        chosen->retry_at = Clock::now() + chosen->backoff;
        chosen->backoff = std::min(chosen->backoff * 2, max_backoff);
      }
    }
  }

  // stop() was called more than stop_grace ago: the events still unacknowledged are
  // recorded as in flight (they may or may not have been applied).
  void give_up(Worker& w) {
    std::lock_guard lock(acked_mutex);
    for (HostCursor& c : w.hosts) {
      if (!c.pending) continue;
      ++given_up;
      Acked& a = acked[c.host];
      a.in_flight_seq = c.next_seq;
      a.in_flight_status = status_of(c.next_seq);
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
  return {d.sent, d.acknowledged, d.redirects, d.waits, d.handoff_waits, d.retries, d.given_up};
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
