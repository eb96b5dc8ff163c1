// The ownership guard (include/frodo/guard.hpp): GuardCore's decisions (guard_core.hpp) behind
// one lock, a worker thread that writes the guard's record, and a Cluster that brings the
// views. admit() on a settled server takes no lock: it decides from the published FastPath.
#include "frodo/guard.hpp"

#include <algorithm>
#include <iostream>
#include <thread>
#include <vector>

#include "core/mutex.hpp"
#include "frodo/address.hpp"
#include "frodo/error.hpp"
#include "guard_core.hpp"
#include "published.hpp"

namespace frodo {
namespace {

using Clock = std::chrono::steady_clock;
using detail::epoch_meta_key;

// Unset GuardOptions::release_timeout: this many lease TTLs (docs/ownership-guard.md).
constexpr int release_timeout_ttls = 6;

// Fast-path verdicts, counted per thread (one cache line each) so that admitting threads do
// not write the same memory.
struct alignas(64) FastCounts {
  std::atomic<std::uint64_t> admitted{0};
  std::atomic<std::uint64_t> redirected{0};
};

}  // namespace

const char* to_string(Verdict verdict) noexcept {
  switch (verdict) {
    case Verdict::admit: return "admit";
    case Verdict::redirect: return "redirect";
    case Verdict::wait: return "wait";
  }
  return "unknown";
}

struct Guard::State {
  Cluster& cluster;
  std::string address;
  GuardOptions options;

  mutable detail::Mutex mutex;
  detail::CondVar changed;  // view, in-flight work or stop
  detail::GuardCore core FRODO_GUARDED_BY(mutex);
  const detail::FastPath* published_fast FRODO_GUARDED_BY(mutex) = nullptr;
  detail::Published<detail::FastPath> fast;  // what admit() reads without the lock
  FastCounts fast_counts[detail::InFlight::slot_count];
  std::uint64_t behind_client FRODO_GUARDED_BY(mutex) = 0;  // slow-path waits counted here, not by the core
  std::uint64_t lapsed FRODO_GUARDED_BY(mutex) = 0;  // admissions taken back: the lease ended while admit() ran
  bool stopping FRODO_GUARDED_BY(mutex) = false;
  std::thread worker;

  State(Cluster& c, std::string a, GuardOptions o)
      : cluster(c),
        address(std::move(a)),
        options(std::move(o)),
        core(address,
             options.release_timeout ? *options.release_timeout
                                     : std::chrono::milliseconds(cluster.lease_ttl()) * release_timeout_ttls,
             [this] {
               { detail::MutexLock lock(mutex); }  // a waiter is either before its check or asleep
               changed.notify_all();
             }) {}

  void log(const std::string& message) const noexcept {
    try {
      if (options.logger) {
        options.logger("guard " + address + ": " + message);
      } else if (cluster.options().logger) {
        cluster.options().logger("guard " + address + ": " + message);
      } else {
        std::cerr << "frodo guard " << address << ": " << message << '\n';
      }
    } catch (...) {
    }
  }

  // Logs the warnings the core gathered; mutex is released meanwhile (the caller's lock
  // holds it again on return).
  void flush() FRODO_REQUIRES(mutex) {
    std::vector<std::string> out = core.take_warnings();
    if (out.empty()) return;
    mutex.unlock();
    for (const std::string& message : out) log(message);
    mutex.lock();
  }

  // Publishes the core's fast path if it changed.
  void publish_fast() FRODO_REQUIRES(mutex) {
    std::shared_ptr<const detail::FastPath> f = core.fast_path();
    if (f.get() == published_fast) return;
    published_fast = f.get();
    fast.publish(std::move(f));
  }

  void observe(const Snapshot& s, Clock::time_point now) FRODO_REQUIRES(mutex) {
    core.observe(s, now);
    publish_fast();
    changed.notify_all();
  }

