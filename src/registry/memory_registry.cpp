// MemoryRegistry: the registry contract in one process, for unit tests and single-process
// use. Every change bumps one revision counter, like etcd's; views are delivered
// synchronously on the thread that made the change, outside the registry's lock.
#include <algorithm>
#include <atomic>
#include <iostream>

#include "core/mutex.hpp"
#include "frodo/error.hpp"
#include "frodo/registry.hpp"
#include "memory_registry_testing.hpp"
#include "server_record.hpp"

namespace frodo {

const char* to_string(LeaseLossReason reason) noexcept {
  switch (reason) {
    case LeaseLossReason::expired: return "expired";
    case LeaseLossReason::revoked: return "revoked";
    case LeaseLossReason::unreachable: return "etcd unreachable past the lease deadline";
    case LeaseLossReason::closed: return "closed";
  }
  return "unknown";
}

struct MemoryRegistry::Impl {
  struct Entry {
    ServerList::Record server;  // created and lease filled in
    std::size_t session = 0;    // 0: persistent
  };
  // A session's fields are read and written under the registry's mutex, except held_lease.
  struct Session {
    std::string context;
    RegistryEvents events;
    std::int64_t lease = 0;  // the current lease's id
    bool lease_alive = true;
    bool open = true;
    bool held = false;     // views are held back (hold_views)
    bool pending = false;  // a view was held back
    std::chrono::steady_clock::time_point renewed{};
    std::map<std::string, ServerInfo> mine;  // registered on a lease, put back by regrant()
    // `lease` while `lease_alive`, else 0: what lease_alive() and lease_id() read without the
    // lock (they are on the guard's lookup path).
    std::atomic<std::int64_t> held_lease{0};
    void set_lease(std::int64_t id, bool alive) {
      lease = id;
      lease_alive = alive;
      held_lease.store(alive ? id : 0, std::memory_order_release);
    }
  };
  detail::Mutex mutex;
  // Set: simulated lease clocks.
  std::function<std::chrono::steady_clock::time_point()> clock FRODO_GUARDED_BY(mutex);
  std::chrono::milliseconds ttl FRODO_GUARDED_BY(mutex){0};
  std::atomic<bool> simulated{false};  // clock is set

  bool alive(const Session& session) const FRODO_REQUIRES(mutex) {
    return session.lease_alive && (!clock || clock() < session.renewed + ttl);
  }
  std::int64_t revision FRODO_GUARDED_BY(mutex) = 1;
  std::int64_t last_lease FRODO_GUARDED_BY(mutex) = 0x1000;  // lease ids, like etcd's: never reused
  std::map<std::string, std::map<std::string, Entry>> contexts FRODO_GUARDED_BY(mutex);
  // Index + 1 = session number.
  std::vector<std::shared_ptr<Session>> sessions FRODO_GUARDED_BY(mutex);

  Session& session(std::size_t number) FRODO_REQUIRES(mutex) {
    if (number == 0 || number > sessions.size()) {
      throw Error(Errc::invalid_argument, "no memory registry session " + std::to_string(number));
    }
    return *sessions[number - 1];
  }

  RegistryView view(const std::string& context) FRODO_REQUIRES(mutex) {
    std::vector<ServerList::Record> servers;
    for (const auto& [address, entry] : contexts[context]) servers.push_back(entry.server);
    return {ServerList(std::move(servers)), revision};
  }

  // Stores `server` for `number`: a key that exists keeps its create revision, as in etcd.
  // Returns the revision of the write.
  std::int64_t store(const ServerInfo& server, std::size_t number, bool persistent) FRODO_REQUIRES(mutex) {
    Session& s = session(number);
    auto& servers = contexts[s.context];
    auto record = std::make_shared<ServerInfo>(server);
    ++revision;
    auto it = servers.find(server.address);
    record->created = it != servers.end() ? it->second.server->created : revision;
    record->lease = persistent ? 0 : s.lease;
    servers[server.address] = {std::move(record), persistent ? 0 : number};
    if (persistent) {
      s.mine.erase(server.address);
    } else {
      s.mine[server.address] = server;
    }
    return revision;
  }

