#include "service_notify.hpp"

#include <systemd/sd-daemon.h>

namespace frodo::cli {

namespace {

// A status line holds no newline (it would start another assignment of the protocol).
std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

}  // namespace

void notify_ready(const std::string& status) {
  // The result is ignored on purpose: without a manager there is nobody to tell, and a
  // manager that cannot be reached is not a reason to stop serving.
  (void)sd_notify(0, ("READY=1\nSTATUS=" + one_line(status)).c_str());
}

void notify_stopping() { (void)sd_notify(0, "STOPPING=1\nSTATUS=leaving"); }

}  // namespace frodo::cli
