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

}  // namespace frodo::cli
