// GuardSlot: one frodo::Guard as a NativeGuard and its NativeCluster share it.
//
// The slot keeps the Cluster alive for as long as the Guard exists (a Guard must not
// outlive its Cluster), and lets the Cluster's shut_down() end the Guard first. `mutex`
// is held around every use of `guard` (admit on the JS thread, leave and shut_down on
// worker threads), so the Guard is never destroyed during a call.
#pragma once

#include <memory>
#include <mutex>

#include "frodo/cluster.hpp"
#include "frodo/guard.hpp"

namespace frodoio {

struct GuardSlot {
  std::shared_ptr<frodo::Cluster> cluster;
  std::mutex mutex;
  // Null until made, and once ended. Shared only with a leave() in progress, which runs
  // without the lock (admit() must not wait for it) and holds its own reference meanwhile.
  std::shared_ptr<frodo::Guard> guard;
  bool made = false;  // the Guard was made (so a null `guard` means it has ended)

  // Destroys the Guard (it leaves without waiting for others) if it is still there. Under
  // the lock: an Admission's done() (also taken under it) never races the destruction.
  void end() {
    std::lock_guard lock(mutex);
    guard.reset();
  }
};

}  // namespace frodoio
