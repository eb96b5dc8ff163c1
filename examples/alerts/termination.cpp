#include "termination.hpp"

namespace alerts {

TerminationSignals::TerminationSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set_, &previous_);
}

TerminationSignals::~TerminationSignals() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

int TerminationSignals::wait() {
  for (;;) {
    int signal = 0;
    if (sigwait(&set_, &signal) == 0) return signal;
  }
}

std::optional<int> TerminationSignals::wait_for(std::chrono::milliseconds timeout) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  timespec ts{static_cast<time_t>(s.count()),
              static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout - s).count())};
  int signal = sigtimedwait(&set_, nullptr, &ts);
  if (signal > 0) return signal;
  return std::nullopt;  // the timeout (EAGAIN), or EINTR: the caller waits again either way
}

}  // namespace alerts
