#include "etcd_registry.hpp"

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "etcd/kv.hpp"
#include "etcd/lease_keeper.hpp"
#include "etcd/watcher.hpp"
#include "server_record.hpp"

namespace frodo::detail {
namespace {

LeaseLossReason reason_of(etcd::LeaseLoss loss) {
  switch (loss) {
    case etcd::LeaseLoss::expired: return LeaseLossReason::expired;
    case etcd::LeaseLoss::revoked: return LeaseLossReason::revoked;
    case etcd::LeaseLoss::unreachable: return LeaseLossReason::unreachable;
  }
  return LeaseLossReason::expired;
}

class EtcdSession : public RegistrySession {
 public:
  EtcdSession(std::shared_ptr<etcd::Connection> connection, std::string prefix, std::chrono::seconds ttl,
              RegistryEvents events)
      : connection_(std::move(connection)), kv_(connection_), prefix_(std::move(prefix)), events_(std::move(events)) {
    keeper_ = std::make_unique<etcd::LeaseKeeper>(
        connection_, etcd::LeaseKeeperOptions{.ttl = ttl, .regrant = true},
        [this](std::int64_t, etcd::LeaseLoss loss) {
          if (events_.on_lease_lost) events_.on_lease_lost(reason_of(loss));
        },
        [this](std::int64_t lease) { reregister(lease); });
    list_and_watch();  // the first view, before the constructor returns
    thread_ = std::thread([this] { supervise(); });
  }

  ~EtcdSession() override { close(); }

