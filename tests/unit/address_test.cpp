#include "frodo/address.hpp"

#include <gtest/gtest.h>

#include "frodo/error.hpp"

namespace frodo {
namespace {

TEST(Address, AcceptsNamesIpv4AndBracketedIpv6) {
  for (const char* good : {"a:1", "dataacess3:3030", "data-access-3.example.net:65535", "10.0.0.3:3030",
                           "[::1]:3030", "[fd00::1:2]:80", "my_host.internal:8080", "127.0.0.1:1"}) {
    EXPECT_EQ(address_problem(good), std::nullopt) << good;
  }
}

TEST(Address, RejectsMalformedWithAReason) {
  struct Case {
    const char* text;
    const char* reason;
  };
  for (Case c : {Case{"", "empty"}, Case{"host", "missing ':port'"}, Case{"host:", "port is empty"},
                 Case{":80", "host is empty"}, Case{"host:0", "out of range"}, Case{"host:65536", "out of range"},
                 Case{"host:123456", "out of range"}, Case{"host:08", "leading zero"}, Case{"host:http", "not a number"},
                 Case{"host:-1", "not a number"}, Case{"::1:80", "brackets"}, Case{"[::1:80", "brackets"},
                 Case{"[nope]:80", "not an IPv6"}, Case{"300.1.1.1:80", "not an IPv4"}, Case{"1.2.3:80", "not an IPv4"},
                 Case{"bad host:80", "contains ' '"}, Case{"a..b:80", "empty label"}, Case{"-a:80", "starts or ends"},
                 Case{"a/b:80", "contains '/'"}}) {
    auto problem = address_problem(c.text);
    ASSERT_TRUE(problem.has_value()) << c.text;
    EXPECT_NE(problem->find(c.reason), std::string::npos) << c.text << " -> " << *problem;
  }
  EXPECT_TRUE(address_problem(std::string(64, 'a') + ":80").has_value());
  EXPECT_TRUE(address_problem(std::string("a\0b:80", 6)).has_value());
}

TEST(Address, RejectsANulByteInsideIpv6Brackets) {
  // Found by tests/fuzz/fuzz_address: the bytes after the NUL were never looked at.
  for (std::string text : {std::string("[::1\0]:80", 9), std::string("[2001:db8::1\0\0]:65535", 21),
                           std::string("[::1\0junk]:80", 13)}) {
    auto problem = address_problem(text);
    ASSERT_TRUE(problem.has_value()) << text.size();
    EXPECT_EQ(*problem, "IPv6 host contains a NUL byte");
    EXPECT_THROW(parse_address(text), Error);
  }
  EXPECT_EQ(address_problem("[::1]:80"), std::nullopt);
}

TEST(Address, ParseSplitsHostAndPort) {
  Address a = parse_address("10.0.0.3:3030");
  EXPECT_EQ(a.host, "10.0.0.3");
  EXPECT_EQ(a.port, 3030);
  Address b = parse_address("[::1]:65535");
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(b.port, 65535);
}

TEST(Address, ParseThrowsNamingTheValue) {
  try {
    parse_address("db:99999");
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("'db:99999'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace frodo
