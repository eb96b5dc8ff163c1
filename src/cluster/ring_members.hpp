// The ring's members of a view: every registered server but those leaving (a guarded server
// draining before it removes itself, see guard.hpp). Defined in cluster.cpp; the guard
// simulation builds its views with it too.
#pragma once

#include <vector>

#include "frodo/ring.hpp"
#include "frodo/server.hpp"

namespace frodo {

std::vector<Member> ring_members(const ServerList& servers);

}  // namespace frodo
