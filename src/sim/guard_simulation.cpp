// The guard simulation (guard_simulation.hpp). One World per run: an event queue ordered by
// virtual time (ties by insertion order), a model of etcd, guarded server processes around
// the real GuardCore, clients, and a store that checks what it is asked to write.
#include "guard_simulation.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <sstream>
#include <unordered_map>

#include "cluster/guard_core.hpp"
#include "cluster/ring_members.hpp"
#include "frodo/guard.hpp"

namespace frodo::sim {

const char* to_string(Property property) noexcept {
  switch (property) {
    case Property::none: return "none";
    case Property::order: return "order";
    case Property::token: return "token";
    case Property::overlap: return "overlap";
    case Property::liveness: return "liveness";
  }
  return "unknown";
}

namespace {

using Ms = std::int64_t;  // virtual milliseconds

// Virtual time, as the guard's clock type.
detail::GuardClock::time_point at(Ms t) { return detail::GuardClock::time_point(std::chrono::milliseconds(t)); }

constexpr Ms ttl = 1000;
constexpr Ms keepalive_every = ttl / 3;
constexpr Ms release_timeout = 6 * ttl;
constexpr Ms leave_timeout = 3 * ttl;
constexpr Ms churn_end = 6000;
constexpr Ms quiet_at = churn_end + 3 * ttl;      // every fault has ended by then
constexpr Ms settle_at = quiet_at + 3 * ttl;      // leases expired, leaves and handoffs done
constexpr Ms liveness_window = 2000;              // every id written again within this
constexpr Ms end_at = settle_at + liveness_window;
constexpr Ms max_drift = 2;  // ms per TTL between a process's clock and etcd's (0.2%)
constexpr Ms client_timeout = 2000;  // above the slowest handler

enum class StepKind { join, leave, crash, freeze_short, freeze_long, partition_short, partition_long, relist };

const char* name(StepKind kind) {
  switch (kind) {
    case StepKind::join: return "join";
    case StepKind::leave: return "leave";
    case StepKind::crash: return "crash";
    case StepKind::freeze_short: return "freeze below the TTL";
    case StepKind::freeze_long: return "freeze past the TTL";
    case StepKind::partition_short: return "partition below the TTL";
    case StepKind::partition_long: return "partition past the TTL";
    case StepKind::relist: return "re-list";
  }
  return "?";
}

struct Step {
  Ms time = 0;
  StepKind kind = StepKind::join;
  std::uint64_t pick = 0;  // which live server (modulo their number)
  Ms duration = 0;         // freezes and partitions
};

// The churn of one seed: drawn from its own generator, so removing steps (shrink) leaves the
// others as they were.
std::vector<Step> make_plan(const Options& o) {
  std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ull + 1);
  int count = 1 + static_cast<int>(rng() % static_cast<std::uint64_t>(std::max(1, o.max_churn_steps)));
  std::vector<Step> plan;
  for (int i = 0; i < count; ++i) {
    Step s;
    s.time = 200 + static_cast<Ms>(rng() % (churn_end - 200));
    s.kind = static_cast<StepKind>(rng() % 8);
    s.pick = rng();
    switch (s.kind) {
      case StepKind::freeze_short:
      case StepKind::partition_short: s.duration = 50 + static_cast<Ms>(rng() % (ttl / 2)); break;
      case StepKind::freeze_long:
      case StepKind::partition_long: s.duration = ttl + 100 + static_cast<Ms>(rng() % (2 * ttl)); break;
      default: break;
    }
    plan.push_back(s);
  }
  std::stable_sort(plan.begin(), plan.end(), [](const Step& a, const Step& b) { return a.time < b.time; });
  return plan;
}

// Rings by membership, shared by every run on this thread (memberships repeat a lot).
const Ring& ring_for(const std::vector<Member>& members, Algorithm algorithm) {
  thread_local std::map<std::pair<int, std::string>, Ring> cache;
  std::string key;
  for (const Member& m : members) key += m.address + ';';
  auto [it, inserted] = cache.try_emplace({static_cast<int>(algorithm), key});
  if (inserted) it->second = Ring(members, algorithm);
  return it->second;
}

struct Work {
  std::string id;
  std::int64_t seq = 0;
  int client = 0;
  std::int64_t attempt = 0;
  Admission admission;
  Ms start = 0;
  std::size_t record = 0;  // index into World::admissions
};

struct Proc {
  int number = 0;
  std::string address;
  std::unique_ptr<detail::GuardCore> core;
  std::shared_ptr<const Snapshot> view;
  std::int64_t pending = 0;  // the newest revision delivered while it could not take it
  bool crashed = false;
  bool gone = false;  // left (record removed) or crashed
  Ms frozen_until = 0;
  Ms partitioned_until = 0;
  std::int64_t lease = 0;  // 0: lost, not re-granted yet
  Ms local_deadline = 0;
  Ms drift = 0;  // how much later than etcd's its clock ends a TTL, in [-max_drift, max_drift]
  std::map<std::string, ServerInfo> mine;  // what a re-grant registers again
  bool putting = false;                    // a release write is under way
  std::optional<detail::GuardCore::Publication> publishing;
  std::int64_t publish_revision = 0;  // the write landed here; waiting for the view to reach it
  Ms leave_deadline = -1;
  bool leave_asked = false;  // a leave step chose it (it starts once it runs again, if frozen)
  std::map<std::string, Work> work;  // by id: one at a time per id on a server
};

struct Lease {
  int proc = 0;
  Ms expires = 0;
  bool alive = true;
};

struct AdmissionRecord {
  std::string id;
  int proc = 0;
  std::int64_t token = 0;
  Ms start = 0;
  Ms end = -1;  // -1: in flight
  bool beyond = false;  // its server's lease expired at etcd (or its leave gave up) meanwhile
};

struct Row {
  std::int64_t seq = 0;
  std::int64_t token = 0;
  int proc = 0;
  std::size_t admission = 0;
  Ms at = 0;
};

struct ClientId {
  std::int64_t next_seq = 1;
  std::int64_t attempt = 0;
};

struct Client {
  std::shared_ptr<const Snapshot> view;
};

class World {
 public:
  explicit World(const Options& o) : o_(o), rng_(o.seed), plan_(make_plan(o)) {
    result_.seed = o.seed;
    for (std::size_t i = 0; i < plan_.size(); ++i) {
      if (!o.only.empty() && std::find(o.only.begin(), o.only.end(), static_cast<int>(i)) == o.only.end()) continue;
      const Step& s = plan_[i];
      result_.steps.push_back(static_cast<int>(i));
      std::ostringstream text;
      text << i << ": " << s.time << " ms " << name(s.kind);
      if (s.duration) text << " for " << s.duration << " ms";
      result_.plan.push_back(text.str());
      schedule(s.time, [this, s] { churn(s); });
    }
  }

