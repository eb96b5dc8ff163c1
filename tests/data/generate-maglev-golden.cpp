// Writes tests/data/maglev-golden.json: what today's maglev ring answers for a few fixed
// rings (owners of fixed ids, each member's share, the ring checksum), so that any change
// to the hashing, the table size ladder or the table fill shows up as a failing test
// (tests/unit/maglev_golden_test.cpp). Built with the tests; regenerate only on purpose:
//   build/release/tests/frodo_generate_maglev_golden > tests/data/maglev-golden.json
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "frodo/ring.hpp"

namespace {

using nlohmann::ordered_json;

std::vector<std::string> golden_ids() {
  std::vector<std::string> ids = {"", "user:42", "\xc3\xa9t\xc3\xa9-7", std::string(300, 'x')};
  for (int i = 0; i < 96; ++i) ids.push_back("id-" + std::to_string(i));
  return ids;
}

ordered_json describe(const std::string& name, const std::vector<frodo::Member>& members) {
  frodo::Ring ring(members, frodo::Algorithm::maglev);
  ordered_json out;
  out["name"] = name;
  out["members"] = ordered_json::array();
  for (const frodo::Member& m : members) out["members"].push_back({{"address", m.address}, {"weight", m.weight}});
  out["checksum"] = ring.checksum_hex();
  // shares() is in members() order, which is sorted by address.
  out["shares"] = ordered_json::object();
  std::vector<double> shares = ring.shares();
  for (std::size_t i = 0; i < shares.size(); ++i) out["shares"][ring.members()[i].address] = shares[i];
  out["owners"] = ordered_json::array();
  for (const std::string& id : golden_ids()) {
    ordered_json owners = ordered_json::array();
    for (std::string_view o : ring.owners(id, 3)) owners.push_back(std::string(o));
    out["owners"].push_back({{"id", id}, {"owners", owners}});
  }
  return out;
}

std::vector<frodo::Member> numbered(const std::string& pattern_head, const std::string& pattern_tail, int n) {
  std::vector<frodo::Member> members;
  for (int i = 0; i < n; ++i) members.push_back({pattern_head + std::to_string(i) + pattern_tail, 1, ""});
  return members;
}

}  // namespace

int main() {
  ordered_json golden;
  golden["generator"] = "tests/data/generate-maglev-golden.cpp";
  golden["rings"] = ordered_json::array();
  golden["rings"].push_back(describe("3 IPv4", numbered("10.0.0.", ":3030", 3)));
  golden["rings"].push_back(describe("10 names", numbered("cache-", ".internal:6379", 10)));
  std::vector<frodo::Member> weighted = numbered("w", ":80", 10);
  const double weights[] = {1, 2, 0.5, 3, 1, 1, 10, 0.25, 1.5, 4};
  for (std::size_t i = 0; i < weighted.size(); ++i) weighted[i].weight = weights[i];
  golden["rings"].push_back(describe("10 weighted", weighted));
  std::vector<frodo::Member> hundred = numbered("node-", ".example.net:8080", 99);
  hundred.push_back({"[fd00::1]:8080", 1, ""});
  golden["rings"].push_back(describe("100 names and one IPv6", hundred));
  // Past the first step of the table-size ladder (656 members and up: 131071 entries).
  golden["rings"].push_back(describe("700 names", numbered("m", ".example:1", 700)));
  // One member, share or lookup per line: compact, and a change shows as a readable diff.
  std::printf("{\n\"generator\": %s,\n\"rings\": [\n", golden["generator"].dump().c_str());
  for (std::size_t r = 0; r < golden["rings"].size(); ++r) {
    const ordered_json& ring = golden["rings"][r];
    std::printf("{\"name\": %s, \"checksum\": %s,\n", ring["name"].dump().c_str(), ring["checksum"].dump().c_str());
    for (const char* key : {"members", "shares", "owners"}) {
      const ordered_json& list = ring[key];
      bool object = list.is_object();
      std::printf(" \"%s\": %c\n", key, object ? '{' : '[');
      std::size_t i = 0;
      for (auto it = list.begin(); it != list.end(); ++it, ++i) {
        std::string entry = object ? ordered_json(it.key()).dump() + ": " + it.value().dump() : it->dump();
        std::printf("  %s%s\n", entry.c_str(), i + 1 < list.size() ? "," : "");
      }
      std::printf(" %c%s\n", object ? '}' : ']', std::string(key) == "owners" ? "" : ",");
    }
    std::printf("}%s\n", r + 1 < golden["rings"].size() ? "," : "");
  }
  std::printf("]\n}\n");
  return 0;
}
