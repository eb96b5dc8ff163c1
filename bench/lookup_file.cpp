// frodo_lookup_file: the in-memory lookup loop, without the CLI's line reading and output.
//
//   frodo_lookup_file SERVERS_FILE IDS_FILE [ketama|maglev]
//
// SERVERS_FILE has one `ADDRESS [WEIGHT]` per line (blank lines and # comments skipped), as
// for `frodo ring lookup`. IDS_FILE has one id per line, bytes as they are, without the '\n'.
// Both are read into memory first; then owner() runs over every id, in file order, three
// times. Prints the best pass's ns/lookup and a checksum of the owners, which both proves
// the lookups were not optimised away and lets two runs be checked for the same answers.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "frodo/ring.hpp"

namespace {

std::string read_whole(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(std::string("cannot open ") + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    if (nl == std::string_view::npos) nl = text.size();
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(std::min(nl + 1, text.size()));
  }
  return lines;
}

std::vector<frodo::Member> read_members(const char* path) {
  std::vector<frodo::Member> members;
  std::istringstream in(read_whole(path));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    frodo::Member member;
    if (!(fields >> member.address) || member.address.front() == '#') continue;
    // A missing weight keeps the default of 1; the Ring rejects a bad one.
    fields >> member.weight;
    members.push_back(std::move(member));
  }
  return members;
}

// FNV-1a over the owners, in id order: stable across runs, unlike hashing the views' pointers.
std::uint64_t checksum_of(const std::vector<std::string_view>& owners) {
  std::uint64_t h = 14695981039346656037ull;
  for (std::string_view owner : owners) {
    for (unsigned char c : owner) h = (h ^ c) * 1099511628211ull;
    h = (h ^ '\n') * 1099511628211ull;
  }
  return h;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s SERVERS_FILE IDS_FILE [ketama|maglev]\n", argv[0]);
    return 2;
  }
  const frodo::Algorithm algorithm = argc == 4 ? frodo::parse_algorithm(argv[3]) : frodo::Algorithm::ketama;
  const frodo::Ring ring(read_members(argv[1]), algorithm);
  const std::string text = read_whole(argv[2]);
  const std::vector<std::string_view> ids = lines_of(text);
  if (ids.empty()) throw std::runtime_error(std::string("no ids in ") + argv[2]);

  // Results go to a vector, as node's loop stores into an array: the same work on both
  // sides, and the checksum afterwards keeps every lookup alive.
  std::vector<std::string_view> owners(ids.size());
  double best_ns = 0;
  for (int pass = 0; pass < 3; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < ids.size(); ++i) owners[i] = *ring.owner(ids[i]);
    const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
    const double ns = took.count() / static_cast<double>(ids.size());
    if (pass == 0 || ns < best_ns) best_ns = ns;
  }
  std::printf("algorithm=%s servers=%zu ids=%zu ns/lookup=%.1f checksum=%016llx\n", frodo::to_string(algorithm),
              ring.size(), ids.size(), best_ns, static_cast<unsigned long long>(checksum_of(owners)));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "frodo_lookup_file: %s\n", e.what());
  return 1;
}
