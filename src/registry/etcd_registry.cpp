#include "etcd_registry.hpp"

#include <atomic>
#include <map>
#include <mutex>  // std::once_flag
#include <optional>
#include <thread>

#include "core/mutex.hpp"
#include "etcd/kv.hpp"
#include "etcd/lease_keeper.hpp"
#include "etcd/watcher.hpp"
#include "server_record.hpp"
#include "view_builder.hpp"

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

// How long a failing re-list waits before it tries again: doubling from half a second to
// half a minute, so a context that cannot be listed costs etcd little.
constexpr auto first_relist_backoff = std::chrono::milliseconds(500);
constexpr auto max_relist_backoff = std::chrono::milliseconds(30000);

class EtcdSession : public RegistrySession {
 public:
  EtcdSession(std::shared_ptr<etcd::Connection> connection, std::string prefix, std::chrono::seconds ttl,
              std::chrono::milliseconds lease_wait, std::size_t max_value_bytes, RegistryEvents events)
      : connection_(std::move(connection)),
        kv_(connection_),
        prefix_(std::move(prefix)),
        ttl_(ttl),
        connect_timeout_(lease_wait),
        lease_wait_(std::max(lease_wait, connection_->options().call_timeout)),
        max_value_bytes_(max_value_bytes),
        events_(std::move(events)),
        builder_(prefix_, max_value_bytes) {
    // No lease yet (the first put that needs one grants it), so a failing listing leaves
    // no thread behind: the watcher is created last, by list_and_watch, and the supervisor
    // after it; members are declared so that every thread is stopped before what it uses.
    list_and_watch();  // the first view, delivered before the constructor returns
    deliverer_ = std::thread([this] { deliver(); });
    thread_ = std::thread([this] { supervise(); });
  }

  ~EtcdSession() override { close(); }

  std::int64_t put(const ServerInfo& server, bool persistent) override {
    validate_server(server, max_value_bytes_);
    {
      // Recorded first: if the lease is being re-granted right now, the re-grant puts it back.
      detail::MutexLock lock(mutex_);
      if (persistent) {
        mine_.erase(server.address);
      } else {
        mine_[server.address] = server;
      }
    }
    std::int64_t lease = 0;
    if (!persistent) {
      etcd::LeaseKeeper& keeper = lease_keeper();
      // Between a loss and the re-grant there is no lease to attach to: wait for the re-grant
      // (reregister wakes us), within lease_wait_.
      {
        const auto until = etcd::Clock::now() + lease_wait_;
        detail::MutexLock lock(mutex_);
        while (!closing_ && (lease = keeper.id()) == 0 && wake_.wait_until(lock, until)) {
        }
        if (lease == 0) lease = keeper.id();
      }
      if (lease == 0) {
        throw Error(Errc::lease_lost, "cannot register " + server.address +
                                          " now: the lease was lost and is not re-granted yet (it will be "
                                          "registered when it is)");
      }
    }
    return kv_.put(prefix_ + server.address, encode_server(server), lease);
  }

  std::int64_t remove(const std::string& address) override {
    {
      detail::MutexLock lock(mutex_);
      mine_.erase(address);
    }
    std::int64_t revision = 0;
    return kv_.remove(prefix_ + address, &revision) > 0 ? revision : 0;
  }

  bool lease_alive() const override {
    const etcd::LeaseKeeper* keeper = keeper_ptr_.load(std::memory_order_acquire);
    return keeper == nullptr || keeper->alive();
  }

  std::int64_t lease_id() const override {
    const etcd::LeaseKeeper* keeper = keeper_ptr_.load(std::memory_order_acquire);
    return keeper == nullptr ? 0 : keeper->id();
  }

