// include/frodo/guard.hpp's usage example, as written there, over the in-memory registry.
#include <frodo/cluster.hpp>
#include <frodo/guard.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

namespace {
struct Store {
  std::int64_t last_token = 0;
  void write(std::string_view, std::string_view, std::int64_t token) { last_token = token; }
};
}  // namespace

int main() {
  frodo::Cluster cluster({.context = "appname"}, frodo::MemoryRegistry::create());
  Store store;
  std::string host = "host-42";
  std::string event = "{}";
  std::int64_t client_revision = 0;
  // begin snippet: include/frodo/guard.hpp
  frodo::Guard guard(cluster, "10.0.0.3:3030");          // registers the server
  if (frodo::Admission a = guard.admit(host, client_revision)) {
    store.write(host, event, a.token());                 // the store refuses older tokens
  }
  // end snippet
  // A lone server admits every id once its first epoch has settled.
  for (int i = 0; i < 2000 && store.last_token == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (frodo::Admission a = guard.admit(host, client_revision)) store.write(host, event, a.token());
  }
  return store.last_token > 0 ? 0 : 1;
}
