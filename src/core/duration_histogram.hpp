// A histogram of durations that any number of threads may record into at once: one relaxed
// atomic add per observation, no lock. Read with read(); a read concurrent with observe()
// may see an observation in `count` before its bucket (each field is exact on its own).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "frodo/histogram.hpp"

namespace frodo::detail {

class DurationHistogram {
 public:
  // Bucket bounds in seconds, 0.5 ms to 30 s: etcd calls on a LAN take milliseconds, a
  // handoff waits up to a release timeout.
  static constexpr std::array<double, 15> bounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                    0.25,   0.5,   1,      2.5,   5,     10,   30};

  void observe(std::chrono::nanoseconds elapsed) noexcept {
    double seconds = std::chrono::duration<double>(elapsed).count();
    if (!(seconds >= 0)) seconds = 0;  // a clock step backwards, or NaN
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(elapsed.count() > 0 ? elapsed.count() : 0), std::memory_order_relaxed);
  }

  Histogram read() const {
    Histogram h;
    h.bounds.assign(bounds.begin(), bounds.end());
    h.counts.reserve(counts_.size());
    for (const auto& c : counts_) h.counts.push_back(c.load(std::memory_order_relaxed));
    h.count = count_.load(std::memory_order_relaxed);
    h.sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return h;
  }

 private:
  std::array<std::atomic<std::uint64_t>, bounds.size() + 1> counts_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};  // 2^64 ns is 584 years of summed waits
};

}  // namespace frodo::detail