  Result run() {
    // Index = revision: 0 and 1 are the empty context.
    for (int r = 0; r <= 1; ++r) {
      auto empty = std::make_shared<Snapshot>();
      empty->revision = r;
      snapshot_history_.push_back(empty);
    }
    for (int c = 0; c < o_.clients; ++c) clients_.push_back({snapshot_history_.back()});
    for (int i = 0; i < o_.initial_servers; ++i) join();
    ids_.resize(static_cast<std::size_t>(o_.ids));
    for (int i = 0; i < o_.ids; ++i) schedule(10 + i, [this, i] { send(i); });
    while (!queue_.empty() && result_.failed == Property::none) {
      std::pop_heap(queue_.begin(), queue_.end(), later);
      Event e = std::move(queue_.back());
      queue_.pop_back();
      if (e.time > end_at) break;
      now_ = e.time;
      ++result_.events;
      e.action();
    }
    result_.virtual_ms = now_;
    if (result_.failed == Property::none) check_end();
    // Admissions still held end before their cores go.
    for (auto& p : procs_) p->work.clear();
    return std::move(result_);
  }

 private:
  struct Event {
    Ms time;
    std::uint64_t order;
    std::function<void()> action;
  };
  // Orders the heap so that the earliest event (then the first scheduled) is at the front.
  static bool later(const Event& a, const Event& b) { return a.time != b.time ? a.time > b.time : a.order > b.order; }