  // The worker thread's entry: nothing escapes it. If the worker cannot go on, no release is
  // published any more, which only makes others wait (until our lease ends): safe, and said.
  void run_worker() noexcept {
    try {
      publish_releases();
    } catch (const std::exception& e) {
      log(std::string("the release worker stopped: ") + e.what());
    } catch (...) {
      log("the release worker stopped");
    }
  }

  // The only writer of our record after registration, so a release never undoes "leaving".
  void publish_releases() FRODO_EXCLUDES(mutex) {
    detail::MutexLock lock(mutex);
    while (!stopping) {
      flush();
      if (stopping) break;
      std::optional<detail::GuardCore::Publication> due = core.due();
      if (!due) {
        changed.wait(lock);
        continue;
      }
      AddOptions record = options.server;
      record.persistent = false;
      record.meta[released_meta_key] = std::to_string(due->released);
      record.meta[epoch_meta_key] = std::to_string(due->epoch);
      if (due->leaving) record.meta[leaving_meta_key] = "1";
      lock.unlock();
      bool ok = true;
      try {
        cluster.add_server(address, record);
      } catch (const std::exception& e) {
        ok = false;
        log("publishing release " + std::to_string(due->released) + " failed: " + e.what());
      }
      std::shared_ptr<const Snapshot> s = cluster.snapshot();
      lock.lock();
      observe(*s, Clock::now());
      if (ok) {
        core.published(*due);
        publish_fast();
        changed.notify_all();
      } else {
        changed.wait_for(lock, std::chrono::milliseconds(200));
      }
    }
  }

  // Stops the worker (the only writer of our record), then deletes the record.
  void stop_and_remove() FRODO_EXCLUDES(mutex) {
    {
      detail::MutexLock lock(mutex);
      stopping = true;
      changed.notify_all();
    }
    if (worker.joinable()) worker.join();
    try {
      cluster.remove_server(address);
    } catch (const std::exception& e) {
      log(std::string("removing the server failed: ") + e.what());
    }
  }

