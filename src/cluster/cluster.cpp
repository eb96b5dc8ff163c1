#include "frodo/cluster.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <iostream>
#include <set>
#include <thread>
#include <unordered_set>

#include "core/mutex.hpp"
#include "etcd/connection.hpp"
#include "frodo/address.hpp"
#include "frodo/error.hpp"
#include "frodo/guard.hpp"
#include "registry/etcd_registry.hpp"
#include "registry/server_record.hpp"
#include "published.hpp"
#include "ring_members.hpp"

namespace frodo {

void validate_context(const std::string& context) {
  auto ok_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  };
  if (context.empty() || context.size() > 128 || !std::all_of(context.begin(), context.end(), ok_char) ||
      context == "." || context == "..") {
    throw Error(Errc::invalid_argument,
                "bad context '" + context + "': expected 1-128 of A-Z a-z 0-9 . _ - (and not . or ..)");
  }
}

std::vector<Member> ring_members(const ServerList& servers) {
  std::vector<Member> members;
  members.reserve(servers.size());
  for (const ServerInfo& s : servers) {
    if (!s.meta.contains(leaving_meta_key)) members.push_back({s.address, s.weight, s.zone});
  }
  return members;
}

// A registered callback. `running` is held while it runs, so that unregistering can wait for
// a call in progress; `runner` is the thread running it (unregistering from inside the
// callback must not wait for itself).
template <typename Fn>
struct Registered {
  explicit Registered(Fn f) : fn(std::move(f)) {}
  Fn fn;
  detail::Mutex running;  // held while fn runs
  std::atomic<std::thread::id> runner{};
  std::atomic<bool> removed{false};
};

using ChangeCallback = std::function<void(const Snapshot&, const Snapshot&)>;
using LeaseCallback = std::function<void(LeaseLossReason)>;

// What lookups read: a snapshot and which of its servers this Cluster registered.
struct View {
  std::shared_ptr<const Snapshot> snapshot;
  std::unordered_set<std::string> mine;
};

struct Cluster::State {
  ClusterOptions options;
  std::unique_ptr<RegistrySession> session;

  detail::Published<View> current;  // what lookups read

  // write_mutex (below) is taken before mutex, never after it.
  mutable detail::Mutex mutex;
  mutable detail::CondVar changed;  // a new view, closed, or publish_due
  std::shared_ptr<const View> published FRODO_GUARDED_BY(mutex);  // the same view as `current`, for writers
  std::set<std::string> mine FRODO_GUARDED_BY(mutex);
  std::uint64_t next_callback FRODO_GUARDED_BY(mutex) = 1;  // ids in the order callbacks were added
  template <typename Fn>
  using Callbacks = std::map<std::uint64_t, std::shared_ptr<Registered<Fn>>>;
  Callbacks<ChangeCallback> on_change FRODO_GUARDED_BY(mutex);
  Callbacks<LeaseCallback> on_lease_lost FRODO_GUARDED_BY(mutex);
  bool closed FRODO_GUARDED_BY(mutex) = false;

  // Counters for stats().
  std::uint64_t view_changes FRODO_GUARDED_BY(mutex) = 0;
  std::uint64_t callback_errors FRODO_GUARDED_BY(mutex) = 0;
  std::map<LeaseLossReason, std::uint64_t> lease_losses FRODO_GUARDED_BY(mutex);
  std::uint64_t view_publications FRODO_GUARDED_BY(mutex) = 0;

  // publish_view: the records this Cluster registered (persistent or not) as last asked
  // for, written again by `publisher` when the ring's checksum differs from `written`.
  // write_mutex orders those writes with add_server's and remove_server's, so a record is
  // never written back with options older than the last add_server's; taken before mutex.
  detail::Mutex write_mutex FRODO_ACQUIRED_BEFORE(mutex);
  std::map<std::string, std::pair<ServerInfo, bool>> own FRODO_GUARDED_BY(write_mutex);
  std::string written FRODO_GUARDED_BY(mutex);
  bool publish_due FRODO_GUARDED_BY(mutex) = false;
  std::thread publisher;

  void count_callback_error() FRODO_EXCLUDES(mutex) {
    detail::MutexLock lock(mutex);
    ++callback_errors;
  }

