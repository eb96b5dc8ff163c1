// Mutexes whose locking rules the compiler checks.
//
// frodo's locking rules ("under mutex_", "lock held") are written as clang's thread-safety
// attributes: a member marked FRODO_GUARDED_BY(mutex_) may be read or written only with
// mutex_ held, a function marked FRODO_REQUIRES(mutex_) may be called only with it held,
// FRODO_EXCLUDES(mutex_) only without it. The `thread-safety` preset compiles the library
// with clang's -Wthread-safety -Werror, so a broken rule does not build; other compilers
// see plain std::mutex and std::condition_variable, at the same cost.
//
// std::mutex and std::lock_guard from libstdc++ carry no such attributes, hence the thin
// wrappers below. Condition waits are written as loops over CondVar::wait (not with a
// predicate lambda): the analysis sees the loop's condition read with the lock held, which it
// cannot prove of a lambda.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define FRODO_TSA(x) __attribute__((x))
#else
#define FRODO_TSA(x)
#endif

#define FRODO_CAPABILITY(x) FRODO_TSA(capability(x))
#define FRODO_SCOPED_CAPABILITY FRODO_TSA(scoped_lockable)
#define FRODO_GUARDED_BY(x) FRODO_TSA(guarded_by(x))
#define FRODO_PT_GUARDED_BY(x) FRODO_TSA(pt_guarded_by(x))
#define FRODO_ACQUIRED_BEFORE(...) FRODO_TSA(acquired_before(__VA_ARGS__))
#define FRODO_ACQUIRED_AFTER(...) FRODO_TSA(acquired_after(__VA_ARGS__))
#define FRODO_REQUIRES(...) FRODO_TSA(requires_capability(__VA_ARGS__))
#define FRODO_ACQUIRE(...) FRODO_TSA(acquire_capability(__VA_ARGS__))
#define FRODO_RELEASE(...) FRODO_TSA(release_capability(__VA_ARGS__))
#define FRODO_EXCLUDES(...) FRODO_TSA(locks_excluded(__VA_ARGS__))
#define FRODO_NO_THREAD_SAFETY_ANALYSIS FRODO_TSA(no_thread_safety_analysis)

namespace frodo::detail {

// A std::mutex the analysis knows. Not recursive.
class FRODO_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() FRODO_ACQUIRE() { mutex_.lock(); }
  void unlock() FRODO_RELEASE() { mutex_.unlock(); }

 private:
  friend class MutexLock;
  std::mutex mutex_;
};

// Holds a Mutex from construction to destruction, like std::unique_lock: it may be released
// and taken again in between (unlock/lock), and a CondVar waits on it.
class FRODO_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) FRODO_ACQUIRE(mutex) : lock_(mutex.mutex_) {}
  ~MutexLock() FRODO_RELEASE() = default;
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void unlock() FRODO_RELEASE() { lock_.unlock(); }
  void lock() FRODO_ACQUIRE() { lock_.lock(); }

 private:
  friend class CondVar;
  std::unique_lock<std::mutex> lock_;
};

// A condition variable over a MutexLock. Every wait returns with the lock held again; wake-ups
// may be spurious, so callers wait in a loop over their condition.
class CondVar {
 public:
  void notify_one() noexcept { cv_.notify_one(); }
  void notify_all() noexcept { cv_.notify_all(); }

  void wait(MutexLock& lock) { cv_.wait(lock.lock_); }
  // false once `deadline` has passed.
  template <class Clock, class Duration>
  bool wait_until(MutexLock& lock, const std::chrono::time_point<Clock, Duration>& deadline) {
    return cv_.wait_until(lock.lock_, deadline) == std::cv_status::no_timeout;
  }
  template <class Rep, class Period>
  bool wait_for(MutexLock& lock, const std::chrono::duration<Rep, Period>& timeout) {
    return cv_.wait_for(lock.lock_, timeout) == std::cv_status::no_timeout;
  }

 private:
  std::condition_variable cv_;
};

}  // namespace frodo::detail
