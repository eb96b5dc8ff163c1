// Fuzzes the servers-file parser of `frodo ring`, read_servers (tools/frodo/servers_file.cpp).
//
// Invariants: bad input is refused with a UsageError (anything else escaping is a bug, and
// libFuzzer reports the uncaught exception); every list it accepts builds a Ring with the
// same number of members.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "check.hpp"
#include "frodo/ring.hpp"
#include "servers_file.hpp"
#include "usage_error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using frodo::fuzz::check;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  std::vector<frodo::Member> members;
  try {
    members = frodo::cli::read_servers(in, "servers.txt");
  } catch (const frodo::cli::UsageError& e) {
    check(std::string(e.what()).rfind("servers.txt", 0) == 0, "a refusal names the file", e.what());
    return 0;
  }
  check(!members.empty(), "an accepted file has members");
  // Throws frodo::Error (uncaught: a crash) if read_servers accepted what a Ring refuses.
  frodo::Ring ring(members);
  check(ring.size() == members.size(), "the ring keeps every member");
  return 0;
}
