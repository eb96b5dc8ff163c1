// The ownership guard's decisions (guard_core.hpp; protocol and proof sketch in
// docs/ownership-guard.md).
//
// Everything the guard decides from comes from one ordered stream: the views of the context's
// server records, whose meta carry each guarded server's released epoch. So a server that
// sees another's release also sees every membership change before it; that is what makes
// "released >= my epoch" mean "has finished everything it admitted before".
//
// Records come from anyone who can write to etcd, so the guard trusts none of them beyond
// what the protocol makes checkable: a guard only ever publishes values its own view had
// reached, and its write lands at a later revision, so a record whose released or epoch is
// at or above the revision of the view it appears in was not written by a guard (it is
// neither waited for nor answered); and a plausible record that does not release is waited
// for at most release_timeout.
#include "guard_core.hpp"

#include <sched.h>

#include <algorithm>
#include <utility>

namespace frodo::detail {
namespace {

std::int64_t meta_number(const ServerInfo& server, const char* key) {
  auto it = server.meta.find(key);
  if (it == server.meta.end()) return -1;
  try {
    std::size_t used = 0;
    long long value = std::stoll(it->second, &used);
    return used == it->second.size() && value >= 0 ? value : 0;
  } catch (const std::exception&) {
    return 0;  // unparseable: treated as "released nothing", which only makes others wait
  }
}

std::atomic<std::size_t> next_slot{0};

}  // namespace

std::size_t InFlight::slot_index() {
  // The CPU the thread runs on: two threads running at once are on different CPUs, so they
  // never share a slot's cache line (a slot per thread, handed out in turn, made every
  // eighth new thread share one with an older thread: 2 of 10 runs of the 2-thread bench
  // were slower than one thread). glibc reads the CPU from the rseq area (a load, no system
  // call). A thread that moves to another CPU before done() still decrements the slot it
  // counted in: Admission keeps the slot. Without a CPU number, one slot per thread in turn.
  int cpu = ::sched_getcpu();
  if (cpu >= 0) return static_cast<std::size_t>(cpu) % slot_count;
  thread_local const std::size_t index = next_slot.fetch_add(1, std::memory_order_relaxed) % slot_count;
  return index;
}

std::int64_t InFlight::total() const {
  std::int64_t sum = 0;
  for (const InFlightSlot& slot : slots) sum += slot.count.load(std::memory_order_seq_cst);
  return sum;
}

// --- Admissions -------------------------------------------------------------------------

Admission AdmissionAccess::wait(std::string_view reason, std::int64_t revision, const std::string& owner) {
  Admission a;
  a.reason_ = reason;
  a.revision_ = revision;
  a.owner_ = owner;
  return a;
}

Admission AdmissionAccess::redirect(std::string_view owner, std::int64_t revision) {
  Admission a;
  a.verdict_ = Verdict::redirect;
  a.owner_ = owner;
  a.revision_ = revision;
  return a;
}

Admission AdmissionAccess::admit(const std::string& owner, std::int64_t token, std::int64_t revision, InFlight* flight,
                                 InFlightSlot* slot, std::uint64_t state) {
  Admission a;
  a.verdict_ = Verdict::admit;
  a.owner_ = owner;
  a.token_ = token;
  a.revision_ = revision;
  a.flight_ = flight;
  a.slot_ = slot;
  a.flight_state_ = state;
  return a;
}

// Counts one admission in `flight` if it is still in `state`; false (and nothing counted)
// if it was closed or reused meanwhile.
static InFlightSlot* enter(InFlight* flight, std::uint64_t state) {
  InFlightSlot& slot = flight->slot_of_this_thread();
  slot.count.fetch_add(1, std::memory_order_seq_cst);
  if (flight->state.load(std::memory_order_seq_cst) == state) return &slot;
  slot.count.fetch_sub(1, std::memory_order_seq_cst);
  (*flight->waker)();  // someone may be waiting for this epoch to drain
  return nullptr;
}

bool fast_admit(const FastPath* fast, const std::string& address, std::string_view id, std::int64_t client_revision,
                bool lease_alive, std::int64_t lease_id, Admission& out) {
  if (fast == nullptr || client_revision > fast->revision || !lease_alive || lease_id != fast->lease) return false;
  std::optional<std::string_view> owner = fast->ring.owner(id);
  if (!owner) return false;
  if (*owner != address) {
    out = AdmissionAccess::redirect(*owner, fast->revision);
    return true;
  }
  InFlightSlot* slot = enter(fast->flight, fast->flight_state);
  if (slot == nullptr) return false;
  out = AdmissionAccess::admit(address, fast->epoch, fast->revision, fast->flight, slot, fast->flight_state);
  return true;
}

}  // namespace frodo::detail

