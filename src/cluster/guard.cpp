// The ownership guard (include/frodo/guard.hpp; protocol and proof sketch in
// docs/ownership-guard.md).
//
// Everything the guard decides from comes from one ordered stream: the Cluster's snapshots of
// the context's server records, whose meta carry each guarded server's released epoch. So a
// server that sees another's release also sees every membership change before it; that is
// what makes "released >= my epoch" mean "has finished everything it admitted before".
//
// Records come from anyone who can write to etcd, so the guard trusts none of them beyond
// what the protocol makes checkable: a guard only ever publishes values its own view had
// reached, and its write lands at a later revision, so a record whose released or epoch is
// at or above the revision of the view it appears in was not written by a guard (it is
// neither waited for nor answered); and a plausible record that does not release is waited
// for at most release_timeout.
#include "frodo/guard.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "frodo/address.hpp"
#include "frodo/error.hpp"

namespace frodo {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* epoch_meta_key = "frodo.epoch";
// Unset GuardOptions::release_timeout: this many lease TTLs (docs/ownership-guard.md).
constexpr int release_timeout_ttls = 6;

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
  std::chrono::milliseconds release_timeout;

  mutable std::mutex mutex;
  std::condition_variable changed;  // view, in-flight work or stop

  // The view, as last observed.
  std::int64_t revision = 0;            // the snapshot's revision
  std::int64_t epoch = 0;               // revision at which the ring's members last changed
  std::vector<Member> ring_members;     // of the current epoch
  // The identity (create revision, lease) of each ring member's record, in ring order: a
  // server deleted and registered again, or moved to a new lease, starts an epoch too.
  std::vector<std::pair<std::int64_t, std::int64_t>> ring_records;
  // Rings of the epochs observed since the last settled one (front: that settled epoch, back:
  // the current one). An id owned in all of them has never been anyone else's meanwhile.
  std::deque<Ring> unsettled;
  bool front_settled = false;  // unsettled.front() is a settled epoch's ring
  bool settled = false;
  bool registered = false;               // our record is in the view
  std::int64_t own_created = 0;          // our record's identity, as last seen (0: never seen)
  std::int64_t own_lease = 0;
  std::int64_t seen_released = -1;       // our record's released value, as seen in the view
  std::int64_t highest_peer_epoch = 0;   // the highest epoch another guarded server published
  std::string waiting_for;               // a guarded server that has not released our epoch

  // Guarded peers that have not released our epoch, by address: since when we have waited
  // for them to release `awaited`, and whether we gave up (release_timeout passed). A peer
  // stays given up on until it releases `awaited`; then it is waited for afresh.
  struct Lagging {
    std::int64_t released = 0;  // what its record says
    std::int64_t awaited = 0;   // our epoch when we started timing it
    Clock::time_point since;
    bool given_up = false;
  };
  std::map<std::string, Lagging> lagging;
  // Records with the guard's keys but values no guard writes, already warned about:
  // address -> "released/epoch" as last seen (a rewrite with other values warns again).
  std::map<std::string, std::string> implausible;
  std::vector<std::string> warnings;  // to log once the lock is released

  // Work admitted and not done yet, per epoch it was admitted under.
  std::map<std::int64_t, std::int64_t> in_flight;

  std::int64_t published = 0;  // the released value we last wrote
  bool leaving = false;
  bool leaving_published = false;
  bool stopping = false;
  GuardStats counters;
  std::thread worker;

  State(Cluster& c, std::string a, GuardOptions o)
      : cluster(c),
        address(std::move(a)),
        options(std::move(o)),
        release_timeout(options.release_timeout ? *options.release_timeout
                                                : std::chrono::milliseconds(cluster.lease_ttl()) * release_timeout_ttls) {}

  void log(const std::string& message) const noexcept {
    try {
      if (options.logger) {
        options.logger("guard " + address + ": " + message);
      } else {
        std::cerr << "frodo guard " << address << ": " << message << '\n';
      }
    } catch (...) {
    }
  }