  Ms draw(Ms lo, Ms hi) { return lo + static_cast<Ms>(rng_() % static_cast<std::uint64_t>(hi - lo + 1)); }
  bool chance(int percent) { return static_cast<int>(rng_() % 100) < percent; }

  void schedule(Ms time, std::function<void()> f) {
    queue_.push_back({time, next_order_++, std::move(f)});
    std::push_heap(queue_.begin(), queue_.end(), later);
  }

  void note(const std::string& what) {
    if (o_.trace) result_.trace.push_back(std::to_string(now_) + " ms: " + what);
  }

  void fail(Property property, const std::string& id, const std::string& what, Ms when) {
    if (result_.failed != Property::none) return;
    result_.failed = property;
    result_.failed_id = id;
    result_.failed_at = when;
    result_.failure = what;
    if (o_.trace) note("FAILED (" + std::string(to_string(property)) + "): " + what);
  }

  // --- etcd ---------------------------------------------------------------------------

  void changed() {
    std::vector<ServerList::Record> list;
    for (const auto& [address, record] : records_) list.push_back(record);
    auto s = std::make_shared<Snapshot>();
    s->servers = ServerList(std::move(list));
    s->ring = ring_for(ring_members(s->servers), o_.algorithm);
    s->revision = revision_;
    snapshot_history_.push_back(s);
    std::int64_t r = revision_;
    for (auto& p : procs_) {
      if (!p->gone) schedule(now_ + delivery_delay(), [this, n = p->number, r] { deliver(n, r); });
    }
    for (int c = 0; c < o_.clients; ++c) {
      Ms delay = chance(10) ? draw(200, 900) : draw(0, 80);  // clients on stale views
      schedule(now_ + delay, [this, c, r] { deliver_client(c, r); });
    }
  }

  Ms delivery_delay() { return chance(15) ? draw(50, 400) : draw(0, 30); }

  std::shared_ptr<const Snapshot> snapshot_at(std::int64_t revision) const {
    return snapshot_history_[static_cast<std::size_t>(revision)];
  }

  std::int64_t put(Proc& p, const ServerInfo& server) {
    auto record = std::make_shared<ServerInfo>(server);
    ++revision_;
    auto it = records_.find(server.address);
    record->created = it != records_.end() ? it->second->created : revision_;
    record->lease = p.lease;
    records_[server.address] = std::move(record);
    p.mine[server.address] = server;
    changed();
    return revision_;
  }

  void remove(const std::string& address) {
    if (records_.erase(address) == 0) return;
    ++revision_;
    changed();
  }

  void grant(Proc& p) {
    p.lease = next_lease_++;
    leases_[p.lease] = {p.number, 0, true};
    renew(p);
  }

  // A keepalive (or the grant) sent now: etcd receives it after a network delay and extends
  // the lease by the TTL from then, by its clock; the process's deadline counts the TTL from the
  // send time, by its own clock, which drifts from etcd's by at most max_drift over a TTL.
  // The delay is at least that drift: the doc's assumption (2), bounded clock drift.
  void renew(Proc& p) {
    Ms arrives = now_ + draw(max_drift, max_drift + 4);
    leases_[p.lease].expires = arrives + ttl;
    p.local_deadline = now_ + ttl + p.drift;
    schedule(arrives + ttl, [this, l = p.lease] { expire(l); });
  }