  // Returns the deliveries to make after unlocking. A session whose views are held gets
  // nothing now, and the newest view when they are let go.
  std::vector<std::function<void()>> notify(const std::string& context) FRODO_REQUIRES(mutex) {
    std::vector<std::function<void()>> calls;
    RegistryView current = view(context);
    for (const auto& s : sessions) {
      if (!s->open || s->context != context || !s->events.on_view) continue;
      if (s->held) {
        s->pending = true;
        continue;
      }
      calls.push_back([f = s->events.on_view, current] { f(current); });
    }
    return calls;
  }
};

namespace {

// Runs deliveries in order; one that throws does not stop the others (the registry
// contract: a callback's failure is reported, not fatal).
void deliver(const std::vector<std::function<void()>>& calls) {
  for (const auto& call : calls) {
    try {
      call();
    } catch (const std::exception& e) {
      std::cerr << "frodo: memory registry: a session callback threw: " << e.what() << '\n';
    } catch (...) {
      std::cerr << "frodo: memory registry: a session callback threw\n";
    }
  }
}

}  // namespace

class MemorySession : public RegistrySession {
 public:
  MemorySession(std::shared_ptr<MemoryRegistry::Impl> impl, std::size_t number)
      : impl_(std::move(impl)), number_(number), session_(impl_->sessions[number - 1]) {}
  ~MemorySession() override { close(); }

  std::int64_t put(const ServerInfo& server, bool persistent) override {
    detail::validate_server(server);
    std::vector<std::function<void()>> calls;
    std::int64_t revision;
    {
      detail::MutexLock lock(impl_->mutex);
      auto& session = impl_->session(number_);
      if (!persistent && !session.lease_alive) throw Error(Errc::lease_lost, "the session's lease is gone");
      revision = impl_->store(server, number_, persistent);
      calls = impl_->notify(session.context);
    }
    deliver(calls);
    return revision;
  }

  std::int64_t remove(const std::string& address) override {
    std::vector<std::function<void()>> calls;
    std::int64_t revision;
    {
      detail::MutexLock lock(impl_->mutex);
      auto& session = impl_->session(number_);
      session.mine.erase(address);
      auto& servers = impl_->contexts[session.context];
      if (servers.erase(address) == 0) return 0;
      revision = ++impl_->revision;
      calls = impl_->notify(impl_->sessions[number_ - 1]->context);
    }
    deliver(calls);
    return revision;
  }

  bool lease_alive() const override {
    if (!impl_->simulated.load(std::memory_order_acquire)) return session_->held_lease.load(std::memory_order_acquire) != 0;
    detail::MutexLock lock(impl_->mutex);
    return impl_->alive(*session_);
  }

  std::int64_t lease_id() const override { return session_->held_lease.load(std::memory_order_acquire); }

  void close() override {
    std::vector<std::function<void()>> calls;
    {
      detail::MutexLock lock(impl_->mutex);
      auto& session = *impl_->sessions[number_ - 1];
      if (!session.open) return;
      session.open = false;
      session.set_lease(session.lease, false);
      auto& servers = impl_->contexts[session.context];
      std::size_t before = servers.size();
      std::erase_if(servers, [&](const auto& kv) { return kv.second.session == number_; });
      if (servers.size() != before) {
        ++impl_->revision;
        calls = impl_->notify(session.context);
      }
    }
    deliver(calls);
  }

