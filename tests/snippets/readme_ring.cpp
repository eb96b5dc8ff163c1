// README.md, "The library": the Ring example, as written there (tests/snippets/check-snippets.sh).
#include <frodo/ring.hpp>

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

int main() {
  // begin snippet: README
  #include <frodo/ring.hpp>

  frodo::Ring ring({{"10.0.0.1:3030"}, {"10.0.0.2:3030"}, {"10.0.0.3:3030", 2.0}});
  std::optional<std::string_view> owner = ring.owner("host-42");      // nullopt only if empty
  std::vector<std::string_view> backups = ring.owners("host-42", 3);  // distinct, preference order
  std::string checksum = ring.checksum_hex();  // same members => same checksum => same answers
  // end snippet
  assert(owner && backups.size() == 3 && backups.front() == *owner && checksum.size() == 16);
  return owner && backups.size() == 3 && backups.front() == *owner ? 0 : 1;
}