  void expire(std::int64_t lease) {
    Lease& l = leases_[lease];
    if (!l.alive || l.expires > now_) return;  // renewed: the renewal scheduled its own check
    l.alive = false;
    Proc& p = *procs_[static_cast<std::size_t>(l.proc)];
    if (o_.trace) note("etcd expires the lease of " + p.address);
    ++result_.lease_losses;
    for (auto& [id, w] : p.work) admissions_[w.record].beyond = true;
    std::vector<std::string> doomed;
    for (const auto& [address, record] : records_) {
      if (record->lease == lease) doomed.push_back(address);
    }
    for (const std::string& address : doomed) remove(address);
  }

  // --- servers ------------------------------------------------------------------------

  bool frozen(const Proc& p) const { return now_ < p.frozen_until; }
  bool cut_off(const Proc& p) const { return now_ < p.partitioned_until; }
  bool lease_alive(const Proc& p) const { return p.lease != 0 && now_ < p.local_deadline; }

  // Runs `f` for process `n` now, or when it thaws; nothing once it crashed.
  void on_proc(int n, std::function<void(Proc&)> f) {
    Proc& p = *procs_[static_cast<std::size_t>(n)];
    if (p.crashed) return;
    if (frozen(p)) {
      schedule(p.frozen_until, [this, n, f = std::move(f)]() mutable { on_proc(n, std::move(f)); });
      return;
    }
    f(p);
    after(p);
  }

  void join() {
    auto p = std::make_unique<Proc>();
    p->number = static_cast<int>(procs_.size());
    p->address = "127.0.0." + std::to_string(p->number + 1) + ":7000";
    p->core = std::make_unique<detail::GuardCore>(p->address, std::chrono::milliseconds(release_timeout), [] {});
    p->drift = draw(-max_drift, max_drift);
    p->view = snapshot_at(revision_);
    Proc& proc = *p;
    procs_.push_back(std::move(p));
    if (o_.trace) note("join " + proc.address);
    proc.core->observe(*proc.view, at(now_));
    grant(proc);
    ServerInfo record{proc.address, 1, "", {{released_meta_key, "0"}, {detail::epoch_meta_key, "0"}}};
    put(proc, record);
    schedule(now_ + keepalive_every, [this, n = proc.number] { keepalive(n); });
  }

  void keepalive(int n) {
    Proc& p = *procs_[static_cast<std::size_t>(n)];
    if (p.gone) return;
    on_proc(n, [this](Proc& q) {
      if (cut_off(q)) {
        if (q.lease != 0 && now_ >= q.local_deadline) {
          if (o_.trace) note(q.address + " loses its lease (etcd unreachable)");
          q.lease = 0;
        }
      } else if (q.lease != 0 && leases_[q.lease].alive && now_ < q.local_deadline) {
        renew(q);
      } else {
        // Lost (expired by etcd, or past its own deadline): a new lease, records again.
        if (o_.trace) note(q.address + " re-grants its lease");
        grant(q);
        ++result_.regrants;
        for (auto [address, server] : q.mine) put(q, server);
      }
      schedule(now_ + keepalive_every, [this, n = q.number] { keepalive(n); });
    });
  }

  void deliver(int n, std::int64_t revision) {
    Proc& p = *procs_[static_cast<std::size_t>(n)];
    if (p.gone) return;
    if (frozen(p) || cut_off(p)) {
      // Held until it can take views again (a freeze or partition may be extended meanwhile,
      // so each retry that finds it still unable schedules the next).
      p.pending = std::max(p.pending, revision);
      schedule(std::max(p.frozen_until, p.partitioned_until), [this, n] {
        Proc& q = *procs_[static_cast<std::size_t>(n)];
        if (q.pending > 0) deliver(n, q.pending);
      });
      return;
    }
    on_proc(n, [this, revision](Proc& q) { take(q, revision); });
  }

