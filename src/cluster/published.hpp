// Published<T>: one immutable value, replaced by writers, read by any number of threads
// without a lock and without a write to shared memory on the common path.
//
// Why it is safe whatever the stalls: a reader never holds a raw pointer the cell owns. Each
// thread keeps its own shared_ptr to the value it last read from a cell, in a small
// thread-local cache keyed by the value's stamp (unique across every cell of the process).
// read() compares the cell's current stamp, one atomic load, with the cached one: equal, it
// returns the cached value; different, it copies the cell's shared_ptr under the cell's mutex
// into the cache. A replaced value is freed when the last thread that cached it reads again,
// or exits, so a thread stalled for any length of time still holds what it is reading.
//
// Contract:
// - publish() and get() may be called from any thread; they take the cell's mutex.
// - read() returns the current value (nullptr before the first publish). The pointer stays
//   valid until this thread's next read() of any Published cell of the same T, or its exit.
// - Memory: besides the current value, each thread keeps at most `cache_slots` values it read
//   last (across all cells of the same T), including values of cells already destroyed.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "core/mutex.hpp"

namespace frodo::detail {

// Stamps of every published value in the process; 0 means "nothing published".
inline std::atomic<std::uint64_t> published_stamps{0};

template <class T>
class Published {
 public:
  static constexpr std::size_t cache_slots = 4;

  Published() = default;
  Published(const Published&) = delete;
  Published& operator=(const Published&) = delete;

  void publish(std::shared_ptr<const T> value) FRODO_EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    value_ = std::move(value);
    stamp_.store(published_stamps.fetch_add(1, std::memory_order_relaxed) + 1, std::memory_order_release);
  }

  std::shared_ptr<const T> get() const FRODO_EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    return value_;
  }

  const T* read() const {
    std::uint64_t stamp = stamp_.load(std::memory_order_acquire);
    if (stamp == 0) return nullptr;
    Cache& cache = thread_cache();
    for (const Slot& slot : cache.slots) {
      if (slot.stamp == stamp) return slot.value.get();
    }
    return refresh(cache);
  }

 private:
  struct Slot {
    const Published* cell = nullptr;  // which cell filled it: only to choose a slot to reuse
    std::uint64_t stamp = 0;
    std::shared_ptr<const T> value;
  };
  struct Cache {
    std::array<Slot, cache_slots> slots;
    std::size_t next = 0;  // round-robin victim when no slot belongs to the cell
  };

  static Cache& thread_cache() {
    thread_local Cache cache;
    return cache;
  }

  const T* refresh(Cache& cache) const FRODO_EXCLUDES(mutex_) {
    Slot fresh;
    fresh.cell = this;
    {
      MutexLock lock(mutex_);
      fresh.value = value_;
      fresh.stamp = stamp_.load(std::memory_order_relaxed);
    }
    Slot* target = nullptr;
    for (Slot& slot : cache.slots) {
      if (slot.cell == this) target = &slot;
    }
    if (!target) {
      target = &cache.slots[cache.next];
      cache.next = (cache.next + 1) % cache_slots;
    }
    // Keep the replaced value alive until the slot is written: its destructor may run T's.
    std::shared_ptr<const T> old = std::move(target->value);
    *target = std::move(fresh);
    return target->value.get();
  }

  mutable Mutex mutex_;
  std::shared_ptr<const T> value_ FRODO_GUARDED_BY(mutex_);
  std::atomic<std::uint64_t> stamp_{0};
};

}  // namespace frodo::detail
