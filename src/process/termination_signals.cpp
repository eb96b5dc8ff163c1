#include "process/termination_signals.hpp"

#include <pthread.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace frodo::process {

BlockedSignals::BlockedSignals(std::initializer_list<int> signals) {
  sigemptyset(&set_);
  for (int s : signals) sigaddset(&set_, s);
  if (int e = pthread_sigmask(SIG_BLOCK, &set_, &previous_); e != 0) {
    throw std::runtime_error(std::string("cannot block signals: ") + std::strerror(e));
  }
}

BlockedSignals::~BlockedSignals() {
  timespec zero{};
  while (sigtimedwait(&set_, nullptr, &zero) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

int BlockedSignals::wait() {
  while (true) {
    int signal = 0;
    int e = sigwait(&set_, &signal);
    if (e == 0) return signal;
    if (e != EINTR) throw std::runtime_error(std::string("sigwait: ") + std::strerror(e));
  }
}

int BlockedSignals::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) left = std::chrono::nanoseconds(0);
    timespec wait{static_cast<time_t>(left.count() / 1'000'000'000), static_cast<long>(left.count() % 1'000'000'000)};
    int signal = sigtimedwait(&set_, nullptr, &wait);
    if (signal > 0) return signal;
    if (errno == EAGAIN) return 0;
    if (errno != EINTR) throw std::runtime_error(std::string("sigtimedwait: ") + std::strerror(errno));
  }
}

}  // namespace frodo::process