  RegistryStats stats() const override {
    RegistryStats stats;
    stats.watch_restarts = watch_restarts_.load(std::memory_order_relaxed);
    stats.resyncs = resyncs_.load(std::memory_order_relaxed);
    stats.skipped_values = skipped_values_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < etcd::rpc_count; ++i) {
      const etcd::CallStats& call = connection_->call_stats(static_cast<etcd::Rpc>(i));
      stats.etcd_calls.push_back({etcd::rpc_name(static_cast<etcd::Rpc>(i)), call.latency.read(),
                                  call.failures.load(std::memory_order_relaxed)});
    }
    return stats;
  }

  void close() override {
    std::call_once(closed_, [this] {
      {
        detail::MutexLock lock(mutex_);
        closing_ = true;
      }
      wake_.notify_all();
      if (thread_.joinable()) thread_.join();
      if (deliverer_.joinable()) deliverer_.join();
      std::unique_ptr<etcd::Watcher> watcher;
      {
        detail::MutexLock lock(mutex_);
        watcher = std::move(watcher_);
      }
      watcher.reset();
      detail::MutexLock lock(keeper_mutex_);
      // Closed, not destroyed: lease_alive() may still read it from a lookup thread.
      if (keeper_) keeper_->close();  // revokes: this session's servers leave at once
    });
  }

 private:
  // The session's lease keeper, granting the lease on first use (throws the etcd error if
  // it cannot). Read-only sessions never get here, so they never write to etcd.
  etcd::LeaseKeeper& lease_keeper() {
    detail::MutexLock keeper_lock(keeper_mutex_);
    {
      detail::MutexLock lock(mutex_);
      if (closing_) throw Error(Errc::failed_precondition, "the registry session is closed");
    }
    // The first grant: retried within the connect deadline while etcd is unreachable or slow
    // (a loaded machine), woken by a channel's change.
    const auto until = etcd::Clock::now() + connect_timeout_;
    bool waiting = false;
    while (!keeper_) {
      try {
        keeper_ = std::make_unique<etcd::LeaseKeeper>(
            connection_, etcd::LeaseKeeperOptions{.ttl = ttl_, .regrant = true},
            [this](std::int64_t, etcd::LeaseLoss loss) {
              if (events_.on_lease_lost) events_.on_lease_lost(reason_of(loss));
            },
            [this](std::int64_t lease) { reregister(lease); }, [this](const std::string& message) { warn(message); });
      } catch (const Error& e) {
        const bool transient = e.code() == Errc::unavailable || e.code() == Errc::deadline_exceeded;
        if (!transient || etcd::Clock::now() >= until) throw;
        if (!waiting) {
          waiting = true;
          warn("granting the lease: etcd is not answering yet (" + std::string(e.what()) +
               "); trying again for up to " + std::to_string(connect_timeout_.count()) + " ms (connect_timeout)");
        }
        connection_->await_channel_change(until);
        // close() waits for this lock: give up within one wait, not at the deadline.
        detail::MutexLock lock(mutex_);
        if (closing_) throw Error(Errc::failed_precondition, "the registry session is closed");
        continue;
      }
      keeper_ptr_.store(keeper_.get(), std::memory_order_release);
    }
    return *keeper_;
  }

  // Lists the context (a consistent snapshot at one revision), publishes it, and watches
  // from the next revision.
  void list_and_watch() {
    etcd::RangeResult list = kv_.get_prefix(prefix_);
    ViewBuilder::Step step;
    bool first = false;
    {
      detail::MutexLock lock(mutex_);
      step = builder_.relist(list);
      skipped_values_.fetch_add(step.warnings.size(), std::memory_order_relaxed);
      first = !delivering_;
      if (!first) hand_over(std::move(step.view), std::move(step.warnings));
    }
    if (first) {  // the constructor's
      for (const std::string& warning : step.warnings) warn(warning);
      if (events_.on_view) events_.on_view(std::move(step.view));
    }
    {
      detail::MutexLock lock(mutex_);
      delivering_ = true;
    }
    auto watcher = std::make_unique<etcd::Watcher>(
        connection_, prefix_, list.revision + 1,
        etcd::WatcherCallbacks{[this](const std::vector<etcd::WatchEvent>& events, std::int64_t revision) {
                                 on_events(events, revision);
                               },
                               [this](std::int64_t revision) { on_progress(revision); },
                               [this](std::int64_t compact_revision) {
                                 resyncs_.fetch_add(1, std::memory_order_relaxed);
                                 detail::MutexLock lock(mutex_);
                                 resync_ = true;
                                 resync_reason_ = compact_revision == 0
                                                      ? "the watch cannot go on, see the warning before"
                                                      : "revision " + std::to_string(compact_revision) + " was compacted";
                                 wake_.notify_all();
                               },
                               [this](const Error& e) { warn(std::string("etcd watch: ") + e.what()); }},
        etcd::WatcherOptions{.cluster_id = list.cluster_id, .restarts = &watch_restarts_});
    std::unique_ptr<etcd::Watcher> old;
    {
      detail::MutexLock lock(mutex_);
      old = std::move(watcher_);
      watcher_ = std::move(watcher);
    }
  }

  void on_events(const std::vector<etcd::WatchEvent>& events, std::int64_t revision) {
    ViewBuilder::Step step;
    {
      detail::MutexLock lock(mutex_);
      step = builder_.apply(events, revision);
      skipped_values_.fetch_add(step.warnings.size(), std::memory_order_relaxed);
      hand_over(std::move(step.view), std::move(step.warnings));
    }
  }

  void on_progress(std::int64_t revision) {
    detail::MutexLock lock(mutex_);
    if (std::optional<RegistryView> view = builder_.progress(revision)) hand_over(std::move(*view));
  }

  // Gives a view to the delivering thread. Views are complete, so one that has not been
  // delivered yet is replaced by the next: a burst of changes that arrives while the
  // Cluster builds a ring becomes one view, delivered as soon as that build ends.
  // Its warnings (skipped values) are logged just before it is delivered, so whoever sees the
  // view has been told what it lacks.
  void hand_over(RegistryView view, std::vector<std::string> warnings = {}) FRODO_REQUIRES(mutex_) {
    if (pending_) view.restarted = view.restarted || pending_->restarted;  // a skipped view's news
    pending_ = std::move(view);
    for (std::string& warning : warnings) {
      // Bounded while a delivery is slow: the count of skipped values keeps the rest.
      if (pending_warnings_.size() < max_pending_warnings) {
        pending_warnings_.push_back(std::move(warning));
      } else {
        ++warnings_not_shown_;
      }
    }
    ++handed_over_;
    wake_.notify_all();
  }

  // The delivering thread: hands the newest view to on_view, one at a time, in order. A
  // failed delivery (on_view threw) is reported and tried again after a back-off unless a
  // newer view came meanwhile.
  void deliver() noexcept {
    try {
      auto backoff = first_relist_backoff;
      detail::MutexLock lock(mutex_);
      while (!closing_) {
        while (!closing_ && !pending_) wake_.wait(lock);
        if (closing_) break;
        RegistryView view = std::move(*pending_);
        pending_.reset();
        std::vector<std::string> warnings = std::move(pending_warnings_);
        pending_warnings_.clear();
        if (warnings_not_shown_ > 0) {
          warnings.push_back(std::to_string(warnings_not_shown_) + " more values skipped while a view was delivered");
          warnings_not_shown_ = 0;
        }
        lock.unlock();
        for (const std::string& warning : warnings) warn(warning);
        std::string failure;
        try {
          if (events_.on_view) events_.on_view(view);
          backoff = first_relist_backoff;
        } catch (const std::exception& e) {
          failure = e.what();
        } catch (...) {
          failure = "a non-standard exception";
        }
        lock.lock();
        if (failure.empty()) continue;
        warn_unlocked("delivering the view of revision " + std::to_string(view.revision) + " failed (" + failure +
                      "); trying again in " + std::to_string(backoff.count()) + " ms unless a newer one comes");
        if (!pending_) pending_ = std::move(view);
        const std::uint64_t handed = handed_over_;
        const auto retry_at = etcd::Clock::now() + backoff;
        while (!closing_ && handed_over_ == handed && wake_.wait_until(lock, retry_at)) {
        }
        backoff = std::min(backoff * 2, max_relist_backoff);
      }
    } catch (const std::exception& e) {
      warn(std::string("the registry's view delivery stopped: ") + e.what());
    } catch (...) {
      warn("the registry's view delivery stopped");
    }
  }

  // After a re-grant: put this session's servers back on the new lease.
  void reregister(std::int64_t lease) {
    std::map<std::string, ServerInfo> mine;
    {
      detail::MutexLock lock(mutex_);
      mine = mine_;
    }
    wake_.notify_all();  // a put waiting for the lease
    for (const auto& [address, server] : mine) {
      try {
        kv_.put(prefix_ + address, encode_server(server), lease);
      } catch (const std::exception& e) {
        warn("re-registering " + address + " failed: " + e.what());
      }
    }
  }

  // Re-lists when the watcher asks for a resync (it cannot be replaced from its own thread).
  // A failing re-list keeps the last view, says so, and backs off.
  void supervise() {
    try {
      auto backoff = first_relist_backoff;
      detail::MutexLock lock(mutex_);
      while (!closing_) {
        while (!closing_ && !resync_) wake_.wait(lock);
        if (closing_) break;
        resync_ = false;
        std::string reason = resync_reason_;
        std::int64_t kept = builder_.revision();
        lock.unlock();
        std::string failure;
        try {
          list_and_watch();
          backoff = first_relist_backoff;
        } catch (const std::exception& e) {
          failure = e.what();
        }
        lock.lock();
        if (failure.empty()) continue;
        warn_unlocked("re-listing " + prefix_ + " (" + reason + ") failed, keeping the view of revision " +
                                std::to_string(kept) + ", retrying in " + std::to_string(backoff.count()) +
                                " ms: " + failure);
        resync_ = true;
        const auto retry_at = etcd::Clock::now() + backoff;
        while (!closing_ && wake_.wait_until(lock, retry_at)) {
        }
        backoff = std::min(backoff * 2, max_relist_backoff);
      }
    } catch (const std::exception& e) {
      warn(std::string("the registry's supervisor stopped: ") + e.what());
    } catch (...) {
      warn("the registry's supervisor stopped");
    }
  }

  // warn() from a thread that holds mutex_: released while the user's logger runs.
  void warn_unlocked(const std::string& message) FRODO_REQUIRES(mutex_) {
    mutex_.unlock();
    warn(message);
    mutex_.lock();
  }

  void warn(const std::string& message) noexcept {
    if (!events_.on_warning) return;
    try {
      events_.on_warning(message);
    } catch (...) {
      // A reporter that fails cannot be told about it.
    }
  }

  // What the threads below use is declared first, so it is destroyed after them.
  std::shared_ptr<etcd::Connection> connection_;
  etcd::Kv kv_;
  std::string prefix_;
  std::chrono::seconds ttl_;
  std::chrono::milliseconds connect_timeout_;  // ClusterOptions::connect_timeout: retrying the first grant
  std::chrono::milliseconds lease_wait_;       // how long put() waits for a lost lease's re-grant
  std::size_t max_value_bytes_;
  RegistryEvents events_;
  std::atomic<std::uint64_t> watch_restarts_{0};
  std::atomic<std::uint64_t> resyncs_{0};
  std::atomic<std::uint64_t> skipped_values_{0};

  // keeper_mutex_ (creating and closing the keeper) is taken before mutex_, never after.
  detail::Mutex keeper_mutex_;
  mutable detail::Mutex mutex_ FRODO_ACQUIRED_AFTER(keeper_mutex_);
  detail::CondVar wake_;  // closing, a resync asked for, a lease re-granted, a view to deliver
  bool closing_ FRODO_GUARDED_BY(mutex_) = false;
  // The newest view not delivered yet; false `delivering_` until the constructor's first view
  // is delivered (on the constructor's thread, so a Cluster starts with a view).
  std::optional<RegistryView> pending_ FRODO_GUARDED_BY(mutex_);
  bool delivering_ FRODO_GUARDED_BY(mutex_) = false;
  std::uint64_t handed_over_ FRODO_GUARDED_BY(mutex_) = 0;  // views given to deliver(), ever
  static constexpr std::size_t max_pending_warnings = 1000;
  std::vector<std::string> pending_warnings_ FRODO_GUARDED_BY(mutex_);  // to log before pending_
  std::uint64_t warnings_not_shown_ FRODO_GUARDED_BY(mutex_) = 0;
  bool resync_ FRODO_GUARDED_BY(mutex_) = false;
  std::string resync_reason_ FRODO_GUARDED_BY(mutex_);
  ViewBuilder builder_ FRODO_GUARDED_BY(mutex_);  // the context's membership
  // Registered with a lease by this session.
  std::map<std::string, ServerInfo> mine_ FRODO_GUARDED_BY(mutex_);

  std::unique_ptr<etcd::LeaseKeeper> keeper_ FRODO_GUARDED_BY(keeper_mutex_);
  std::atomic<const etcd::LeaseKeeper*> keeper_ptr_{nullptr};  // keeper_, for readers without a lock
  std::unique_ptr<etcd::Watcher> watcher_ FRODO_GUARDED_BY(mutex_);
  std::thread deliverer_;  // deliver()
  std::thread thread_;     // supervise()
  std::once_flag closed_;
};

}  // namespace

std::unique_ptr<RegistrySession> open_etcd_session(std::shared_ptr<etcd::Connection> connection,
                                                   const std::string& servers_prefix, std::chrono::seconds ttl,
                                                   std::chrono::milliseconds lease_wait, std::size_t max_value_bytes,
                                                   RegistryEvents events) {
  return std::make_unique<EtcdSession>(std::move(connection), servers_prefix, ttl, lease_wait, max_value_bytes,
                                       std::move(events));
}

}  // namespace frodo::detail