  // Logs the warnings gathered under the lock; `lock` is released meanwhile.
  void flush(std::unique_lock<std::mutex>& lock) {
    if (warnings.empty()) return;
    std::vector<std::string> out;
    out.swap(warnings);
    lock.unlock();
    for (const std::string& message : out) log(message);
    lock.lock();
  }

  // Takes in a snapshot and re-checks the release timeouts (lock held); older or equal
  // revisions add nothing but the latter.
  void observe(const Snapshot& s, Clock::time_point now) {
    bool fresh = s.revision > revision;
    if (fresh) take_in(s, now);
    if (fresh || !lagging.empty()) evaluate(now);
  }

  void take_in(const Snapshot& s, Clock::time_point now) {
    revision = s.revision;
    const std::vector<Member>& members = s.ring.members();
    std::vector<std::pair<std::int64_t, std::int64_t>> records;
    records.reserve(members.size());
    const ServerInfo* own = nullptr;
    for (const ServerInfo& server : s.servers) {
      if (server.address == address) own = &server;
      if (!server.meta.contains(leaving_meta_key)) records.emplace_back(server.created, server.lease);
    }
    // Our record came back as another one (our lease was lost: etcd deleted the record and
    // the session registered it again, or moved it to a new lease), or came back at all. In
    // between, others may have taken our ids over in views this process never saw (one watch
    // response can carry the delete and the re-add), so no id we own has a known unbroken
    // history: we start over as a new member, and every id waits for settlement.
    bool reborn = own != nullptr && (own->created != own_created || own->lease != own_lease);
    if (own != nullptr) {
      own_created = own->created;
      own_lease = own->lease;
    }
    if (reborn && (!unsettled.empty() || front_settled)) {
      unsettled.clear();
      front_settled = false;
      settled = false;
    }
    if (unsettled.empty() || members != ring_members || records != ring_records) {
      ring_members = members;
      ring_records = std::move(records);
      epoch = s.revision;
      // Without a settled ring at the front the chain proves nothing (an id waits for
      // settlement whatever it holds), so only the current ring is kept; with one, at most
      // max_unsettled_rings. Dropping the chain only makes ids wait: never unsafe.
      if (!front_settled || unsettled.size() >= max_unsettled_rings) {
        unsettled.clear();
        front_settled = false;
      }
      unsettled.push_back(s.ring);
    }
    registered = false;
    seen_released = -1;
    highest_peer_epoch = 0;
    std::map<std::string, Lagging> still_lagging;
    std::map<std::string, std::string> still_implausible;
    for (const ServerInfo& server : s.servers) {
      std::int64_t released = meta_number(server, released_meta_key);
      if (server.address == address) {
        registered = true;
        seen_released = released;
        continue;
      }
      if (released < 0) continue;  // not a guarded server: it admits nothing through a guard
      std::int64_t peer_epoch = meta_number(server, epoch_meta_key);
      if (released >= revision || peer_epoch >= revision) {
        // No guard wrote this: ignored (neither waited for nor answered), said once.
        std::string values = std::to_string(released) + "/" + std::to_string(peer_epoch);
        auto seen = implausible.find(server.address);
        if (seen == implausible.end() || seen->second != values) {
          warnings.push_back("ignoring the record of " + server.address + ": its " + released_meta_key + " " +
                             std::to_string(released) + " or " + epoch_meta_key + " " + std::to_string(peer_epoch) +
                             " is not below the revision " + std::to_string(revision) +
                             " it appears at, which no guard writes; it is not waited for nor answered");
        }
        still_implausible.emplace(server.address, std::move(values));
        continue;
      }
      highest_peer_epoch = std::max(highest_peer_epoch, peer_epoch);
      auto was = lagging.find(server.address);
      bool was_given_up = was != lagging.end() && was->second.given_up;
      if (released < epoch) {
        Lagging l{released, epoch, now, false};
        if (was != lagging.end() && released < was->second.awaited) {
          l = was->second;  // no release since we started timing it: the clock keeps running
          l.released = released;
        } else if (was_given_up) {
          warnings.push_back(server.address + " released " + std::to_string(released) + "; waiting for its release again");
        }
        still_lagging.emplace(server.address, l);
      } else if (was_given_up) {
        warnings.push_back(server.address + " released " + std::to_string(released) + "; waiting for its release again");
      }
    }
    lagging.swap(still_lagging);
    implausible.swap(still_implausible);
    changed.notify_all();
  }

