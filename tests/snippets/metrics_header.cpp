// include/frodo/metrics.hpp's usage example, as written there, over the in-memory registry.
#include <frodo/cluster.hpp>
#include <frodo/guard.hpp>
#include <frodo/metrics.hpp>

#include <string>
#include <string_view>

int main() {
  frodo::Cluster cluster({.context = "appname"}, frodo::MemoryRegistry::create());
  frodo::Guard guard(cluster, "10.0.0.3:3030");
  // begin snippet: include/frodo/metrics.hpp
  std::string body = frodo::prometheus_text(cluster, {&guard});
  // reply with Content-Type: frodo::prometheus_content_type
  // end snippet
  return body.find("# TYPE ") != std::string::npos &&
                 std::string_view(frodo::prometheus_content_type).starts_with("text/plain")
             ? 0
             : 1;
}