  void take(Proc& p, std::int64_t revision) {
    if (revision <= p.view->revision) return;
    if (revision > p.view->revision + 1) ++result_.collapsed;
    if (p.pending <= revision) p.pending = 0;
    p.view = snapshot_at(revision);
    p.core->observe(*p.view, at(now_));
  }

  // What the guard's worker and leave() do, after anything that happened to `p`.
  void after(Proc& p) {
    if (p.gone || p.crashed) return;
    p.core->observe(*p.view, at(now_));  // release timeouts
    for (const std::string& w : p.core->take_warnings()) {
      if (o_.trace) note(p.address + ": " + w);
      if (w.find("no longer waiting") != std::string::npos) result_.beyond_assumptions = true;
    }
    if (p.publishing && p.publish_revision > 0 && p.view->revision >= p.publish_revision) {
      p.core->published(*p.publishing);
      p.publishing.reset();
      p.publish_revision = 0;
      p.putting = false;
    }
    if (p.leave_deadline >= 0 && (p.core->left() || now_ >= p.leave_deadline)) {
      if (!p.core->left()) {
        if (o_.trace) note(p.address + " gives up leaving in order: removes its record with work in flight");
        for (auto& [id, w] : p.work) admissions_[w.record].beyond = true;
      }
      if (!cut_off(p)) {
        if (o_.trace) note(p.address + " removes its record");
        p.gone = true;
        p.mine.clear();
        remove(p.address);
        return;
      }
    }
    if (p.putting) return;
    std::optional<detail::GuardCore::Publication> due = p.core->due();
    if (!due) return;
    p.putting = true;
    schedule(now_ + draw(1, 15), [this, n = p.number, d = *due] {
      on_proc(n, [this, d](Proc& q) {
        if (q.gone) return;
        // etcd refuses a put on a lease it has expired (the keeper learns of the loss at its
        // next keepalive and re-grants).
        if (cut_off(q) || q.lease == 0 || !leases_[q.lease].alive) {
          q.putting = false;  // failed: the worker tries again
          schedule(now_ + 200, [this, n = q.number] { on_proc(n, [](Proc&) {}); });
          return;
        }
        ServerInfo record{q.address, 1, "", {{released_meta_key, std::to_string(d.released)},
                                             {detail::epoch_meta_key, std::to_string(d.epoch)}}};
        if (d.leaving) record.meta[leaving_meta_key] = "1";
        q.publishing = d;
        q.publish_revision = put(q, record);
      });
    });
  }

  // --- churn --------------------------------------------------------------------------

  std::vector<int> live() const {
    std::vector<int> out;
    for (const auto& p : procs_) {
      if (!p->gone && !p->crashed && !p->leave_asked) out.push_back(p->number);
    }
    return out;
  }

  void churn(const Step& s) {
    std::vector<int> candidates = live();
    if (s.kind == StepKind::join) {
      if (static_cast<int>(candidates.size()) < o_.max_servers) join();
      return;
    }
    if (candidates.empty()) return;
    // Never take the last server away: nothing could be admitted at all.
    bool removes = s.kind == StepKind::leave || s.kind == StepKind::crash;
    if (removes && candidates.size() < 2) return;
    Proc& p = *procs_[static_cast<std::size_t>(candidates[s.pick % candidates.size()])];
    if (o_.trace) note(std::string(name(s.kind)) + " " + p.address + (s.duration ? " for " + std::to_string(s.duration) + " ms" : ""));
    switch (s.kind) {
      case StepKind::leave:
        p.leave_asked = true;
        on_proc(p.number, [this](Proc& q) {
          q.core->start_leaving();
          q.leave_deadline = now_ + leave_timeout;
          schedule(q.leave_deadline, [this, n = q.number] { on_proc(n, [](Proc&) {}); });
        });
        break;
      case StepKind::crash:
        p.crashed = true;
        p.gone = true;
        for (auto& [id, w] : p.work) {
          admissions_[w.record].end = now_;  // nothing more is written by it
        }
        p.work.clear();
        break;
      case StepKind::freeze_short:
      case StepKind::freeze_long:
        p.frozen_until = std::max(p.frozen_until, now_ + s.duration);
        break;
      case StepKind::partition_short:
      case StepKind::partition_long:
        p.partitioned_until = std::max(p.partitioned_until, now_ + s.duration);
        schedule(p.partitioned_until, [this, n = p.number] { on_proc(n, [](Proc&) {}); });
        break;
      case StepKind::relist:
        on_proc(p.number, [this](Proc& q) {
          if (!cut_off(q)) take(q, revision_);
        });
        break;
      case StepKind::join: break;
    }
  }

