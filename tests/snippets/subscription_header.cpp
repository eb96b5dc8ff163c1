// include/frodo/subscription.hpp's usage example, as written there, over the in-memory registry.
#include <frodo/cluster.hpp>
#include <frodo/subscription.hpp>

using frodo::Snapshot;

int main() {
  frodo::Cluster cluster({.context = "appname"}, frodo::MemoryRegistry::create());
  // begin snippet: include/frodo/subscription.hpp
  frodo::Subscription s = cluster.on_change([](const Snapshot& before, const Snapshot& after) { /* ... */ });
  // ...
  s.reset();  // from here on the callback is not running and is never called again
  // end snippet
  return 0;
}
