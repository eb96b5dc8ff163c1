// GuardCore: the ownership guard's decisions (include/frodo/guard.hpp, docs/ownership-guard.md)
// as a deterministic state machine: no thread, no lock, no clock of its own. Everything it
// decides from is passed in: the views, the time, whether the lease is alive and its id. The
// Guard wraps it with a lock, a worker thread and a Cluster; the simulator
// (src/sim/guard_simulation.hpp) drives many of them under a virtual clock.
//
// Counting admissions in flight is the one part shared with other threads: it is lock-free,
// so that admit() on a settled server (the common case) takes no lock and writes no memory
// another thread writes (see InFlight and FastPath).
//
// Contract: every GuardCore member is called by one thread at a time (the Guard's lock);
// fast_admit() and Admission::done() may run on any thread at any time, concurrently with
// them, as long as the GuardCore is alive (or its InFlight counters were kept, see
// keep_in_flight()).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/duration_histogram.hpp"
#include "core/mutex.hpp"
#include "frodo/cluster.hpp"
#include "frodo/guard.hpp"

namespace frodo::detail {

using GuardClock = std::chrono::steady_clock;

// The guard's meta key for the epoch a release answers (docs/etcd-schema.md).
inline constexpr const char* epoch_meta_key = "frodo.epoch";

// Wakes whoever waits for the admissions of a closed epoch to end.
struct Waker {
  Mutex mutex;
  std::function<void()> wake FRODO_GUARDED_BY(mutex);  // cleared once nobody can wait any more
  void operator()() FRODO_EXCLUDES(mutex) {
    MutexLock lock(mutex);
    if (wake) wake();
  }
};

struct alignas(64) InFlightSlot {
  std::atomic<std::int64_t> count{0};
};

// The admissions in flight under one epoch. A thread counts in the slot of the CPU it runs
// on (each slot its own cache line), so threads admitting at once do not write the same
// memory. `state` is the
// generation times two, plus one while closed: an epoch is closed once it is no longer the
// current one (or the server leaves). An admission counts itself, then reads `state`: if it
// is not the one it expected (closed, or the counter was reused for another epoch), it takes
// itself back out. With sequentially consistent operations on both sides, once the owner
// has closed an InFlight and then read a total of zero, no admission of it can still appear.
struct InFlight {
  static constexpr std::size_t slot_count = 8;
  std::int64_t epoch = 0;  // read and written by the owner only (under its lock)
  std::atomic<std::uint64_t> state{0};
  Waker* waker = nullptr;
  InFlightSlot slots[slot_count];

  static std::size_t slot_index();  // the slot of the CPU this thread runs on now
  InFlightSlot& slot_of_this_thread() { return slots[slot_index()]; }
  std::int64_t total() const;
  bool open(std::uint64_t s) const { return (s & 1) == 0; }
};

// What admit() needs on a settled server, published as one immutable value: the ring of the
// current epoch and the counter of its admissions.
struct FastPath {
  Ring ring;
  std::int64_t epoch = 0;
  std::int64_t revision = 0;
  std::int64_t lease = 0;  // the lease our record hangs on in this view
  InFlight* flight = nullptr;
  std::uint64_t flight_state = 0;  // flight->state when it was published (open)
};

// Fills `out` and returns true when `fast` decides (admit or redirect); false when the slow
// path must (no fast path, a client ahead of it, a lease problem, a closed epoch, no owner).
bool fast_admit(const FastPath* fast, const std::string& address, std::string_view id, std::int64_t client_revision,
                bool lease_alive, std::int64_t lease_id, Admission& out);

// Builds Admissions (Admission's fields are private to it and the guard).
struct AdmissionAccess {
  static Admission wait(std::string_view reason, std::int64_t revision, const std::string& owner);
  static Admission redirect(std::string_view owner, std::int64_t revision);
  static Admission admit(const std::string& owner, std::int64_t token, std::int64_t revision, InFlight* flight,
                         InFlightSlot* slot, std::uint64_t state);
};

class GuardCore {
 public:
  // What the guard should write into its record next.
  struct Publication {
    std::int64_t released = 0;
    std::int64_t epoch = 0;
    bool leaving = false;
    bool release = false;  // `released` is a new release (counted in stats)
  };