  // Runs a registered callback unless it was unregistered meanwhile; reports what it throws.
  template <typename Fn, typename... Args>
  void run(Registered<Fn>& r, const char* name, const Args&... args) FRODO_EXCLUDES(mutex) {
    detail::MutexLock running(r.running);
    if (r.removed.load()) return;
    r.runner.store(std::this_thread::get_id());
    try {
      r.fn(args...);
    } catch (const std::exception& e) {
      count_callback_error();
      warn(std::string("an ") + name + " callback threw: " + e.what());
    } catch (...) {
      count_callback_error();
      warn(std::string("an ") + name + " callback threw a non-standard exception");
    }
    r.runner.store(std::thread::id());
  }

  // Unregisters callback `id` of `which` (on_change or on_lease_lost) and waits for a call
  // of it in progress on another thread.
  template <typename Fn>
  void unsubscribe(Callbacks<Fn> State::*which, std::uint64_t id) FRODO_EXCLUDES(mutex) {
    std::shared_ptr<Registered<Fn>> r;
    {
      detail::MutexLock lock(mutex);
      Callbacks<Fn>& callbacks = this->*which;
      auto it = callbacks.find(id);
      if (it == callbacks.end()) return;
      r = std::move(it->second);
      callbacks.erase(it);
    }
    r->removed.store(true);
    if (r->runner.load() != std::this_thread::get_id()) detail::MutexLock wait(r->running);
  }

  void warn(const std::string& message) const noexcept {
    try {
      if (options.logger) {
        options.logger(message);
      } else {
        std::cerr << "frodo: " << message << '\n';
      }
    } catch (...) {
      // A logger that throws cannot be told about it.
    }
  }

  void publish(std::shared_ptr<const View> view) FRODO_REQUIRES(mutex) {
    published = std::move(view);
    current.publish(published);
    changed.notify_all();
  }

  std::shared_ptr<const View> view_with(std::shared_ptr<const Snapshot> snapshot) const FRODO_REQUIRES(mutex) {
    auto view = std::make_shared<View>();
    view->snapshot = std::move(snapshot);
    view->mine.insert(mine.begin(), mine.end());
    return view;
  }

  void on_view(RegistryView next) FRODO_EXCLUDES(mutex) {
    detail::MutexLock lock(mutex);
    std::shared_ptr<const Snapshot> before = published ? published->snapshot : nullptr;
    if (before && next.revision <= before->revision && !next.restarted) return;  // views are complete
    if (next.restarted && before) {
      std::int64_t seen = before->revision;
      lock.unlock();  // the logger is the user's code: never under the lock
      warn("etcd was replaced (a new cluster id): its revisions started over at " + std::to_string(next.revision) +
           " (this process had seen " + std::to_string(seen) + "); the view is taken from it afresh");
      lock.lock();
      before = published ? published->snapshot : nullptr;
    }
    auto snapshot = std::make_shared<Snapshot>();
    bool same_members = before && before->servers == next.servers;
    // Same records (a progress notification, a redelivery): same ring, nothing to compare.
    std::vector<Member> members = same_members ? std::vector<Member>{} : ring_members(next.servers);
    if (same_members || (before && before->ring.members() == members)) {
      snapshot->ring = before->ring;  // copies share the built tables
    } else {
      lock.unlock();  // building a ring is the slow part; do it outside the lock
      try {
        snapshot->ring = (before ? before->ring : Ring({}, options.algorithm)).next(std::move(members));
      } catch (const std::exception& e) {
        // Too many members, or no memory: keep answering from the last view.
        warn("cannot build the ring of revision " + std::to_string(next.revision) + ", keeping the view of revision " +
             std::to_string(before ? before->revision : 0) + ": " + e.what());
        return;
      }
      lock.lock();
      if (published && published->snapshot != before && published->snapshot->revision >= next.revision) return;
    }
    snapshot->servers = std::move(next.servers);
    snapshot->revision = next.revision;
    snapshot->restarts = (before ? before->restarts : 0) + (next.restarted && before ? 1 : 0);
    publish(view_with(snapshot));
    ++view_changes;
    if (options.publish_view && snapshot->ring.checksum_hex() != written) publish_due = true;
    auto callbacks = on_change;
    lock.unlock();
    if (same_members) return;
    const Snapshot empty;
    for (const auto& [id, callback] : callbacks) run(*callback, "on_change", before ? *before : empty, *snapshot);
  }

