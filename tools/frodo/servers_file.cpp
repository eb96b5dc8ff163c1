#include "servers_file.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "frodo/address.hpp"
#include "usage_error.hpp"

namespace frodo::cli {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    std::size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

}  // namespace

std::vector<Member> read_servers(std::istream& in, const std::string& name) {
  std::vector<Member> members;
  std::map<std::string, std::size_t, std::less<>> first_line;
  std::string line;
  std::size_t number = 0;
  auto fail = [&](const std::string& message) {
    throw UsageError(name + ":" + std::to_string(number) + ": " + message);
  };
  while (std::getline(in, line)) {
    ++number;
    std::vector<std::string_view> fields = fields_of(line);
    if (fields.empty() || fields.front().front() == '#') continue;
    if (fields.size() > 2) fail("unexpected '" + std::string(fields[2]) + "' (expected ADDRESS [WEIGHT])");
    Member member;
    member.address = std::string(fields[0]);
    if (auto problem = address_problem(member.address)) fail("bad address '" + member.address + "': " + *problem);
    if (fields.size() == 2) {
      std::string_view text = fields[1];
      double weight = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), weight);
      if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(weight)) {
        fail("bad weight '" + std::string(text) + "' for " + member.address + ": not a number");
      }
      if (auto problem = weight_problem(weight)) {
        fail("bad weight '" + std::string(text) + "' for " + member.address + ": " + *problem);
      }
      member.weight = weight;
    }
    auto [it, inserted] = first_line.emplace(member.address, number);
    if (!inserted) fail("duplicate address '" + member.address + "' (first on line " + std::to_string(it->second) + ")");
    members.push_back(std::move(member));
    if (members.size() > Ring::max_members) fail("too many servers (at most " + std::to_string(Ring::max_members) + ")");
  }
  if (in.bad()) throw UsageError(name + ": read error");
  if (members.empty()) throw UsageError(name + ": no servers (expected lines of ADDRESS [WEIGHT])");
  return members;
}

std::vector<Member> read_servers_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("cannot open servers file " + path + ": " + std::strerror(errno));
  return read_servers(in, path);
}

}  // namespace frodo::cli