  GuardCore(std::string address, std::chrono::milliseconds release_timeout, std::function<void()> wake);
  ~GuardCore();
  GuardCore(const GuardCore&) = delete;
  GuardCore& operator=(const GuardCore&) = delete;

  // Takes in a view; views not newer than the last one only re-check the release timeouts.
  void observe(const Snapshot& s, GuardClock::time_point now);
  // The verdict for `id` in the current state (the client's revision is the caller's
  // business). An admission counts as in flight until it ends.
  Admission admit(std::string_view id, bool lease_alive, std::int64_t lease_id);
  // What to publish now, if anything; published() once it was written.
  std::optional<Publication> due();
  void published(const Publication& p);
  // Marks the server leaving: nothing is admitted any more, and the record says so.
  void start_leaving();
  // Leaving, the leaving record seen, out of the ring, released, nothing in flight.
  bool left();
  bool leaving() const { return leaving_; }
  bool drained();

  // The fast path for the current state (nullptr when admit() must decide), replaced by
  // observe(), start_leaving() and published().
  std::shared_ptr<const FastPath> fast_path() const { return fast_; }
  // Warnings gathered since the last call (each printable, naming what it is about).
  std::vector<std::string> take_warnings();
  GuardStats stats();
  std::int64_t revision() const { return revision_; }
  std::int64_t epoch() const { return epoch_; }
  // Keeps the in-flight counters allocated for ever: for a Guard destroyed while admissions
  // are still alive (their done() then writes to memory that stays valid).
  void keep_in_flight();

 private:
  struct Lagging {
    std::int64_t released = 0;  // what its record says
    std::int64_t awaited = 0;   // our epoch when we started timing it
    GuardClock::time_point since;
    bool given_up = false;
  };

  void restart(std::uint64_t restarts);
  void take_in(const Snapshot& s, GuardClock::time_point now);
  void evaluate(GuardClock::time_point now);
  InFlight* flight_for(std::int64_t epoch);
  void close_older(std::int64_t epoch);
  void collect();
  bool drained_before(std::int64_t epoch);
  std::int64_t release_due();
  void refresh_fast();

  std::string address_;
  std::chrono::milliseconds release_timeout_;
  std::unique_ptr<Waker> waker_;

  std::uint64_t restarts_ = 0;  // Snapshot::restarts of the views taken in
  std::int64_t revision_ = 0;
  std::int64_t epoch_ = 0;
  std::vector<Member> ring_members_;
  std::vector<std::pair<std::int64_t, std::int64_t>> ring_records_;  // (created, lease) per ring member
  std::deque<Ring> unsettled_;
  bool front_settled_ = false;
  bool settled_ = false;
  bool registered_ = false;
  std::int64_t own_created_ = 0;
  std::int64_t own_lease_ = 0;
  std::int64_t highest_peer_epoch_ = 0;
  std::map<std::string, Lagging> lagging_;
  std::map<std::string, std::string> implausible_;
  std::vector<std::string> warnings_;

  std::vector<std::unique_ptr<InFlight>> flights_;  // open and closed, by epoch
  std::vector<std::unique_ptr<InFlight>> spare_;    // drained, ready for another epoch
  std::uint64_t next_generation_ = 1;

  std::int64_t published_ = 0;
  bool leaving_ = false;
  bool leaving_published_ = false;
  GuardStats counters_;
  DurationHistogram handoff_;            // from each epoch's start to its settlement
  GuardClock::time_point epoch_started_;  // when epoch_ began, by this process's clock
  std::int64_t timed_epoch_ = 0;          // the last epoch whose settlement was timed
  std::shared_ptr<const FastPath> fast_;
};

}  // namespace frodo::detail
