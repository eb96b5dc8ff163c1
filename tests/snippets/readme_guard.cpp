// README.md, "The ownership guard": the Guard example, as written there, run over the
// in-memory registry with a toy store and replies.
#include <frodo/cluster.hpp>
#include <frodo/guard.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

namespace {
struct Store {
  int writes = 0;
  void write(std::string_view, std::string_view, std::int64_t token) { writes += token > 0; }
};
int replies = 0;
void reply_421(const std::string&, std::int64_t) { ++replies; }
void reply_503(const std::string&) { ++replies; }
}  // namespace

int main() {
  frodo::Cluster cluster({.context = "appname"}, frodo::MemoryRegistry::create());
  Store store;
  std::string host = "host-42";
  std::string event = "{}";
  std::int64_t client_revision = 0;
  // begin snippet: README
  #include <frodo/guard.hpp>

  frodo::Guard guard(cluster, "10.0.0.3:3030");         // registers the server (on the lease)
  {                                                      // for each event:
    frodo::Admission a = guard.admit(host, client_revision);
    switch (a.verdict()) {
      case frodo::Verdict::admit:    store.write(host, event, a.token()); break;  // in flight until `a` dies
      case frodo::Verdict::redirect: reply_421(a.owner(), a.revision()); break;   // the owner in my view
      case frodo::Verdict::wait:     reply_503(a.reason()); break;                // handoff, lease expired...
    }
  }
  guard.leave();                                         // graceful exit: drain, hand over, remove
  // end snippet
  // A lone server admits at once, or asks to wait while its first epoch settles.
  return store.writes + replies == 1 ? 0 : 1;
}
