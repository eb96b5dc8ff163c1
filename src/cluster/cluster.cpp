#include "frodo/cluster.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <iostream>
#include <mutex>
#include <set>
#include <unordered_set>

#include "etcd/connection.hpp"
#include "frodo/address.hpp"
#include "frodo/error.hpp"
#include "frodo/guard.hpp"
#include "registry/etcd_registry.hpp"
#include "registry/server_record.hpp"

namespace frodo {
namespace {

using Clock = std::chrono::steady_clock;

// Published views are never freed while a lookup may still read them: a retired view is
// kept for this long after it was replaced (a lookup takes well under a microsecond).
constexpr auto retire_grace = std::chrono::seconds(30);

}  // namespace

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

// The ring's members: every registered server but those leaving (a guarded server draining
// before it removes itself, see guard.hpp).
std::vector<Member> ring_members(const std::vector<ServerInfo>& servers) {
  std::vector<Member> members;
  members.reserve(servers.size());
  for (const ServerInfo& s : servers) {
    if (!s.meta.contains(leaving_meta_key)) members.push_back({s.address, s.weight, s.zone});
  }
  return members;
}

// What lookups read: a snapshot and which of its servers this Cluster registered.
struct View {
  std::shared_ptr<const Snapshot> snapshot;
  std::unordered_set<std::string> mine;
};

struct Cluster::State {
  ClusterOptions options;
  std::unique_ptr<RegistrySession> session;

  std::atomic<const View*> current{nullptr};  // the lookups' only shared read

  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::shared_ptr<const View> published;  // owns *current
  std::deque<std::pair<Clock::time_point, std::shared_ptr<const View>>> retired;
  std::set<std::string> mine;
  std::vector<std::function<void(const Snapshot&, const Snapshot&)>> on_change;
  std::function<void(LeaseLossReason)> on_lease_lost;
  bool closed = false;

  void warn(const std::string& message) const {
    if (options.logger) {
      options.logger(message);
    } else {
      std::cerr << "frodo: " << message << '\n';
    }
  }

  // Publishes `view` (lock held); frees retired views past their grace period.
  void publish(std::unique_lock<std::mutex>&, std::shared_ptr<const View> view) {
    if (published) retired.emplace_back(Clock::now(), published);
    published = std::move(view);
    current.store(published.get(), std::memory_order_release);
    Clock::time_point now = Clock::now();
    while (retired.size() > 2 && now - retired.front().first > retire_grace) retired.pop_front();
    changed.notify_all();
  }

  std::shared_ptr<const View> view_with(std::shared_ptr<const Snapshot> snapshot) const {
    auto view = std::make_shared<View>();
    view->snapshot = std::move(snapshot);
    view->mine.insert(mine.begin(), mine.end());
    return view;
  }

  void on_view(std::vector<ServerInfo> servers, std::int64_t revision) {
    std::sort(servers.begin(), servers.end(), [](const auto& a, const auto& b) { return a.address < b.address; });
    std::unique_lock lock(mutex);
    std::shared_ptr<const Snapshot> before = published ? published->snapshot : nullptr;
    if (before && revision <= before->revision) return;  // views are complete: an older one adds nothing
    auto snapshot = std::make_shared<Snapshot>();
    bool same_members = before && before->servers == servers;
    std::vector<Member> members = ring_members(servers);
    if (before && before->ring.members() == members) {
      snapshot->ring = before->ring;  // copies share the built tables
    } else {
      lock.unlock();  // building a ring is the slow part; do it outside the lock
      snapshot->ring = Ring(std::move(members), options.algorithm);
      lock.lock();
      if (published && published->snapshot != before && published->snapshot->revision >= revision) return;
    }
    snapshot->servers = std::move(servers);
    snapshot->revision = revision;
    publish(lock, view_with(snapshot));
    auto callbacks = on_change;
    lock.unlock();
    if (same_members) return;
    for (const auto& callback : callbacks) callback(before ? *before : Snapshot{}, *snapshot);
  }

  void lease_lost(LeaseLossReason reason) {
    std::unique_lock lock(mutex);
    auto callback = on_lease_lost;
    lock.unlock();
    if (callback) callback(reason);
  }

