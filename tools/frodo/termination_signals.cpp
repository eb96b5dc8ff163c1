#include "termination_signals.hpp"

#include <pthread.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace frodo::cli {

TerminationSignals::TerminationSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGHUP);
  if (int e = pthread_sigmask(SIG_BLOCK, &set_, &previous_); e != 0) {
    throw std::runtime_error(std::string("cannot block signals: ") + std::strerror(e));
  }
}

TerminationSignals::~TerminationSignals() {
  // A signal still pending would be delivered on unblocking and kill the process before the
  // command returns its status: drain them first.
  timespec zero{};
  while (sigtimedwait(&set_, nullptr, &zero) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

int TerminationSignals::wait() {
  while (true) {
    int signal = 0;
    int e = sigwait(&set_, &signal);
    if (e == 0) return signal;
    if (e != EINTR) throw std::runtime_error(std::string("sigwait: ") + std::strerror(e));
  }
}

int TerminationSignals::wait_for(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
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

}  // namespace frodo::cli
