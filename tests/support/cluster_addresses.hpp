// The addresses in a Cluster's current view, for tests that compare memberships.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "frodo/cluster.hpp"

namespace frodo::test {

inline std::set<std::string> addresses(const Cluster& c) {
  std::set<std::string> out;
  std::shared_ptr<const Snapshot> view = c.snapshot();  // held while its servers are read
  for (const auto& s : view->servers) out.insert(s.address);
  return out;
}

}  // namespace frodo::test