  const View* view() const { return current.load(std::memory_order_acquire); }
};

namespace {

RegistryEvents events_for(const std::shared_ptr<Cluster::State>& state) {
  std::weak_ptr<Cluster::State> weak = state;
  return {[weak](std::vector<ServerInfo> servers, std::int64_t revision) {
            if (auto s = weak.lock()) s->on_view(std::move(servers), revision);
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
}

}  // namespace

Cluster::Cluster(ClusterOptions options) : state_(std::make_shared<State>()) {
  validate_options(options);
  state_->options = std::move(options);
  auto connection = std::make_shared<etcd::Connection>(state_->options.etcd);
  state_->session = detail::open_etcd_session(
      connection, detail::servers_prefix(state_->options.prefix, state_->options.context), state_->options.lease_ttl,
      events_for(state_));
}

Cluster::Cluster(ClusterOptions options, std::shared_ptr<MemoryRegistry> registry) : state_(std::make_shared<State>()) {
  validate_options(options);
  state_->options = std::move(options);
  if (!registry) throw Error(Errc::invalid_argument, "no memory registry given");
  state_->session = registry->open(state_->options.context, events_for(state_));
}

Cluster::~Cluster() { close(); }

void Cluster::close() {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->closed) return;
    state_->closed = true;
  }
  state_->session->close();
}

void Cluster::add_server(const std::string& address, const AddOptions& options) {
  ServerInfo server{address, options.weight, options.zone, options.meta};
  detail::validate_server(server);
  {
    std::unique_lock lock(state_->mutex);
    if (state_->closed) throw Error(Errc::invalid_argument, "add_server on a closed Cluster");
    if (options.persistent) {
      state_->mine.erase(address);
    } else {
      state_->mine.insert(address);
    }
    if (state_->published) state_->publish(lock, state_->view_with(state_->published->snapshot));
  }
  state_->session->put(server, options.persistent);
}

bool Cluster::remove_server(const std::string& address) {
  if (auto problem = address_problem(address)) {
    throw Error(Errc::invalid_argument, "bad address '" + address + "': " + *problem);
  }
  {
    std::unique_lock lock(state_->mutex);
    if (state_->mine.erase(address) && state_->published) {
      state_->publish(lock, state_->view_with(state_->published->snapshot));
    }
  }
  return state_->session->remove(address);
}

std::optional<std::string> Cluster::server_by_id(std::string_view id) const {
  const View* view = state_->view();
  if (!view) return std::nullopt;
  std::optional<std::string_view> owner = view->snapshot->ring.owner(id);
  if (!owner) return std::nullopt;
  return std::string(*owner);
}

std::vector<std::string> Cluster::owners(std::string_view id, std::size_t n) const {
  std::vector<std::string> result;
  const View* view = state_->view();
  if (!view || n == 0) return result;
  const Snapshot& s = *view->snapshot;
  std::vector<std::string_view> order = s.ring.owners(id, s.servers.size());
  static const std::string no_zone;
  auto zone_of = [&](std::string_view address) -> const std::string& {
    auto it = std::lower_bound(s.servers.begin(), s.servers.end(), address,
                               [](const ServerInfo& a, std::string_view b) { return a.address < b; });
    return it != s.servers.end() && it->address == address ? it->zone : no_zone;
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

bool Cluster::owns(std::string_view id) const {
  const View* view = state_->view();
  if (!view || !state_->session->lease_alive()) return false;
  std::optional<std::string_view> owner = view->snapshot->ring.owner(id);
  return owner && view->mine.count(std::string(*owner)) > 0;
}

std::shared_ptr<const Snapshot> Cluster::snapshot() const {
  std::lock_guard lock(state_->mutex);
  return state_->published ? state_->published->snapshot : std::make_shared<const Snapshot>();
}

bool Cluster::wait_ready(std::chrono::milliseconds timeout) const { return wait_revision(1, timeout); }

bool Cluster::wait_revision(std::int64_t revision, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->mutex);
  return state_->changed.wait_for(lock, timeout, [&] {
    return state_->published && state_->published->snapshot->revision >= revision;
  });
}

bool Cluster::lease_alive() const { return state_->session->lease_alive(); }

void Cluster::on_change(std::function<void(const Snapshot&, const Snapshot&)> callback) {
  std::lock_guard lock(state_->mutex);
  state_->on_change.push_back(std::move(callback));
}

void Cluster::on_lease_lost(std::function<void(LeaseLossReason)> callback) {
  std::lock_guard lock(state_->mutex);
  state_->on_lease_lost = std::move(callback);
}

}  // namespace frodo