  void put(const ServerInfo& server, bool persistent) override {
    validate_server(server);
    {
      // Recorded first: if the lease is being re-granted right now, the re-grant puts it back.
      std::lock_guard lock(mutex_);
      if (persistent) {
        mine_.erase(server.address);
      } else {
        mine_[server.address] = server;
      }
    }
    std::int64_t lease = 0;
    if (!persistent) {
      // Between a loss and the re-grant there is no lease to attach to: wait for it, within
      // the call timeout.
      auto deadline = etcd::Clock::now() + connection_->options().call_timeout;
      while ((lease = keeper_->id()) == 0 && etcd::Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (lease == 0) {
        throw Error(Errc::lease_lost, "cannot register " + server.address +
                                          " now: the lease was lost and is not re-granted yet (it will be "
                                          "registered when it is)");
      }
    }
    kv_.put(prefix_ + server.address, encode_server(server), lease);
  }

  bool remove(const std::string& address) override {
    {
      std::lock_guard lock(mutex_);
      mine_.erase(address);
    }
    return kv_.remove(prefix_ + address) > 0;
  }

  bool lease_alive() const override { return keeper_->alive(); }

  void close() override {
    std::call_once(closed_, [this] {
      {
        std::lock_guard lock(mutex_);
        closing_ = true;
      }
      wake_.notify_all();
      if (thread_.joinable()) thread_.join();
      std::unique_ptr<etcd::Watcher> watcher;
      {
        std::lock_guard lock(mutex_);
        watcher = std::move(watcher_);
      }
      watcher.reset();
      keeper_->close();  // revokes: this session's servers leave at once
    });
  }

 private:
  // Lists the context (a consistent snapshot at one revision), publishes it, and watches
  // from the next revision.
  void list_and_watch() {
    etcd::RangeResult list = kv_.get_prefix(prefix_);
    std::map<std::string, ServerInfo> servers;
    for (const etcd::KeyValue& kv : list.kvs) apply_put(servers, kv);
    std::vector<ServerInfo> view;
    {
      std::lock_guard lock(mutex_);
      servers_ = std::move(servers);
      revision_ = list.revision;
      view = current_view();
    }
    if (events_.on_view) events_.on_view(std::move(view), list.revision);
    auto watcher = std::make_unique<etcd::Watcher>(
        connection_, prefix_, list.revision + 1,
        etcd::WatcherCallbacks{[this](const std::vector<etcd::WatchEvent>& events, std::int64_t revision) {
                                 on_events(events, revision);
                               },
                               [this](std::int64_t revision) { on_progress(revision); },
                               [this](std::int64_t) {
                                 std::lock_guard lock(mutex_);
                                 resync_ = true;
                                 wake_.notify_all();
                               },
                               [this](const Error& e) { warn(std::string("etcd watch: ") + e.what()); }});
    std::unique_ptr<etcd::Watcher> old;
    {
      std::lock_guard lock(mutex_);
      old = std::move(watcher_);
      watcher_ = std::move(watcher);
    }
  }

  void apply_put(std::map<std::string, ServerInfo>& servers, const etcd::KeyValue& kv) {
    std::string address = kv.key.substr(prefix_.size());
    std::string problem;
    if (auto server = decode_server(address, kv.value, &problem)) {
      servers[address] = *server;
    } else {
      servers.erase(address);
      warn("skipping " + kv.key + ": " + problem);
    }
  }

  void on_events(const std::vector<etcd::WatchEvent>& events, std::int64_t revision) {
    std::vector<ServerInfo> view;
    {
      std::lock_guard lock(mutex_);
      for (const etcd::WatchEvent& e : events) {
        if (e.type == etcd::WatchEvent::Type::remove) {
          servers_.erase(e.kv.key.substr(prefix_.size()));
        } else {
          apply_put(servers_, e.kv);
        }
      }
      revision_ = revision;
      view = current_view();
    }
    if (events_.on_view) events_.on_view(std::move(view), revision);
  }

  void on_progress(std::int64_t revision) {
    std::vector<ServerInfo> view;
    {
      std::lock_guard lock(mutex_);
      if (revision <= revision_) return;
      revision_ = revision;
      view = current_view();
    }
    if (events_.on_view) events_.on_view(std::move(view), revision);
  }

  std::vector<ServerInfo> current_view() const {
    std::vector<ServerInfo> view;
    for (const auto& [address, server] : servers_) view.push_back(server);
    return view;
  }

  // After a re-grant: put this session's servers back on the new lease.
  void reregister(std::int64_t lease) {
    std::map<std::string, ServerInfo> mine;
    {
      std::lock_guard lock(mutex_);
      mine = mine_;
    }
    for (const auto& [address, server] : mine) {
      try {
        kv_.put(prefix_ + address, encode_server(server), lease);
      } catch (const Error& e) {
        warn("re-registering " + address + " failed: " + e.what());
      }
    }
  }

  // Re-lists when the watcher asks for a resync (it cannot be replaced from its own thread).
  void supervise() {
    std::unique_lock lock(mutex_);
    while (!closing_) {
      wake_.wait(lock, [this] { return closing_ || resync_; });
      if (closing_) break;
      resync_ = false;
      lock.unlock();
      try {
        list_and_watch();
      } catch (const Error& e) {
        warn(std::string("re-listing after a compaction failed, retrying: ") + e.what());
        lock.lock();
        resync_ = true;
        wake_.wait_for(lock, std::chrono::milliseconds(500), [this] { return closing_; });
        continue;
      }
      lock.lock();
    }
  }

  void warn(const std::string& message) {
    if (events_.on_warning) events_.on_warning(message);
  }

  std::shared_ptr<etcd::Connection> connection_;
  etcd::Kv kv_;
  std::string prefix_;
  RegistryEvents events_;
  std::unique_ptr<etcd::LeaseKeeper> keeper_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool closing_ = false;
  bool resync_ = false;
  std::map<std::string, ServerInfo> servers_;
  std::map<std::string, ServerInfo> mine_;  // registered with a lease by this session
  std::int64_t revision_ = 0;
  std::unique_ptr<etcd::Watcher> watcher_;
  std::thread thread_;
  std::once_flag closed_;
};

}  // namespace

std::unique_ptr<RegistrySession> open_etcd_session(std::shared_ptr<etcd::Connection> connection,
                                                   const std::string& servers_prefix, std::chrono::seconds ttl,
                                                   RegistryEvents events) {
  return std::make_unique<EtcdSession>(std::move(connection), servers_prefix, ttl, std::move(events));
}

}  // namespace frodo::detail
