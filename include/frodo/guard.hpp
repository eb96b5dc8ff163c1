// Guard: the ownership guard of one server. Before it processes an entity, a server asks
// admit(id) and gets one of three verdicts:
//   admit     it owns the id in its current view and nobody else can be processing it; the
//             Admission carries a fencing token to pass to the store, and the id counts as
//             in flight until the Admission is destroyed (or done() is called);
//   redirect  another server owns it: owner() at revision();
//   wait      it owns the id but a handoff is still in progress (a server that owned it
//             before has not released it yet), its lease has expired, or it is leaving.
//
//   frodo::Guard guard(cluster, "10.0.0.3:3030");          // registers the server
//   if (frodo::Admission a = guard.admit(host, client_revision)) {
//     store.write(host, event, a.token());                 // the store refuses older tokens
//   }
//
// The protocol (docs/ownership-guard.md): every guarded server publishes, in its own server
// record, the epoch it has *released*: that it has finished all work admitted under earlier
// epochs. An epoch is the revision at which the ring's membership last changed. A server admits
// an id it gained only when every other guarded server has released its epoch (or has left,
// its lease gone); ids it owned in every view since that was last true it keeps admitting.
// A server whose lease deadline has passed by its own clock admits nothing until it has a
// live lease again and its view holds its record on that lease; a record that comes back
// as a new one (deleted and registered again, or on a new lease) makes it a new member:
// every id it owns waits for settlement, as after a join. Tokens grow along every handoff, so a store that refuses a token older
// than the newest it accepted for an id turns a late write of a paused process into a no-op.
//
// Records come from anyone who can write to etcd. A record whose released or epoch value is
// at or above the revision of the view it appears in was written by no guard: it is neither
// waited for nor answered, and one warning names it. A guarded peer that has not released
// the epoch it is waited for within release_timeout, while its record stays, is given up on
// (one warning) until it releases it: gained ids are then protected by their fencing token
// only. Each peer epoch is answered with at most one release, and a guard keeps at most
// max_unsettled_rings rings of history.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "frodo/cluster.hpp"
#include "frodo/histogram.hpp"

namespace frodo {

enum class Verdict { admit, redirect, wait };
const char* to_string(Verdict verdict) noexcept;

struct GuardOptions {
  AddOptions server;  // weight, zone and meta of the guarded server (never persistent)
  // How long admit() waits for this server's view to reach a client's newer revision
  // before it answers `wait`.
  std::chrono::milliseconds catch_up{1000};
  // How long this server waits for a guarded peer whose record stays registered (its lease
  // alive, or no lease at all) but which does not release the epoch it is waited for. Past
  // it, the peer is no longer waited for (one warning naming it) until it releases again;
  // ids then move to this server protected by their fencing token only (see
  // docs/ownership-guard.md, "A peer that never releases"). Unset: 6 x the Cluster's
  // lease TTL (30 s by default). milliseconds::max(): wait for ever.
  std::optional<std::chrono::milliseconds> release_timeout;
  // Where the guard's warnings go (a peer given up on, a record that cannot be a guard's, a
  // failed write); default: the Cluster's logger (ClusterOptions::logger), else stderr.
  // Never called under the guard's lock; may be called from
  // several threads at once (the Cluster's, the guard's worker, admit's callers).
  std::function<void(const std::string& message)> logger;
};

namespace detail {
struct InFlight;
struct InFlightSlot;
struct AdmissionAccess;
}  // namespace detail

// The verdict of one admit(). An admitted id counts as in flight until the Admission is
// destroyed or done() is called; an Admission is a value that may be moved to and ended on
// any thread. Every Admission must end before its Guard's destruction begins (ending one on
// another thread meanwhile is a race); one still alive when its Guard is destroyed keeps a
// few hundred bytes allocated for ever (the Guard logs it), so that its done() stays safe.
class Admission {
 public:
  Admission() = default;
  Admission(Admission&&) noexcept;
  Admission& operator=(Admission&&) noexcept;
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;
  ~Admission();