  void sync() FRODO_EXCLUDES(mutex) {
    std::shared_ptr<const Snapshot> s = cluster.snapshot();
    detail::MutexLock lock(mutex);
    observe(*s, Clock::now());
    flush();
  }
};

Guard::Guard(Cluster& cluster, std::string address, GuardOptions options) : address_(std::move(address)) {
  if (auto problem = address_problem(address_)) {
    throw Error(Errc::invalid_argument, "bad address '" + address_ + "': " + *problem);
  }
  if (options.server.persistent) {
    throw Error(Errc::invalid_argument, "a guarded server cannot be persistent: its lease is how others know it died");
  }
  for (const char* key : {released_meta_key, leaving_meta_key, epoch_meta_key}) {
    if (options.server.meta.contains(key)) throw Error(Errc::invalid_argument, std::string("meta key '") + key + "' is the guard's");
  }
  if (options.release_timeout && options.release_timeout->count() <= 0) {
    throw Error(Errc::invalid_argument, "release_timeout must be positive");
  }
  state_ = std::make_shared<State>(cluster, address_, std::move(options));
  std::weak_ptr<State> weak = state_;
  subscription_ = cluster.on_change([weak](const Snapshot&, const Snapshot&) {
    if (auto s = weak.lock()) s->sync();
  });
  state_->sync();
  // Registered with "released 0": others wait for our first release, which the worker
  // publishes as soon as it sees our record (we have nothing in flight yet).
  AddOptions record = state_->options.server;
  record.meta[released_meta_key] = "0";
  record.meta[epoch_meta_key] = "0";
  cluster.add_server(address_, record);
  state_->worker = std::thread([s = state_] { s->run_worker(); });
  state_->sync();
}

Guard::~Guard() {
  subscription_.reset();  // no view callback is left behind, nor running from here on
  State& s = *state_;
  {
    detail::MutexLock lock(s.mutex);
    if (!s.stopping) {
      s.core.start_leaving();
      s.publish_fast();
    }
  }
  s.stop_and_remove();
  detail::MutexLock lock(s.mutex);
  if (!s.core.drained()) {
    s.log("destroyed while admissions are still in flight; their counters stay allocated");
    s.core.keep_in_flight();
  }
}

// An admission is made only if the lease it was checked against still holds once it is
// counted in flight: the lease is read first, and a thread can be paused (frozen, preempted,
// waiting for the guard's lock or the caller's logger) between that read and the verdict for
// longer than the lease has left. Checked again here, last, the lease was alive at a moment
// when the admission was already counted, so no handoff can have passed it by; without this,
// a server thawed after its lease expired admitted under its old epoch (seen in `frodo demo
// --no-fencing`: four requests read from its sockets right after the thaw).
Admission Guard::checked(Admission a, std::int64_t lease) {
  State& s = *state_;
  if (!a || (s.cluster.lease_alive() && s.cluster.lease_id() == lease)) return a;
  std::int64_t revision = a.revision();
  a = Admission();  // done(): out of the in-flight count again
  {
    detail::MutexLock lock(s.mutex);
    ++s.lapsed;
  }
  return detail::AdmissionAccess::wait("lease expired", revision, address_);
}

Admission Guard::admit(std::string_view id, std::int64_t client_revision) {
  State& s = *state_;
  // The fast path compares the lease id only; whether the lease is still alive (a clock read)
  // is checked once, last, by checked(): an admission made on a lapsed lease is taken back.
  std::int64_t lease = s.cluster.lease_id();
  Admission a;
  if (detail::fast_admit(s.fast.read(), address_, id, client_revision, true, lease, a)) {
    FastCounts& counts = s.fast_counts[detail::InFlight::slot_index()];
    (a ? counts.admitted : counts.redirected).fetch_add(1, std::memory_order_relaxed);
    return checked(std::move(a), lease);
  }
  if (client_revision > 0 && !s.cluster.wait_revision(client_revision, s.options.catch_up)) {
    detail::MutexLock lock(s.mutex);
    ++s.behind_client;
    return detail::AdmissionAccess::wait("behind client", s.core.revision(), address_);
  }
  std::shared_ptr<const Snapshot> snapshot = s.cluster.snapshot();
  bool lease_alive = s.cluster.lease_alive();
  lease = s.cluster.lease_id();
  detail::MutexLock lock(s.mutex);
  s.observe(*snapshot, Clock::now());
  s.flush();  // rare (a record warned about); the verdict is made from the state after it
  Admission made = s.core.admit(id, lease_alive, lease);
  lock.unlock();
  return checked(std::move(made), lease);
}

void Guard::leave(std::chrono::milliseconds timeout) {
  State& s = *state_;
  {
    const auto deadline = Clock::now() + timeout;
    detail::MutexLock lock(s.mutex);
    if (s.stopping) return;
    // Out of the ring first (the worker marks our record leaving): clients and the other
    // servers move our ids away; the leaving record starts a new epoch, whose release the
    // worker publishes once the work admitted before it is done.
    s.core.start_leaving();
    s.publish_fast();
    s.changed.notify_all();
    while (!s.core.left() && s.changed.wait_until(lock, deadline)) {
    }
  }
  s.stop_and_remove();
}

GuardStats Guard::stats() const {
  state_->sync();
  detail::MutexLock lock(state_->mutex);
  GuardStats stats = state_->core.stats();
  stats.waited += state_->behind_client + state_->lapsed;
  if (state_->behind_client) stats.waits["behind client"] += state_->behind_client;
  if (state_->lapsed) stats.waits["lease expired"] += state_->lapsed;
  for (const FastCounts& counts : state_->fast_counts) {
    stats.admitted += counts.admitted.load(std::memory_order_relaxed);
    stats.redirected += counts.redirected.load(std::memory_order_relaxed);
  }
  stats.admitted -= std::min(stats.admitted, state_->lapsed);  // counted when made, then taken back
  return stats;
}

}  // namespace frodo