  void lease_lost(LeaseLossReason reason) FRODO_EXCLUDES(mutex) {
    detail::MutexLock lock(mutex);
    if (reason != LeaseLossReason::closed) ++lease_losses[reason];
    auto callbacks = on_lease_lost;
    lock.unlock();
    for (const auto& [id, callback] : callbacks) run(*callback, "on_lease_lost", reason);
  }

  // The checksum to publish in a record written now ("" before the first view).
  std::string current_checksum() FRODO_EXCLUDES(mutex) {
    detail::MutexLock lock(mutex);
    return published ? published->snapshot->ring.checksum_hex() : std::string();
  }

  // publish_view's thread: writes this Cluster's records again whenever the ring's checksum
  // differs from the one they were last written with. A failed write is reported and tried
  // again at the next change of the view.
  void publish_views() noexcept FRODO_EXCLUDES(mutex, write_mutex) {
    try {
      detail::MutexLock lock(mutex);
      while (true) {
        while (!closed && !publish_due) changed.wait(lock);
        if (closed) return;
        publish_due = false;
        std::string checksum = published ? published->snapshot->ring.checksum_hex() : std::string();
        // Set before the writes, whose own views (the same ring) must not make them due again.
        written = checksum;
        lock.unlock();
        std::size_t writes = 0;
        bool failed = false;
        {
          detail::MutexLock write_lock(write_mutex);
          for (auto [address, record] : own) {
            record.first.meta[view_meta_key] = checksum;
            try {
              session->put(record.first, record.second);
              ++writes;
            } catch (const std::exception& e) {
              failed = true;
              warn("publishing the view " + checksum + " in the record of " + address + " failed: " + e.what());
            }
          }
        }
        lock.lock();
        if (failed && written == checksum) written.clear();  // due again at the next view
        view_publications += writes;
      }
    } catch (const std::exception& e) {
      warn(std::string("the view publisher stopped: ") + e.what());
    } catch (...) {
      warn("the view publisher stopped");
    }
  }

  // The current view (see published.hpp for how long the pointer stays valid).
  const View* view() const { return current.read(); }

  // Waits until the view reflects `revision` (lock not held).
  bool wait_revision(std::int64_t revision, std::chrono::milliseconds timeout) FRODO_EXCLUDES(mutex) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    detail::MutexLock lock(mutex);
    while (!(published && published->snapshot->revision >= revision)) {
      if (!changed.wait_until(lock, deadline)) return published && published->snapshot->revision >= revision;
    }
    return true;
  }
};

namespace {

RegistryEvents events_for(const std::shared_ptr<Cluster::State>& state) {
  std::weak_ptr<Cluster::State> weak = state;
  return {[weak](RegistryView view) {
            if (auto s = weak.lock()) s->on_view(std::move(view));
          },
          [weak](LeaseLossReason reason) {
            if (auto s = weak.lock()) s->lease_lost(reason);
          },
          [weak](const std::string& message) {
            if (auto s = weak.lock()) s->warn(message);
          }};
}

void validate_options(const ClusterOptions& options) {
  validate_context(options.context);
  if (options.lease_ttl < std::chrono::seconds(1)) {
    throw Error(Errc::invalid_argument, "lease TTL must be at least 1 s, got " +
                                            std::to_string(options.lease_ttl.count()) + " s");
  }
  if (options.prefix.empty() || options.prefix.front() != '/' || options.prefix.back() == '/') {
    throw Error(Errc::invalid_argument, "bad key prefix '" + options.prefix + "': must start with / and not end with /");
  }
  if (options.connect_timeout < std::chrono::milliseconds(0)) {
    throw Error(Errc::invalid_argument, "connect_timeout must not be negative, got " +
                                            std::to_string(options.connect_timeout.count()) + " ms");
  }
  if (options.max_value_bytes < 1024 || options.max_value_bytes > 16 * 1024 * 1024) {
    throw Error(Errc::invalid_argument, "max_value_bytes must be between 1024 and 16777216, got " +
                                            std::to_string(options.max_value_bytes));
  }
}

}  // namespace