namespace frodo {

using detail::InFlight;
using detail::InFlightSlot;

Admission::Admission(Admission&& other) noexcept
    : verdict_(other.verdict_),
      token_(other.token_),
      revision_(other.revision_),
      owner_(std::move(other.owner_)),
      reason_(std::move(other.reason_)),
      flight_(std::exchange(other.flight_, nullptr)),
      slot_(std::exchange(other.slot_, nullptr)),
      flight_state_(other.flight_state_) {}

Admission& Admission::operator=(Admission&& other) noexcept {
  if (this != &other) {
    done();
    verdict_ = other.verdict_;
    token_ = other.token_;
    revision_ = other.revision_;
    owner_ = std::move(other.owner_);
    reason_ = std::move(other.reason_);
    flight_ = std::exchange(other.flight_, nullptr);
    slot_ = std::exchange(other.slot_, nullptr);
    flight_state_ = other.flight_state_;
  }
  return *this;
}

Admission::~Admission() { done(); }

void Admission::done() {
  if (slot_ == nullptr) return;
  InFlight* flight = std::exchange(flight_, nullptr);
  InFlightSlot* slot = std::exchange(slot_, nullptr);
  slot->count.fetch_sub(1, std::memory_order_seq_cst);
  // Closed since (a newer epoch, or leaving): its owner may be waiting for it to drain. The
  // counter stays allocated while its guard lives (it is reused, never freed), so reading it
  // after the decrement is safe; if it was reused, whoever reused it saw it drained.
  if (flight->state.load(std::memory_order_seq_cst) != flight_state_) (*flight->waker)();
}

}  // namespace frodo