  // Whether every guarded peer has released our epoch or been given up on (lock held).
  void evaluate(Clock::time_point now) {
    bool was = settled;
    waiting_for.clear();
    for (auto& [peer, l] : lagging) {
      if (!l.given_up && std::chrono::duration_cast<std::chrono::milliseconds>(now - l.since) >= release_timeout) {
        l.given_up = true;
        warnings.push_back("guarded server " + peer + " has not released epoch " + std::to_string(l.awaited) + " within " +
                           std::to_string(release_timeout.count()) + " ms (its record says " + released_meta_key + " " +
                           std::to_string(l.released) + ") while its record stays: no longer waiting for it; " +
                           "the ids it lost move here protected only by their fencing tokens");
      }
      if (!l.given_up && waiting_for.empty()) waiting_for = peer;
    }
    settled = waiting_for.empty();
    if (settled) {
      while (unsettled.size() > 1) unsettled.pop_front();
      front_settled = true;
    }
    if (settled != was) changed.notify_all();
  }

  bool drained_before(std::int64_t e) const { return in_flight.empty() || in_flight.begin()->first >= e; }

  // What the worker should publish as released now, or 0 for nothing (lock held).
  std::int64_t release_due() const {
    if (!registered) return 0;
    if (published < epoch) return drained_before(epoch) ? epoch : 0;
    // A server whose epoch came from a listing asks for more than the change's revision:
    // our view is newer than its epoch and we have drained, so our revision answers it.
    // Peers' epochs are below our revision (take_in ignores the others), so once this
    // answer is published, published >= every epoch we saw: each is answered once.
    if (highest_peer_epoch > published && revision > highest_peer_epoch) return revision;
    return 0;
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
  void publish_releases() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      if (!warnings.empty()) {
        flush(lock);
        continue;
      }
      std::int64_t due = release_due();
      bool mark_leaving = leaving && !leaving_published;
      if (due == 0 && !mark_leaving) {
        changed.wait(lock);
        continue;
      }
      AddOptions record = options.server;
      record.persistent = false;
      record.meta[released_meta_key] = std::to_string(std::max(due, published));
      record.meta[epoch_meta_key] = std::to_string(epoch);
      if (leaving) record.meta[leaving_meta_key] = "1";
      bool was_leaving = leaving;
      lock.unlock();
      bool ok = true;
      try {
        cluster.add_server(address, record);
      } catch (const std::exception& e) {
        ok = false;
        log("publishing release " + std::to_string(due) + " failed: " + e.what());
      }
      std::shared_ptr<const Snapshot> s = cluster.snapshot();
      lock.lock();
      observe(*s, Clock::now());
      if (ok) {
        if (due > published) {
          published = due;
          ++counters.releases;
        }
        if (was_leaving) leaving_published = true;
        changed.notify_all();
      } else {
        changed.wait_for(lock, std::chrono::milliseconds(200));
      }
    }
  }

  void finish(std::int64_t e) {
    std::lock_guard lock(mutex);
    auto it = in_flight.find(e);
    if (it != in_flight.end() && --it->second == 0) {
      in_flight.erase(it);
      changed.notify_all();
    }
  }

  // Stops the worker (the only writer of our record), then deletes the record.
  void stop_and_remove() {
    {
      std::lock_guard lock(mutex);
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

  void sync() {
    std::shared_ptr<const Snapshot> s = cluster.snapshot();
    std::unique_lock lock(mutex);
    observe(*s, Clock::now());
    flush(lock);
  }
};

// One admitted piece of work; the last copy going away ends it.
struct Admission::Ticket {
  Ticket(std::shared_ptr<Guard::State> s, std::int64_t e) : state(std::move(s)), epoch(e) {}
  Ticket(const Ticket&) = delete;
  Ticket& operator=(const Ticket&) = delete;
  ~Ticket() { state->finish(epoch); }
  std::shared_ptr<Guard::State> state;
  std::int64_t epoch;
};

Admission::Admission(Admission&&) noexcept = default;
Admission& Admission::operator=(Admission&&) noexcept = default;
Admission::~Admission() = default;
void Admission::done() { ticket_.reset(); }

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
  cluster.on_change([weak](const Snapshot&, const Snapshot&) {
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
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopping) return;  // left already
    state_->leaving = true;
  }
  state_->stop_and_remove();
}

