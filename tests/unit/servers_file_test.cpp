#include "servers_file.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "usage_error.hpp"

namespace frodo::cli {
namespace {

std::vector<Member> parse(const std::string& text) {
  std::istringstream in(text);
  return read_servers(in, "servers.txt");
}

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ServersFile, ReadsAddressesWeightsCommentsAndBlankLines) {
  std::vector<Member> members = parse(
      "# the data tier\n"
      "\n"
      "10.0.0.1:3030\n"
      "   10.0.0.2:3030   2  \n"
      "\t# indented comment\n"
      "[::1]:4000 0.5\r\n"
      "db.example.net:5432 1e1");
  ASSERT_EQ(members.size(), 4u);
  EXPECT_EQ(members[0].address, "10.0.0.1:3030");
  EXPECT_EQ(members[0].weight, 1);
  EXPECT_EQ(members[1].weight, 2);
  EXPECT_EQ(members[2].address, "[::1]:4000");
  EXPECT_EQ(members[2].weight, 0.5);
  EXPECT_EQ(members[3].weight, 10);
}

TEST(ServersFile, ErrorsNameFileLineAndValue) {
  EXPECT_EQ(error_of("a:1\nbad\n"), "servers.txt:2: bad address 'bad': missing ':port' (expected host:port)");
  EXPECT_EQ(error_of("a:0"), "servers.txt:1: bad address 'a:0': port 0 is out of range 1-65535");
  EXPECT_EQ(error_of("# c\na:70000"), "servers.txt:2: bad address 'a:70000': port 70000 is out of range 1-65535");
  EXPECT_EQ(error_of("a:1\n\nb:2\na:1 3\n"), "servers.txt:4: duplicate address 'a:1' (first on line 1)");
  EXPECT_EQ(error_of("a:1 0"), "servers.txt:1: bad weight '0' for a:1: must be between 0.001 and 1000000");
  EXPECT_EQ(error_of("a:1 -1"), "servers.txt:1: bad weight '-1' for a:1: must be between 0.001 and 1000000");
  EXPECT_EQ(error_of("a:1 heavy"), "servers.txt:1: bad weight 'heavy' for a:1: not a number");
  EXPECT_EQ(error_of("a:1 2x"), "servers.txt:1: bad weight '2x' for a:1: not a number");
  EXPECT_EQ(error_of("a:1 nan"), "servers.txt:1: bad weight 'nan' for a:1: not a number");
  EXPECT_EQ(error_of("a:1 inf"), "servers.txt:1: bad weight 'inf' for a:1: must be between 0.001 and 1000000");
  EXPECT_EQ(error_of("a:1 1 zone"), "servers.txt:1: unexpected 'zone' (expected ADDRESS [WEIGHT])");
  EXPECT_EQ(error_of(""), "servers.txt: no servers (expected lines of ADDRESS [WEIGHT])");
  EXPECT_EQ(error_of("# only a comment\n\n"), "servers.txt: no servers (expected lines of ADDRESS [WEIGHT])");
}

TEST(ServersFile, WeightsOutsideTheRingRangeAreRefusedNamingLineAndValue) {
  // Two huge weights made the total infinite and every share 0; tiny ones owned nothing.
  EXPECT_EQ(error_of("a:1 1e308\nb:1 1e308\n"),
            "servers.txt:1: bad weight '1e308' for a:1: must be between 0.001 and 1000000");
  EXPECT_EQ(error_of("a:1\nb:1 1.8e19\n"),
            "servers.txt:2: bad weight '1.8e19' for b:1: must be between 0.001 and 1000000");
  EXPECT_EQ(error_of("a:1 1e-320"), "servers.txt:1: bad weight '1e-320' for a:1: must be between 0.001 and 1000000");
  // Found by tests/fuzz/fuzz_servers_file: accepted here once, then refused by Ring.
  EXPECT_EQ(error_of("a:1 2222222222"),
            "servers.txt:1: bad weight '2222222222' for a:1: must be between 0.001 and 1000000");
  EXPECT_EQ(error_of("a:1 1e400"), "servers.txt:1: bad weight '1e400' for a:1: must be between 0.001 and 1000000");
  EXPECT_EQ(error_of("a:1 0.000999"),
            "servers.txt:1: bad weight '0.000999' for a:1: must be between 0.001 and 1000000");
  EXPECT_EQ(error_of("a:1 1000000.5"),
            "servers.txt:1: bad weight '1000000.5' for a:1: must be between 0.001 and 1000000");
  // The bounds themselves are weights.
  std::vector<Member> bounds = parse("a:1 0.001\nb:1 1000000\n");
  ASSERT_EQ(bounds.size(), 2u);
  EXPECT_EQ(bounds[0].weight, Ring::min_weight);
  EXPECT_EQ(bounds[1].weight, Ring::max_weight);
}

TEST(ServersFile, ALineLongerThanTheLimitIsRefusedWithoutReadingItAll) {
  EXPECT_EQ(parse("a:1\n# " + std::string(max_line_bytes - 2, 'c') + "\nb:1\n").size(), 2u);  // at the limit
  EXPECT_EQ(error_of("a:1\n" + std::string(max_line_bytes + 1, 'x') + "\n"),
            "servers.txt:2: line is longer than 65536 bytes");
  // A file without newlines (think /dev/zero) is read only as far as the limit.
  std::istringstream endless(std::string(4 * max_line_bytes, 'x'));
  EXPECT_THROW(read_servers(endless, "zero"), UsageError);
  EXPECT_LE(static_cast<std::size_t>(endless.tellg()), max_line_bytes + 1);
}

TEST(ServersFile, ADirectoryIsAReadErrorNamingIt) {
  try {
    read_servers_file("/");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "/: read error: Is a directory");
  }
}

TEST(ServersFile, MissingFileIsNamed) {
  try {
    read_servers_file("/nonexistent/servers.txt");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot open servers file /nonexistent/servers.txt: No such file or directory");
  }
}

}  // namespace
}  // namespace frodo::cli
