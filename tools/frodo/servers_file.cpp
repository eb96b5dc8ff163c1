#include "servers_file.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "frodo/address.hpp"
#include "terminal_text.hpp"
#include "usage_error.hpp"

namespace frodo::cli {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

enum class Line { read, end, too_long };

// The next line of `in` without its '\n' (a last line without one included). Reading stops
// after max_line_bytes, so a file without newlines (/dev/zero) cannot use up the memory.
// A read error (the path is a directory, say) ends the input with in.bad() set.
Line next_line(std::istream& in, std::string& line) {
  line.clear();
  bool any = false;
  for (char c; in.get(c);) {
    if (c == '\n') return Line::read;
    if (line.size() == max_line_bytes) return Line::too_long;
    line += c;
    any = true;
  }
  return any ? Line::read : Line::end;
}

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

std::optional<std::string> parse_weight(std::string_view text, double& weight) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  bool whole = end == text.data() + text.size();
  // A number too large or too small for a double (1e400, 1e-400) parses as out of range:
  // it is a number, just not an allowed weight.
  if (ec == std::errc::result_out_of_range && whole) return weight_problem(0);
  if (ec != std::errc() || !whole || std::isnan(value)) return "not a number";
  if (auto problem = weight_problem(value)) return problem;
  weight = value;
  return std::nullopt;
}

std::vector<Member> read_servers(std::istream& in, const std::string& name) {
  std::vector<Member> members;
  std::map<std::string, std::size_t, std::less<>> first_line;
  std::string line;
  std::size_t number = 0;
  auto fail = [&](const std::string& message) {
    throw UsageError(name + ":" + std::to_string(number) + ": " + message);
  };
  for (Line status; (status = next_line(in, line)) != Line::end;) {
    ++number;
    if (status == Line::too_long) fail("line is longer than " + std::to_string(max_line_bytes) + " bytes");
    std::vector<std::string_view> fields = fields_of(line);
    if (fields.empty() || fields.front().front() == '#') continue;
    if (fields.size() > 2) fail("unexpected '" + terminal_text(excerpt(fields[2])) + "' (expected ADDRESS [WEIGHT])");
    Member member;
    member.address = std::string(fields[0]);
    if (auto problem = address_problem(member.address)) {
      fail("bad address '" + terminal_text(excerpt(member.address)) + "': " + *problem);
    }
    if (fields.size() == 2) {
      if (auto problem = parse_weight(fields[1], member.weight)) {
        fail("bad weight '" + terminal_text(excerpt(fields[1])) + "' for " + member.address + ": " + *problem);
      }
    }
    auto [it, inserted] = first_line.emplace(member.address, number);
    if (!inserted) fail("duplicate address '" + member.address + "' (first on line " + std::to_string(it->second) + ")");
    members.push_back(std::move(member));
    if (members.size() > Ring::max_members) fail("too many servers (at most " + std::to_string(Ring::max_members) + ")");
  }
  if (in.bad()) throw UsageError(name + ": read error: " + std::strerror(errno));  // errno: what read(2) said
  if (members.empty()) throw UsageError(name + ": no servers (expected lines of ADDRESS [WEIGHT])");
  return members;
}

std::vector<Member> read_servers_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("cannot open servers file " + path + ": " + std::strerror(errno));
  return read_servers(in, path);
}

}  // namespace frodo::cli