  // --- clients and the store ----------------------------------------------------------

  void deliver_client(int c, std::int64_t revision) {
    Client& client = clients_[static_cast<std::size_t>(c)];
    if (revision > client.view->revision) client.view = snapshot_at(revision);
  }

  std::string id_name(int i) const { return "host-" + std::to_string(i); }

  void send(int i) {
    ClientId& st = ids_[static_cast<std::size_t>(i)];
    int c = i % o_.clients;
    const Snapshot& view = *clients_[static_cast<std::size_t>(c)].view;
    std::optional<std::string_view> owner = view.ring.owner(id_name(i));
    if (!owner) {
      schedule(now_ + 50, [this, i] { send(i); });
      return;
    }
    std::int64_t attempt = ++st.attempt;
    std::int64_t seq = st.next_seq;
    int target = -1;
    for (const auto& p : procs_) {
      if (p->address == *owner && !p->gone) target = p->number;
    }
    schedule(now_ + client_timeout, [this, i, attempt] {
      if (ids_[static_cast<std::size_t>(i)].attempt == attempt) retry(i, 0);
    });
    if (target < 0) {  // connection refused
      schedule(now_ + draw(1, 5), [this, i, attempt] { reply(i, attempt, "refused"); });
      return;
    }
    std::int64_t revision = view.revision;
    schedule(now_ + draw(1, 5), [this, i, target, attempt, seq, revision, c] {
      on_proc(target, [this, i, attempt, seq, revision, c](Proc& p) { serve(p, i, attempt, seq, revision, c); });
    });
  }

  void serve(Proc& p, int i, std::int64_t attempt, std::int64_t seq, std::int64_t client_revision, int c) {
    std::string id = id_name(i);
    auto answer = [this, i, attempt](const std::string& what) {
      schedule(now_ + draw(1, 5), [this, i, attempt, what] { reply(i, attempt, what); });
    };
    if (p.gone) return answer("refused");
    if (p.work.contains(id)) return answer("busy");
    if (client_revision > p.view->revision) {
      ++result_.waited;
      if (o_.trace) note(p.address + " answers wait for " + id + ": behind client");
      return answer("wait");
    }
    // What Guard::admit does: the fast path, else the core under its lock.
    Admission a;
    if (o_.unguarded) {
      std::optional<std::string_view> owner = p.view->ring.owner(id);
      if (!owner) return answer("wait");
      a = *owner == p.address ? detail::AdmissionAccess::admit(p.address, 0, p.view->revision, nullptr, nullptr, 0)
                              : detail::AdmissionAccess::redirect(*owner, p.view->revision);
    } else if (!detail::fast_admit(p.core->fast_path().get(), p.address, id, client_revision, lease_alive(p), p.lease, a)) {
      a = p.core->admit(id, lease_alive(p), p.lease);
    }
    if (a.verdict() == Verdict::redirect) {
      ++result_.redirected;
      return answer("redirect");
    }
    if (!a) {
      ++result_.waited;
      if (o_.trace) note(p.address + " answers wait for " + id + ": " + a.reason());
      return answer("wait");
    }
    ++result_.admitted;
    // Like the alerts server, a server reads the id's last applied event when it admits one
    // and drops an event already applied (a client's retry, or a request that waited in a
    // frozen server's socket): a late duplicate is not a reordering. This read is not atomic
    // with the write that follows, so two servers working on one id at once still reorder it.
    const std::vector<Row>& applied = rows_[id];
    if (!applied.empty() && seq <= applied.back().seq) return answer("ack");
    std::size_t record = admissions_.size();
    admissions_.push_back({id, p.number, a.token(), now_});
    std::vector<std::size_t>& open = open_[id];
    std::erase_if(open, [&](std::size_t k) { return admissions_[k].end >= 0; });
    for (std::size_t k : open) {
      if (admissions_[k].proc != p.number) overlaps_.emplace_back(k, record);
    }
    open.push_back(record);
    auto& last = last_writer_[id];
    if (last.has_value() && *last != p.number) ++result_.handoffs;
    if (o_.trace) note(p.address + " admits " + id + " #" + std::to_string(seq) + " token " + std::to_string(a.token()));
    Work w{id, seq, c, attempt, std::move(a), now_, record};
    p.work.emplace(id, std::move(w));
    Ms duration = chance(8) ? draw(200, 1500) : draw(2, 20);  // some slow handlers
    schedule(now_ + duration, [this, n = p.number, id] { on_proc(n, [this, id](Proc& q) { finish(q, id); }); });
  }