  Verdict verdict() const { return verdict_; }
  explicit operator bool() const { return verdict_ == Verdict::admit; }
  // The fencing token: the epoch under which the id was admitted (0 unless admitted).
  std::int64_t token() const { return token_; }
  // redirect: the owner in this server's view; otherwise this server.
  const std::string& owner() const { return owner_; }
  // The revision of the view the verdict was made in (clients wait for it before retrying).
  std::int64_t revision() const { return revision_; }
  // wait: why ("handoff", "lease expired", "rejoining" (the lease was re-granted and this
  // server's view does not hold its record on the new lease yet), "leaving", "behind
  // client", "no view", "no servers").
  const std::string& reason() const { return reason_; }
  // The work is finished (also done by the destructor). Lock-free unless the epoch it was
  // admitted under has ended meanwhile (then it wakes the guard's worker).
  void done();

 private:
  friend struct detail::AdmissionAccess;
  Verdict verdict_ = Verdict::wait;
  std::int64_t token_ = 0;
  std::int64_t revision_ = 0;
  std::string owner_;
  std::string reason_;
  detail::InFlight* flight_ = nullptr;  // where it is counted while in flight
  detail::InFlightSlot* slot_ = nullptr;
  std::uint64_t flight_state_ = 0;
};

struct GuardStats {
  std::uint64_t admitted = 0;
  std::uint64_t redirected = 0;
  std::uint64_t waited = 0;
  std::uint64_t releases = 0;  // epochs this server has published as released (its handoffs)
  std::int64_t epoch = 0;      // the current epoch
  std::int64_t released = 0;   // the epoch it last published as released
  bool settled = false;        // every guarded server has released the current epoch
                               // (or has been given up on, see release_timeout)
  std::size_t unsettled = 0;   // rings kept since the last settled epoch (at most max_unsettled_rings)
  std::map<std::string, std::uint64_t> waits;  // `waited` by Admission::reason
  std::uint64_t given_up = 0;  // times a peer was given up on (release_timeout)
  Histogram handoff;           // per epoch: from the change of the ring until every guarded
                               // server had released it (settled), by this process's clock
};

// The most rings a guard keeps while it is not settled (see docs/ownership-guard.md).
inline constexpr std::size_t max_unsettled_rings = 32;

class Guard {
 public:
  // Registers `address` in `cluster` (on the Cluster's lease) as a guarded server.
  // Throws Error(invalid_argument) for a bad address, a persistent AddOptions, the guard's
  // own meta keys in it, or a release_timeout that is not positive.
  // Lifetime: the Guard keeps a reference to `cluster`, and its worker thread writes through
  // it until the destructor returns, so `cluster` must outlive the Guard. (The view callback
  // it registers holds only a weak reference: the Cluster may keep it after the Guard is gone.)
  // Thread-safety: admit() and stats() may be called from any threads at once, also while
  // leave() runs; the destructor must not run while another call is in progress.
  Guard(Cluster& cluster, std::string address, GuardOptions options = {});
  // Leaves (see leave()) if it has not, without waiting for others.
  ~Guard();
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

  // The verdict for `id`. `client_revision` is the revision of the view the client looked the
  // owner up in: a server behind it waits (up to catch_up) to see that view first. Never
  // blocks on etcd; may block up to catch_up waiting for this process's own view. The lease
  // is checked again last, once the admission is counted in flight: a thread paused inside
  // admit() past its lease deadline gets "lease expired", not an admission.
  Admission admit(std::string_view id, std::int64_t client_revision = 0);

  // Graceful exit: marks the server leaving (the ring drops it, so its ids move), finishes
  // the work in flight, publishes the release, then removes the server. Waits up to
  // `timeout` for the work in flight and for the release to be seen; the server is removed
  // in any case. Idempotent.
  void leave(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  GuardStats stats() const;
  const std::string& address() const { return address_; }

  struct State;  // internal

 private:
  // `a`, if the lease it was made under still holds; else a wait ("lease expired").
  Admission checked(Admission a, std::int64_t lease);

  std::string address_;
  std::shared_ptr<State> state_;
  Subscription subscription_;  // the Cluster's view callback, unregistered by the destructor
};

// The server-record meta keys the guard publishes (docs/etcd-schema.md).
inline constexpr const char* released_meta_key = "frodo.released";
inline constexpr const char* leaving_meta_key = "frodo.leaving";

}  // namespace frodo