Cluster::Cluster(ClusterOptions options) : state_(std::make_shared<State>()) {
  validate_options(options);
  state_->options = std::move(options);
  auto connection = std::make_shared<etcd::Connection>(state_->options.etcd);
  const auto deadline = etcd::Clock::now() + state_->options.connect_timeout;
  bool waiting = false;
  while (!state_->session) {
    try {
      state_->session = detail::open_etcd_session(
          connection, detail::servers_prefix(state_->options.prefix, state_->options.context),
          state_->options.lease_ttl, state_->options.connect_timeout, state_->options.max_value_bytes,
          events_for(state_));
    } catch (const Error& e) {
      const bool transient = e.code() == Errc::unavailable || e.code() == Errc::deadline_exceeded;
      if (!transient || etcd::Clock::now() >= deadline) throw;
      if (!waiting) {
        waiting = true;
        state_->warn("etcd is not answering yet (" + std::string(e.what()) + "); trying again for up to " +
                     std::to_string(state_->options.connect_timeout.count()) + " ms (connect_timeout)");
      }
      // Nothing to do until a member's connection moves (or, when one is up but etcd
      // answered "unavailable", e.g. while it elects a leader, the next half second).
      connection->await_channel_change(deadline);
    }
  }
  start_threads();
}

void Cluster::start_threads() {
  if (state_->options.publish_view) state_->publisher = std::thread([state = state_.get()] { state->publish_views(); });
}

Cluster::Cluster(ClusterOptions options, std::shared_ptr<MemoryRegistry> registry) : state_(std::make_shared<State>()) {
  validate_options(options);
  state_->options = std::move(options);
  if (!registry) throw Error(Errc::invalid_argument, "no memory registry given");
  state_->session = registry->open(state_->options.context, events_for(state_));
  start_threads();
}

Cluster::~Cluster() { close(); }

void Cluster::close() {
  {
    detail::MutexLock lock(state_->mutex);
    if (state_->closed) return;
    state_->closed = true;
  }
  state_->changed.notify_all();
  if (state_->publisher.joinable()) state_->publisher.join();
  state_->session->close();
}

std::int64_t Cluster::add_server(const std::string& address, const AddOptions& options) {
  ServerInfo server{address, options.weight, options.zone, options.meta};
  detail::validate_server(server, state_->options.max_value_bytes);
  {
    detail::MutexLock lock(state_->mutex);
    if (state_->closed) throw Error(Errc::failed_precondition, "add_server on a closed Cluster");
    if (options.persistent) {
      state_->mine.erase(address);
    } else {
      state_->mine.insert(address);
    }
    if (state_->published) state_->publish(state_->view_with(state_->published->snapshot));
  }
  std::int64_t revision = 0;
  if (state_->options.publish_view) {
    detail::MutexLock write_lock(state_->write_mutex);
    state_->own[address] = {server, options.persistent};
    server.meta[view_meta_key] = state_->current_checksum();
    revision = state_->session->put(server, options.persistent);
  } else {
    revision = state_->session->put(server, options.persistent);
  }
  wait_own_write(revision, "registered " + address);
  return revision;
}

bool Cluster::remove_server(const std::string& address) {
  if (auto problem = address_problem(address)) {
    throw Error(Errc::invalid_argument, "bad address '" + address + "': " + *problem);
  }
  {
    detail::MutexLock lock(state_->mutex);
    if (state_->mine.erase(address) && state_->published) {
      state_->publish(state_->view_with(state_->published->snapshot));
    }
  }
  std::int64_t revision = 0;
  if (state_->options.publish_view) {
    detail::MutexLock write_lock(state_->write_mutex);
    state_->own.erase(address);
    revision = state_->session->remove(address);
  } else {
    revision = state_->session->remove(address);
  }
  if (revision == 0) return false;
  wait_own_write(revision, "removed " + address);
  return true;
}

void Cluster::wait_own_write(std::int64_t revision, const std::string& what) const {
  std::chrono::milliseconds timeout = state_->options.etcd.call_timeout;
  if (!state_->wait_revision(revision, timeout)) {
    throw Error(Errc::deadline_exceeded, what + " at revision " + std::to_string(revision) +
                                             ", but this process's view did not reach that revision within " +
                                             std::to_string(timeout.count()) + " ms");
  }
}

std::optional<std::string> Cluster::server_by_id(std::string_view id) const {
  const View* view = state_->view();
  if (!view) return std::nullopt;
  std::optional<std::string_view> owner = view->snapshot->ring.owner(id);
  if (!owner) return std::nullopt;
  return std::string(*owner);
}