namespace frodo::detail {

// --- GuardCore ----------------------------------------------------------------------------

GuardCore::GuardCore(std::string address, std::chrono::milliseconds release_timeout, std::function<void()> wake)
    : address_(std::move(address)), release_timeout_(release_timeout), waker_(std::make_unique<Waker>()) {
  waker_->wake = std::move(wake);
}

GuardCore::~GuardCore() {
  if (!waker_) return;  // kept for admissions that outlive us (keep_in_flight)
  MutexLock lock(waker_->mutex);
  waker_->wake = nullptr;
}

void GuardCore::keep_in_flight() {
  {
    MutexLock lock(waker_->mutex);
    waker_->wake = nullptr;
  }
  // Kept for the life of the process, reachable from here: admissions that outlived their
  // guard still point into these. Only a Guard destroyed with admissions alive comes here.
  struct Kept {
    std::vector<std::unique_ptr<InFlight>> flights;
    std::unique_ptr<Waker> waker;
  };
  static std::mutex mutex;  // guards `kept` (a local static: not annotated)
  static auto* kept = new std::vector<Kept>();  // never destroyed: admissions may end at exit
  std::lock_guard lock(mutex);
  Kept k;
  k.flights = std::move(flights_);
  for (auto& flight : spare_) k.flights.push_back(std::move(flight));
  k.waker = std::move(waker_);
  kept->push_back(std::move(k));
  flights_.clear();
  spare_.clear();
}

std::vector<std::string> GuardCore::take_warnings() {
  std::vector<std::string> out;
  out.swap(warnings_);
  return out;
}

void GuardCore::observe(const Snapshot& s, GuardClock::time_point now) {
  if (s.restarts < restarts_) return;  // a view from before etcd was replaced
  if (s.restarts > restarts_) restart(s.restarts);
  bool fresh = s.revision > revision_;
  if (fresh) take_in(s, now);
  if (fresh || !lagging_.empty()) evaluate(now);
  collect();
  refresh_fast();
}

// etcd was replaced (restored from a backup, or re-created): its revisions started over, so
// every epoch, release and record identity we know is in another numbering. Start over as a
// new member: forget the chain (every id waits for settlement), wait for every peer's release
// of the new epoch, and publish our own; work admitted before still has to end before that
// release, so its counters are kept with an epoch below every new one.
void GuardCore::restart(std::uint64_t restarts) {
  restarts_ = restarts;
  warnings_.push_back("etcd was replaced (its revisions started over at or below " + std::to_string(revision_) +
                      "): starting over as a new member; fencing tokens from before may be above the new ones, "
                      "so a fencing store refuses new writes of an id until the revisions pass its newest token");
  for (auto& flight : flights_) {
    std::uint64_t state = flight->state.load(std::memory_order_relaxed);
    if (flight->open(state)) flight->state.store(state | 1, std::memory_order_seq_cst);
    flight->epoch = 0;  // before every epoch of the new numbering (closed: nothing reads it outside)
  }
  revision_ = 0;
  epoch_ = 0;
  ring_members_.clear();
  ring_records_.clear();
  unsettled_.clear();
  front_settled_ = false;
  settled_ = false;
  registered_ = false;
  own_created_ = 0;
  own_lease_ = 0;
  highest_peer_epoch_ = 0;
  lagging_.clear();
  implausible_.clear();
  published_ = 0;
  timed_epoch_ = 0;
}

void GuardCore::take_in(const Snapshot& s, GuardClock::time_point now) {
  revision_ = s.revision;
  const std::vector<Member>& members = s.ring.members();
  std::vector<std::pair<std::int64_t, std::int64_t>> records;
  records.reserve(members.size());
  const ServerInfo* own = nullptr;
  for (const ServerInfo& server : s.servers) {
    if (server.address == address_) own = &server;
    if (!server.meta.contains(leaving_meta_key)) records.emplace_back(server.created, server.lease);
  }
  // Our record came back as another one (our lease was lost: etcd deleted the record and the
  // session registered it again, or moved it to a new lease), or came back at all. In
  // between, others may have taken our ids over in views this process never saw (one watch
  // response can carry the delete and the re-add), so no id we own has a known unbroken
  // history: we start over as a new member, and every id waits for settlement.
  bool reborn = own != nullptr && (own->created != own_created_ || own->lease != own_lease_);
  if (own != nullptr) {
    own_created_ = own->created;
    own_lease_ = own->lease;
  }
  if (reborn) {
    unsettled_.clear();
    front_settled_ = false;
    settled_ = false;
  }
  if (unsettled_.empty() || members != ring_members_ || records != ring_records_) {
    ring_members_ = members;
    ring_records_ = std::move(records);
    epoch_ = s.revision;
    epoch_started_ = now;
    close_older(epoch_);
    // Without a settled ring at the front the chain proves nothing (an id waits for
    // settlement whatever it holds), so only the current ring is kept; with one, at most
    // max_unsettled_rings. Dropping the chain only makes ids wait: never unsafe.
    if (!front_settled_ || unsettled_.size() >= max_unsettled_rings) {
      unsettled_.clear();
      front_settled_ = false;
    }
    unsettled_.push_back(s.ring);
  }
  registered_ = own != nullptr;
  highest_peer_epoch_ = 0;
  std::map<std::string, Lagging> still_lagging;
  std::map<std::string, std::string> still_implausible;
  for (const ServerInfo& server : s.servers) {
    if (server.address == address_) continue;
    std::int64_t released = meta_number(server, released_meta_key);
    if (released < 0) continue;  // not a guarded server: it admits nothing through a guard
    std::int64_t peer_epoch = meta_number(server, epoch_meta_key);
    if (released >= revision_ || peer_epoch >= revision_) {
      // No guard wrote this: ignored (neither waited for nor answered), said once.
      std::string values = std::to_string(released) + "/" + std::to_string(peer_epoch);
      auto seen = implausible_.find(server.address);
      if (seen == implausible_.end() || seen->second != values) {
        warnings_.push_back("ignoring the record of " + server.address + ": its " + released_meta_key + " " +
                            std::to_string(released) + " or " + epoch_meta_key + " " + std::to_string(peer_epoch) +
                            " is not below the revision " + std::to_string(revision_) +
                            " it appears at, which no guard writes; it is not waited for nor answered");
      }
      still_implausible.emplace(server.address, std::move(values));
      continue;
    }
    highest_peer_epoch_ = std::max(highest_peer_epoch_, peer_epoch);
    auto was = lagging_.find(server.address);
    bool was_given_up = was != lagging_.end() && was->second.given_up;
    if (released < epoch_) {
      Lagging l{released, epoch_, now, false};
      if (was != lagging_.end() && released < was->second.awaited) {
        l = was->second;  // no release since we started timing it: the clock keeps running
        l.released = released;
      } else if (was_given_up) {
        warnings_.push_back(server.address + " released " + std::to_string(released) + "; waiting for its release again");
      }
      still_lagging.emplace(server.address, l);
    } else if (was_given_up) {
      warnings_.push_back(server.address + " released " + std::to_string(released) + "; waiting for its release again");
    }
  }
  lagging_.swap(still_lagging);
  implausible_.swap(still_implausible);
}

void GuardCore::evaluate(GuardClock::time_point now) {
  std::string waiting_for;
  for (auto& [peer, l] : lagging_) {
    if (!l.given_up && std::chrono::duration_cast<std::chrono::milliseconds>(now - l.since) >= release_timeout_) {
      l.given_up = true;
      ++counters_.given_up;
      warnings_.push_back("guarded server " + peer + " has not released epoch " + std::to_string(l.awaited) + " within " +
                          std::to_string(release_timeout_.count()) + " ms (its record says " + released_meta_key + " " +
                          std::to_string(l.released) + ") while its record stays: no longer waiting for it; " +
                          "the ids it lost move here protected only by their fencing tokens");
    }
    if (!l.given_up && waiting_for.empty()) waiting_for = peer;
  }
  bool was_settled = settled_;
  settled_ = waiting_for.empty() && !unsettled_.empty();
  if (settled_ && !was_settled && timed_epoch_ != epoch_) {
    timed_epoch_ = epoch_;
    handoff_.observe(now - epoch_started_);
  }
  if (settled_) {
    while (unsettled_.size() > 1) unsettled_.pop_front();
    front_settled_ = true;
  }
}

InFlight* GuardCore::flight_for(std::int64_t epoch) {
  for (auto& flight : flights_) {
    if (flight->epoch == epoch && flight->open(flight->state.load(std::memory_order_relaxed))) return flight.get();
  }
  std::unique_ptr<InFlight> flight;
  if (!spare_.empty()) {
    flight = std::move(spare_.back());
    spare_.pop_back();
  } else {
    flight = std::make_unique<InFlight>();
    flight->waker = waker_.get();
  }
  flight->epoch = epoch;
  flight->state.store(2 * next_generation_++, std::memory_order_seq_cst);  // open, a new generation
  flights_.push_back(std::move(flight));
  return flights_.back().get();
}

void GuardCore::close_older(std::int64_t epoch) {
  for (auto& flight : flights_) {
    std::uint64_t state = flight->state.load(std::memory_order_relaxed);
    if (flight->epoch < epoch && flight->open(state)) flight->state.store(state | 1, std::memory_order_seq_cst);
  }
}

// Closed counters that drained are kept for reuse (never freed: a late done() may still read
// one). Bounded by the number of epochs with work in flight at once.
void GuardCore::collect() {
  for (std::size_t i = 0; i < flights_.size();) {
    InFlight& flight = *flights_[i];
    if (!flight.open(flight.state.load(std::memory_order_relaxed)) && flight.total() == 0) {
      spare_.push_back(std::move(flights_[i]));
      flights_.erase(flights_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
}

bool GuardCore::drained_before(std::int64_t epoch) {
  for (auto& flight : flights_) {
    if (flight->epoch < epoch && flight->total() != 0) return false;
  }
  return true;
}

bool GuardCore::drained() {
  for (auto& flight : flights_) {
    if (flight->total() != 0) return false;
  }
  return true;
}

std::int64_t GuardCore::release_due() {
  if (!registered_) return 0;
  if (published_ < epoch_) return drained_before(epoch_) ? epoch_ : 0;
  // A server whose epoch came from a listing asks for more than the change's revision: our
  // view is newer than its epoch and we have drained, so our revision answers it. Peers'
  // epochs are below our revision (take_in ignores the others), so once this answer is
  // published, published >= every epoch we saw: each is answered once.
  if (highest_peer_epoch_ > published_ && revision_ > highest_peer_epoch_) return revision_;
  return 0;
}

std::optional<GuardCore::Publication> GuardCore::due() {
  collect();
  std::int64_t due = release_due();
  bool mark_leaving = leaving_ && !leaving_published_;
  if (due == 0 && !mark_leaving) return std::nullopt;
  return Publication{std::max(due, published_), epoch_, leaving_, due > published_};
}

void GuardCore::published(const Publication& p) {
  if (p.released > published_) {
    published_ = p.released;
    if (p.release) ++counters_.releases;
  }
  if (p.leaving) leaving_published_ = true;
  refresh_fast();
}

void GuardCore::start_leaving() {
  leaving_ = true;
  // Every admission from here on must end before we leave: close the current epoch too, so
  // that their done() wakes whoever waits.
  close_older(epoch_ + 1);
  refresh_fast();
}

bool GuardCore::left() {
  bool out_of_ring = std::none_of(ring_members_.begin(), ring_members_.end(),
                                  [&](const Member& m) { return m.address == address_; });
  return leaving_published_ && out_of_ring && published_ >= epoch_ && drained();
}

Admission GuardCore::admit(std::string_view id, bool lease_alive, std::int64_t lease_id) {
  const char* reason = nullptr;
  if (!lease_alive) {
    reason = "lease expired";
  } else if (!registered_ || own_lease_ != lease_id) {
    // Our record in this view is not the one on our current lease (the lease was re-granted
    // and the view does not show the new record yet), or is not there at all.
    reason = "rejoining";
  } else if (leaving_) {
    reason = "leaving";
  } else if (unsettled_.empty()) {
    reason = "no view";
  } else {
    std::optional<std::string_view> owner = unsettled_.back().owner(id);
    if (!owner) {
      reason = "no servers";
    } else if (*owner != address_) {
      ++counters_.redirected;
      return AdmissionAccess::redirect(*owner, revision_);
    } else if (!settled_ && (!front_settled_ || !std::all_of(unsettled_.begin(), unsettled_.end() - 1, [&](const Ring& r) {
                                                   std::optional<std::string_view> o = r.owner(id);
                                                   return o && *o == address_;
                                                 }))) {
      reason = "handoff";
    } else {
      InFlight* flight = flight_for(epoch_);
      std::uint64_t state = flight->state.load(std::memory_order_relaxed);
      InFlightSlot* slot = enter(flight, state);  // open, and only we close it: never refused
      ++counters_.admitted;
      return AdmissionAccess::admit(address_, epoch_, revision_, flight, slot, state);
    }
  }
  ++counters_.waited;
  ++counters_.waits[reason];
  return AdmissionAccess::wait(reason, revision_, address_);
}

void GuardCore::refresh_fast() {
  if (!settled_ || !registered_ || leaving_ || unsettled_.empty()) {
    fast_.reset();
    return;
  }
  InFlight* flight = flight_for(epoch_);
  std::uint64_t state = flight->state.load(std::memory_order_relaxed);
  if (fast_ && fast_->flight == flight && fast_->flight_state == state && fast_->revision == revision_ &&
      fast_->lease == own_lease_) {
    return;
  }
  auto fast = std::make_shared<FastPath>();
  fast->ring = unsettled_.back();
  fast->epoch = epoch_;
  fast->revision = revision_;
  fast->lease = own_lease_;
  fast->flight = flight;
  fast->flight_state = state;
  fast_ = std::move(fast);
}

GuardStats GuardCore::stats() {
  collect();
  GuardStats stats = counters_;
  stats.epoch = epoch_;
  stats.released = published_;
  stats.settled = settled_;
  stats.unsettled = unsettled_.size();
  stats.handoff = handoff_.read();
  return stats;
}

}  // namespace frodo::detail
