// Subscription: a callback registered with a Cluster (Cluster::on_change, on_lease_lost).
// Destroying the Subscription, or reset(), unregisters the callback.
//
//   frodo::Subscription s = cluster.on_change([](const Snapshot& before, const Snapshot& after) { /* ... */ });
//   ...
//   s.reset();  // from here on the callback is not running and is never called again
//
// Contract:
// - reset() waits for a call of the callback in progress on another thread to return, so
//   what the callback uses may be destroyed right after it. Called from inside the callback
//   itself it does not wait (later calls are still prevented). Do not reset, from one
//   callback, a subscription whose callback may be waiting on it.
// - A Subscription may outlive its Cluster: reset() then does nothing.
// - Movable, not copyable; not safe to use from two threads at once (as any value).
#pragma once

#include <functional>

namespace frodo {

class Subscription {
 public:
  Subscription() = default;
  // `cancel` unregisters (called at most once, by reset()).
  explicit Subscription(std::function<void()> cancel) : cancel_(std::move(cancel)) {}
  Subscription(Subscription&& other) noexcept : cancel_(std::move(other.cancel_)) { other.cancel_ = nullptr; }
  Subscription& operator=(Subscription&& other) noexcept {
    if (this != &other) {
      reset();
      cancel_ = std::move(other.cancel_);
      other.cancel_ = nullptr;
    }
    return *this;
  }
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription() { reset(); }

  // Unregisters the callback (idempotent).
  void reset() noexcept {
    if (!cancel_) return;
    auto cancel = std::move(cancel_);
    cancel_ = nullptr;
    try {
      cancel();
    } catch (...) {
      // Unregistering takes a lock and erases from a map: it does not throw in practice.
    }
  }
  // Still registered (not reset, not moved from).
  explicit operator bool() const noexcept { return static_cast<bool>(cancel_); }

 private:
  std::function<void()> cancel_;
};

}  // namespace frodo