  void finish(Proc& p, const std::string& id) {
    auto it = p.work.find(id);
    if (it == p.work.end()) return;
    Work w = std::move(it->second);
    p.work.erase(it);
    AdmissionRecord& record = admissions_[w.record];
    bool accepted = write(p, w, record);
    record.end = now_;
    w.admission.done();
    int i = std::stoi(id.substr(5));
    schedule(now_ + draw(1, 5), [this, i, attempt = w.attempt, accepted] { reply(i, attempt, accepted ? "ack" : "fenced"); });
  }

  bool write(const Proc& p, const Work& w, const AdmissionRecord& record) {
    std::vector<Row>& rows = rows_[w.id];
    std::int64_t newest = 0;
    for (const Row& r : rows) newest = std::max(newest, r.token);
    if (o_.fencing && record.token < newest) {
      ++result_.refused;
      if (o_.trace) note(p.address + " write " + w.id + " #" + std::to_string(w.seq) + " token " + std::to_string(record.token) +
           " refused (newest " + std::to_string(newest) + ")");
      return false;
    }
    ++result_.accepted;
    last_writer_[w.id] = p.number;
    if (o_.trace) note(p.address + " writes " + w.id + " #" + std::to_string(w.seq) + " token " + std::to_string(record.token));
    if (!rows.empty()) {
      const Row& last = rows.back();
      if (w.seq < last.seq) {
        order_faults_.push_back({w.id, rows.size(), w.seq, last.seq});
      }
      if (o_.fencing && last.token == record.token && last.proc != p.number) {
        fail(Property::token, w.id, w.id + ": " + procs_[static_cast<std::size_t>(last.proc)]->address + " and " + p.address +
                                  " both wrote under token " + std::to_string(record.token),
             now_);
      }
    }
    rows.push_back({w.seq, record.token, p.number, w.record, now_});
    last_write_[w.id] = now_;
    return true;
  }

  void reply(int i, std::int64_t attempt, const std::string& what) {
    ClientId& st = ids_[static_cast<std::size_t>(i)];
    if (st.attempt != attempt) return;  // an answer to an attempt given up on
    if (what == "ack") {
      ++st.next_seq;
      ++st.attempt;  // the timeout of this attempt is void
      // Quieter once churn has stopped: what is left to see is whether every id gets through.
      Ms think = now_ < churn_end ? draw(50, 250) : draw(150, 450);
      schedule(now_ + think, [this, i] { send(i); });
      return;
    }
    retry(i, what == "redirect" ? draw(2, 20) : draw(20, 60));
  }

  void retry(int i, Ms delay) {
    ClientId& st = ids_[static_cast<std::size_t>(i)];
    ++st.attempt;
    schedule(now_ + delay, [this, i] { send(i); });
  }