Admission Guard::admit(std::string_view id, std::int64_t client_revision) {
  State& s = *state_;
  Admission a;
  if (client_revision > 0 && !s.cluster.wait_revision(client_revision, s.options.catch_up)) {
    std::lock_guard lock(s.mutex);
    ++s.counters.waited;
    a.reason_ = "behind client";
    a.revision_ = s.revision;
    return a;
  }
  std::shared_ptr<const Snapshot> snapshot = s.cluster.snapshot();
  bool lease_alive = s.cluster.lease_alive();
  std::int64_t lease = s.cluster.lease_id();
  Clock::time_point now = Clock::now();
  std::unique_lock lock(s.mutex);
  s.observe(*snapshot, now);
  s.flush(lock);  // rare (a record warned about); the verdict is made from the state after it
  a.revision_ = s.revision;
  a.owner_ = address_;
  if (!lease_alive) {
    a.reason_ = "lease expired";
  } else if (!s.registered || s.own_lease != lease) {
    // Our record in this view is not the one on our current lease (the lease was re-granted
    // and the view does not show the new record yet), or is not there at all.
    a.reason_ = "rejoining";
  } else if (s.leaving) {
    a.reason_ = "leaving";
  } else if (s.unsettled.empty()) {
    a.reason_ = "no view";
  } else {
    std::optional<std::string_view> owner = s.unsettled.back().owner(id);
    if (!owner) {
      a.reason_ = "no servers";
    } else if (*owner != address_) {
      a.verdict_ = Verdict::redirect;
      a.owner_ = std::string(*owner);
      ++s.counters.redirected;
      return a;
    } else if (!s.settled && (!s.front_settled || !std::all_of(s.unsettled.begin(), s.unsettled.end() - 1,
                                                                [&](const Ring& r) {
                                                                  std::optional<std::string_view> o = r.owner(id);
                                                                  return o && *o == address_;
                                                                }))) {
      a.reason_ = "handoff";
    } else {
      a.verdict_ = Verdict::admit;
      a.token_ = s.epoch;
      ++s.in_flight[s.epoch];
      a.ticket_ = std::make_shared<Admission::Ticket>(state_, s.epoch);
      ++s.counters.admitted;
      return a;
    }
  }
  ++s.counters.waited;
  return a;
}

void Guard::leave(std::chrono::milliseconds timeout) {
  State& s = *state_;
  {
    std::unique_lock lock(s.mutex);
    if (s.stopping) return;
    // Out of the ring first (the worker marks our record leaving): clients and the other
    // servers move our ids away; the leaving record starts a new epoch, whose release the
    // worker publishes once the work admitted before it is done.
    s.leaving = true;
    s.changed.notify_all();
    s.changed.wait_for(lock, timeout, [&] {
      bool out_of_ring = std::none_of(s.ring_members.begin(), s.ring_members.end(),
                                      [&](const Member& m) { return m.address == address_; });
      return s.leaving_published && out_of_ring && s.published >= s.epoch && s.in_flight.empty();
    });
  }
  s.stop_and_remove();
}

GuardStats Guard::stats() const {
  state_->sync();
  std::lock_guard lock(state_->mutex);
  GuardStats stats = state_->counters;
  stats.epoch = state_->epoch;
  stats.released = state_->published;
  stats.settled = state_->settled;
  stats.unsettled = state_->unsettled.size();
  return stats;
}

}  // namespace frodo