std::vector<std::string> Snapshot::owners(std::string_view id, std::size_t n) const {
  std::vector<std::string> result;
  if (n == 0) return result;
  std::vector<std::string_view> order = ring.owners(id, servers.size());
  static const std::string no_zone;
  auto zone_of = [&](std::string_view address) -> const std::string& {
    auto it = std::lower_bound(servers.begin(), servers.end(), address,
                               [](const ServerInfo& a, std::string_view b) { return a.address < b; });
    return it != servers.end() && it->address == address ? it->zone : no_zone;
  };
  // First pass: one server per zone not yet chosen, in ring order; then the rest in ring order.
  std::set<std::string> zones;
  std::vector<bool> taken(order.size(), false);
  for (std::size_t i = 0; i < order.size() && result.size() < n; ++i) {
    if (zones.insert(zone_of(order[i])).second) {
      result.emplace_back(order[i]);
      taken[i] = true;
    }
  }
  for (std::size_t i = 0; i < order.size() && result.size() < n; ++i) {
    if (!taken[i]) result.emplace_back(order[i]);
  }
  return result;
}

std::vector<std::string> Cluster::owners(std::string_view id, std::size_t n) const {
  const View* view = state_->view();
  if (!view) return {};
  return view->snapshot->owners(id, n);
}

bool Cluster::owns(std::string_view id) const {
  const View* view = state_->view();
  if (!view || !state_->session->lease_alive()) return false;
  std::optional<std::string_view> owner = view->snapshot->ring.owner(id);
  return owner && view->mine.count(std::string(*owner)) > 0;
}

std::shared_ptr<const Snapshot> Cluster::snapshot() const {
  detail::MutexLock lock(state_->mutex);
  return state_->published ? state_->published->snapshot : std::make_shared<const Snapshot>();
}

bool Cluster::wait_ready(std::chrono::milliseconds timeout) const { return wait_revision(1, timeout); }

bool Cluster::wait_revision(std::int64_t revision, std::chrono::milliseconds timeout) const {
  return state_->wait_revision(revision, timeout);
}

bool Cluster::lease_alive() const { return state_->session->lease_alive(); }
std::int64_t Cluster::lease_id() const { return state_->session->lease_id(); }
std::chrono::seconds Cluster::lease_ttl() const { return state_->options.lease_ttl; }

ClusterStats Cluster::stats() const {
  ClusterStats stats;
  stats.context = state_->options.context;
  stats.algorithm = state_->options.algorithm;
  {
    detail::MutexLock lock(state_->mutex);
    if (state_->published) {
      const Snapshot& s = *state_->published->snapshot;
      stats.revision = s.revision;
      stats.restarts = s.restarts;
      stats.servers = s.servers.size();
      stats.ring_members = s.ring.size();
      stats.checksum = s.ring.checksum();
    }
    stats.view_changes = state_->view_changes;
    stats.callback_errors = state_->callback_errors;
    stats.lease_losses = state_->lease_losses;
    stats.view_publications = state_->view_publications;
  }
  stats.lease_alive = state_->session->lease_alive();
  stats.lease_id = state_->session->lease_id();
  stats.registry = state_->session->stats();
  return stats;
}

Subscription Cluster::on_change(std::function<void(const Snapshot&, const Snapshot&)> callback) {
  std::uint64_t id = 0;
  {
    detail::MutexLock lock(state_->mutex);
    id = state_->next_callback++;
    state_->on_change.emplace(id, std::make_shared<Registered<ChangeCallback>>(std::move(callback)));
  }
  std::weak_ptr<State> weak = state_;
  return Subscription([weak, id] {
    if (auto s = weak.lock()) s->unsubscribe(&State::on_change, id);
  });
}

Subscription Cluster::on_lease_lost(std::function<void(LeaseLossReason)> callback) {
  std::uint64_t id = 0;
  {
    detail::MutexLock lock(state_->mutex);
    id = state_->next_callback++;
    state_->on_lease_lost.emplace(id, std::make_shared<Registered<LeaseCallback>>(std::move(callback)));
  }
  std::weak_ptr<State> weak = state_;
  return Subscription([weak, id] {
    if (auto s = weak.lock()) s->unsubscribe(&State::on_lease_lost, id);
  });
}

const ClusterOptions& Cluster::options() const { return state_->options; }

}  // namespace frodo