  // --- verdicts -----------------------------------------------------------------------

  struct OrderFault {
    std::string id;
    std::size_t row;
    std::int64_t seq;
    std::int64_t after;
  };

  std::string describe(const AdmissionRecord& a) const {
    return procs_[static_cast<std::size_t>(a.proc)]->address + " token " + std::to_string(a.token) + " [" +
           std::to_string(a.start) + ", " + (a.end < 0 ? std::string("...") : std::to_string(a.end)) + "] ms" +
           (a.beyond ? " (its lease expired at etcd meanwhile)" : "");
  }

  void check_end() {
    for (const AdmissionRecord& a : admissions_) result_.beyond_assumptions |= a.beyond;
    for (auto [k, l] : overlaps_) {
      const AdmissionRecord& a = admissions_[k];
      const AdmissionRecord& b = admissions_[l];
      if (a.beyond || b.beyond) continue;
      fail(Property::overlap, a.id, a.id + " admitted by " + describe(b) + " while " + describe(a), b.start);
      return;
    }
    for (const OrderFault& f : order_faults_) {
      const Row& row = rows_[f.id][f.row];
      if (!o_.fencing && admissions_[row.admission].beyond) continue;
      fail(Property::order, f.id, f.id + ": #" + std::to_string(f.seq) + " written by " + describe(admissions_[row.admission]) +
                                " after #" + std::to_string(f.after),
           row.at);
      return;
    }
    for (int i = 0; i < o_.ids; ++i) {
      Ms last = last_write_.contains(id_name(i)) ? last_write_[id_name(i)] : -1;
      if (last < settle_at) {
        fail(Property::liveness, id_name(i), id_name(i) + " was not written between " + std::to_string(settle_at) + " and " +
                                     std::to_string(end_at) + " ms, after churn stopped (last write at " +
                                     std::to_string(last) + " ms)",
             end_at);
        return;
      }
    }
  }

  const Options& o_;
  std::mt19937_64 rng_;
  std::vector<Step> plan_;
  Result result_;

  Ms now_ = 0;
  std::vector<Event> queue_;  // a heap, see later()
  std::uint64_t next_order_ = 0;

  std::int64_t revision_ = 1;
  std::map<std::string, std::shared_ptr<const ServerInfo>> records_;
  std::vector<std::shared_ptr<const Snapshot>> snapshot_history_;
  std::map<std::int64_t, Lease> leases_;
  std::int64_t next_lease_ = 0x100;

  std::vector<std::unique_ptr<Proc>> procs_;
  std::vector<Client> clients_;
  std::vector<ClientId> ids_;
  std::vector<AdmissionRecord> admissions_;
  std::vector<std::pair<std::size_t, std::size_t>> overlaps_;
  std::map<std::string, std::vector<std::size_t>> open_;  // by id: admissions that may still be open
  std::map<std::string, std::vector<Row>> rows_;
  std::vector<OrderFault> order_faults_;
  std::map<std::string, std::optional<int>> last_writer_;
  std::map<std::string, Ms> last_write_;  // by id: when the store last accepted a write
};

}  // namespace

Result run(const Options& options) {
  World world(options);
  return world.run();
}

Result shrink(const Options& options, const Result& failing) {
  Options o = options;
  o.trace = false;
  std::vector<int> kept = failing.steps;
  for (std::size_t i = 0; i < kept.size();) {
    std::vector<int> without;
    for (std::size_t k = 0; k < kept.size(); ++k) {
      if (k != i) without.push_back(kept[k]);
    }
    o.only = without;
    if (without.empty()) o.only = {-1};  // no churn at all
    if (run(o).failed != Property::none) {
      kept = without;
    } else {
      ++i;
    }
  }
  o.only = kept.empty() ? std::vector<int>{-1} : kept;
  o.trace = options.trace;
  return run(o);
}

}  // namespace frodo::sim