 private:
  std::shared_ptr<MemoryRegistry::Impl> impl_;
  std::size_t number_;
  std::shared_ptr<MemoryRegistry::Impl::Session> session_;  // the same as impl_->sessions[number_ - 1]
};

MemoryRegistry::MemoryRegistry() : impl_(std::make_shared<Impl>()) {}

std::shared_ptr<MemoryRegistry> MemoryRegistry::create() { return std::shared_ptr<MemoryRegistry>(new MemoryRegistry()); }

std::unique_ptr<RegistrySession> MemoryRegistry::open(const std::string& context, RegistryEvents events) {
  std::size_t number;
  RegistryView current;
  {
    detail::MutexLock lock(impl_->mutex);
    auto session = std::make_shared<Impl::Session>();
    session->context = context;
    session->events = events;
    session->set_lease(++impl_->last_lease, true);
    impl_->sessions.push_back(std::move(session));
    if (impl_->clock) impl_->sessions.back()->renewed = impl_->clock();
    number = impl_->sessions.size();
    current = impl_->view(context);
  }
  if (events.on_view) events.on_view(std::move(current));
  return std::make_unique<MemorySession>(impl_, number);
}

void detail::MemoryRegistryAccess::end_lease(MemoryRegistry& registry, std::size_t session_number, LeaseLossReason reason) {
  const std::shared_ptr<MemoryRegistry::Impl>& impl_ = registry.impl_;
  std::vector<std::function<void()>> calls;
  {
    detail::MutexLock lock(impl_->mutex);
    auto& session = impl_->session(session_number);
    if (!session.lease_alive) return;
    session.set_lease(session.lease, false);
    auto& servers = impl_->contexts[session.context];
    std::erase_if(servers, [&](const auto& kv) { return kv.second.session == session_number; });
    ++impl_->revision;
    if (session.open && session.events.on_lease_lost) {
      calls.push_back([f = session.events.on_lease_lost, reason] { f(reason); });
    }
    auto views = impl_->notify(session.context);
    calls.insert(calls.end(), views.begin(), views.end());
  }
  deliver(calls);
}

void detail::MemoryRegistryAccess::simulate_lease_clock(MemoryRegistry& registry, std::function<std::chrono::steady_clock::time_point()> now,
                                          std::chrono::milliseconds ttl) {
  const std::shared_ptr<MemoryRegistry::Impl>& impl_ = registry.impl_;
  detail::MutexLock lock(impl_->mutex);
  impl_->clock = std::move(now);
  impl_->simulated.store(true, std::memory_order_release);
  impl_->ttl = ttl;
  for (auto& session : impl_->sessions) session->renewed = impl_->clock();
}

void detail::MemoryRegistryAccess::keep_alive(MemoryRegistry& registry, std::size_t session_number) {
  const std::shared_ptr<MemoryRegistry::Impl>& impl_ = registry.impl_;
  detail::MutexLock lock(impl_->mutex);
  auto& session = impl_->session(session_number);
  if (impl_->clock) session.renewed = impl_->clock();
}

void detail::MemoryRegistryAccess::regrant(MemoryRegistry& registry, std::size_t session_number) {
  const std::shared_ptr<MemoryRegistry::Impl>& impl_ = registry.impl_;
  std::vector<std::function<void()>> calls;
  {
    detail::MutexLock lock(impl_->mutex);
    auto& session = impl_->session(session_number);
    if (session.lease_alive || !session.open) return;
    session.set_lease(++impl_->last_lease, true);
    if (impl_->clock) session.renewed = impl_->clock();
    // One put per server, as the etcd session does; views of each are delivered in order.
    std::map<std::string, ServerInfo> mine = session.mine;
    for (const auto& [address, server] : mine) {
      impl_->store(server, session_number, false);
      auto views = impl_->notify(session.context);
      calls.insert(calls.end(), views.begin(), views.end());
    }
  }
  deliver(calls);
}

void detail::MemoryRegistryAccess::hold_views(MemoryRegistry& registry, std::size_t session_number) {
  const std::shared_ptr<MemoryRegistry::Impl>& impl_ = registry.impl_;
  detail::MutexLock lock(impl_->mutex);
  impl_->session(session_number).held = true;
}

void detail::MemoryRegistryAccess::release_views(MemoryRegistry& registry, std::size_t session_number) {
  const std::shared_ptr<MemoryRegistry::Impl>& impl_ = registry.impl_;
  std::function<void()> call;
  {
    detail::MutexLock lock(impl_->mutex);
    auto& session = impl_->session(session_number);
    session.held = false;
    if (!session.pending || !session.open || !session.events.on_view) return;
    session.pending = false;
    call = [f = session.events.on_view, current = impl_->view(session.context)] { f(current); };
  }
  deliver({call});
}

std::int64_t MemoryRegistry::revision() const {
  detail::MutexLock lock(impl_->mutex);
  return impl_->revision;
}

}  // namespace frodo
