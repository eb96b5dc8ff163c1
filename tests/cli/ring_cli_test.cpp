// `frodo ring ...` as a user runs it: a real process, real files, real exit statuses.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "frodo/ring.hpp"

namespace {

namespace fs = std::filesystem;

struct Result {
  int status = -1;
  std::string out, err;
};

// Runs the frodo binary with `args`, feeding `input` on stdin; captures stdout and stderr.
Result run(const std::vector<std::string>& args, const std::string& input = "") {
  fs::path dir = fs::temp_directory_path() / ("frodo-cli-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "in", std::ios::binary) << input;
  std::string command = FRODO_BINARY;
  for (const std::string& a : args) {
    std::string quoted = "'";
    for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    command += " " + quoted + "'";
  }
  command += " < " + (dir / "in").string() + " > " + (dir / "out").string() + " 2> " + (dir / "err").string();
  int raw = std::system(command.c_str());
  Result r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  r.out = slurp(dir / "out");
  r.err = slurp(dir / "err");
  fs::remove_all(dir);
  return r;
}

class RingCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("frodo-ring-cli-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

TEST_F(RingCli, LookupPrintsOneOwnerPerIdInInputOrder) {
  std::string servers = file("s", "# tier\n10.0.0.1:3030\n10.0.0.2:3030 2\n\n10.0.0.3:3030\n");
  frodo::Ring ring({{"10.0.0.1:3030", 1, ""}, {"10.0.0.2:3030", 2, ""}, {"10.0.0.3:3030", 1, ""}});
  std::vector<std::string> ids = {"someId", "", "host-1", "h\xc3\xa9", std::string(5000, 'z'), "tab\there", "cr\r"};
  std::string input, expected;
  for (const std::string& id : ids) {
    input += id + "\n";
    expected += std::string(*ring.owner(id)) + "\n";
  }
  Result r = run({"ring", "lookup", "--servers", servers}, input);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, expected);
  EXPECT_EQ(r.err, "");
  // A last id without a newline is still an id; no input, no output.
  EXPECT_EQ(run({"ring", "lookup", "--servers", servers}, "someId").out, std::string(*ring.owner("someId")) + "\n");
  EXPECT_EQ(run({"ring", "lookup", "--servers", servers}, "").out, "");
}

TEST_F(RingCli, LookupMatchesNodeHashringVectors) {
  // The 300-server ring from the node-hashring vectors, through the CLI.
  std::ifstream in(FRODO_TEST_DATA "/hashring-vectors.jsonl");
  std::string line;
  std::size_t rings = 0;
  while (std::getline(in, line)) {
    nlohmann::json record = nlohmann::json::parse(line);
    if (record["name"] != "equal-300" && record["name"] != "weighted-fractional-7") continue;
    ++rings;
    std::string servers_text, input, expected, expected3;
    for (const auto& s : record["servers"]) {
      servers_text += s["address"].get<std::string>() + " " + s["weight"].dump() + "\n";
    }
    for (const auto& q : record["queries"]) {
      input += q["id"].get<std::string>() + "\n";
      expected += q["get"].get<std::string>() + "\n";
      std::string row;
      for (const auto& o : q["range3"]) row += (row.empty() ? "" : "\t") + o.get<std::string>();
      expected3 += row + "\n";
    }
    std::string servers = file("vectors", servers_text);
    EXPECT_EQ(run({"ring", "lookup", "--servers", servers}, input).out, expected) << record["name"];
    EXPECT_EQ(run({"ring", "lookup", "--servers", servers, "--count", "3"}, input).out, expected3) << record["name"];
  }
  EXPECT_EQ(rings, 2u);
}

TEST_F(RingCli, CountPrintsDistinctOwnersTabSeparated) {
  std::string servers = file("s", "a:1\nb:1\nc:1\n");
  Result r = run({"ring", "lookup", "--servers", servers, "--count", "2"}, "x\ny\n");
  ASSERT_EQ(r.status, 0) << r.err;
  frodo::Ring ring({{"a:1", 1, ""}, {"b:1", 1, ""}, {"c:1", 1, ""}});
  auto row = [&](const std::string& id) {
    auto o = ring.owners(id, 2);
    return std::string(o[0]) + "\t" + std::string(o[1]) + "\n";
  };
  EXPECT_EQ(r.out, row("x") + row("y"));
  // More than there are servers: every server, once.
  Result all = run({"ring", "lookup", "--servers", servers, "--count", "10"}, "x\n");
  EXPECT_EQ(std::count(all.out.begin(), all.out.end(), '\t'), 2);
}

TEST_F(RingCli, LookupJsonIsOneObjectPerIdInInputOrder) {
  std::string servers = file("s", "a:1\nb:1\nc:1\n");
  frodo::Ring ring({{"a:1", 1, ""}, {"b:1", 1, ""}, {"c:1", 1, ""}});
  Result r = run({"ring", "lookup", "--servers", servers, "--json"}, "x\n\ncaf\xc3\xa9\ny");
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  for (std::string id : {"x", "", "caf\xc3\xa9", "y"}) {
    ASSERT_TRUE(std::getline(lines, line)) << r.out;
    nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["id"], id);
    EXPECT_EQ(j["owner"], std::string(*ring.owner(id)));
    EXPECT_EQ(j["revision"], 0) << "no etcd view: revision 0";
  }
  EXPECT_FALSE(std::getline(lines, line)) << r.out;
  Result counted = run({"ring", "lookup", "--servers", servers, "--json", "--count", "2"}, "x\n");
  ASSERT_EQ(counted.status, 0) << counted.err;
  std::vector<std::string> want;
  for (std::string_view o : ring.owners("x", 2)) want.emplace_back(o);
  EXPECT_EQ(nlohmann::json::parse(counted.out)["owners"].get<std::vector<std::string>>(), want);
}

TEST_F(RingCli, MaglevAlgorithm) {
  std::string servers = file("s", "a:1\nb:1\nc:1\n");
  frodo::Ring ring({{"a:1", 1, ""}, {"b:1", 1, ""}, {"c:1", 1, ""}}, frodo::Algorithm::maglev);
  Result r = run({"ring", "lookup", "--servers", servers, "--algorithm", "maglev"}, "x\ny\n");
  EXPECT_EQ(r.out, std::string(*ring.owner("x")) + "\n" + std::string(*ring.owner("y")) + "\n");
}

TEST_F(RingCli, BadInputExitsTwoNamingTheProblemAndPrintsNoOwners) {
  struct Case {
    std::string servers_text;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"a:1\nnoport\n", ":2: bad address 'noport'"},
           {"a:0\n", ":1: bad address 'a:0': port 0 is out of range 1-65535"},
           {"a:65536\n", ":1: bad address 'a:65536'"},
           {"a:1\na:1\n", ":2: duplicate address 'a:1' (first on line 1)"},
           {"a:1 0\n", ":1: bad weight '0' for a:1"},
           {"a:1 -3\n", ":1: bad weight '-3' for a:1"},
           {"a:1 x\n", ":1: bad weight 'x' for a:1: not a number"},
           // Two weights this large made the total infinite (every share 0, lookups crashed).
           {"a:1 1e308\nb:1 1e308\n", ":1: bad weight '1e308' for a:1: must be between 0.001 and 1000000"},
           {"a:1\nb:1 1.8e19\n", ":2: bad weight '1.8e19' for b:1: must be between 0.001 and 1000000"},
           {"a:1\nb:1 1e-320\n", ":2: bad weight '1e-320' for b:1: must be between 0.001 and 1000000"},
           {"# nothing\n", ": no servers"},
       }) {
    std::string servers = file("bad", c.servers_text);
    Result r = run({"ring", "lookup", "--servers", servers}, "id\n");
    EXPECT_EQ(r.status, 2) << c.servers_text;
    EXPECT_EQ(r.out, "") << c.servers_text;
    EXPECT_NE(r.err.find(servers + c.message), std::string::npos) << r.err;
  }
  Result missing = run({"ring", "lookup", "--servers", (dir_ / "absent").string()}, "id\n");
  EXPECT_EQ(missing.status, 2);
  EXPECT_EQ(missing.out, "");
  EXPECT_NE(missing.err.find("cannot open servers file " + (dir_ / "absent").string()), std::string::npos);
}

TEST_F(RingCli, WeightBoundsAreAccepted) {
  std::string servers = file("s", "a:1 0.001\nb:1 1000000\nc:1 1\n");
  frodo::Ring ring({{"a:1", 0.001, ""}, {"b:1", 1000000, ""}, {"c:1", 1, ""}});
  Result lookup = run({"ring", "lookup", "--servers", servers, "--count", "3"}, "x\n");
  EXPECT_EQ(lookup.status, 0) << lookup.err;
  std::string expected;
  for (std::string_view owner : ring.owners("x", 3)) expected += (expected.empty() ? "" : "\t") + std::string(owner);
  EXPECT_EQ(lookup.out, expected + "\n");
  Result stats = run({"ring", "stats", "--servers", servers, "--json"});
  ASSERT_EQ(stats.status, 0) << stats.err;
  EXPECT_EQ(nlohmann::json::parse(stats.out)["members"][1]["weight"], 1000000.0);
}

TEST_F(RingCli, OverlongLinesExitTwoNamingTheLine) {
  std::string servers = file("s", "a:1\nb:1\n");
  frodo::Ring ring({{"a:1", 1, ""}, {"b:1", 1, ""}});
  // Ids: up to 64 KiB each; the answers before a longer one are printed, then exit 2.
  std::string longest(65536, 'i');
  Result ok = run({"ring", "lookup", "--servers", servers}, longest + "\n");
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_EQ(ok.out, std::string(*ring.owner(longest)) + "\n");
  Result r = run({"ring", "lookup", "--servers", servers}, "x\n" + std::string(4 << 20, 'i'));
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(r.out, std::string(*ring.owner("x")) + "\n");
  EXPECT_NE(r.err.find("the id on line 2 is longer than 65536 bytes"), std::string::npos) << r.err;
  // Servers files: lines up to 64 KiB.
  std::string long_line = file("long", "a:1\n" + std::string(70000, 'x') + "\n");
  Result s2 = run({"ring", "stats", "--servers", long_line});
  EXPECT_EQ(s2.status, 2);
  EXPECT_NE(s2.err.find(long_line + ":2: line is longer than 65536 bytes"), std::string::npos) << s2.err;
}

TEST_F(RingCli, HostileBytesInErrorsAreEscaped) {
  std::string servers = file("s", "a:1\n\x1b]0;pwned\x07:80\n");
  Result r = run({"ring", "lookup", "--servers", servers}, "x\n");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find(":2: bad address '\\x1b]0;pwned\\x07:80'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
}

TEST_F(RingCli, BadFlagsExitTwo) {
  std::string servers = file("s", "a:1\n");
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"ring", "lookup"},
           {"ring", "lookup", "--servers", servers, "--algorithm", "rendezvous"},
           {"ring", "lookup", "--servers", servers, "--count", "0"},
           {"ring", "lookup", "--servers", servers, "--count", "65536"},
           {"ring", "lookup", "--servers", servers, "--count", "18446744073709551616"},
           {"ring", "lookup", "--servers", servers, "--count", "-1"},
           {"ring", "stats", "--servers", servers, "--algorithm", ""},
           {"ring", "lookup", "--servers", servers, "--count", "two"},
           {"ring", "lookup", "--servers", servers, "--bogus"},
           {"ring"},
           {"nonsense"},
           {},
       }) {
    Result r = run(args, "id\n");
    EXPECT_EQ(r.status, 2) << ::testing::PrintToString(args) << r.err;
    EXPECT_EQ(r.out.find("a:1"), std::string::npos);
  }
  Result algorithm = run({"ring", "lookup", "--servers", servers, "--algorithm", "rendezvous"});
  EXPECT_NE(algorithm.err.find("'rendezvous'"), std::string::npos) << algorithm.err;
}

TEST_F(RingCli, HelpAndVersionExitZero) {
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"--help"}, {"ring", "--help"}, {"ring", "lookup", "--help"}, {"ring", "stats", "--help"}}) {
    Result r = run(args);
    EXPECT_EQ(r.status, 0) << ::testing::PrintToString(args);
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
  }
  EXPECT_NE(run({"ring", "lookup", "--help"}).out.find("--servers"), std::string::npos);
  Result version = run({"--version"});
  EXPECT_EQ(version.status, 0);
  EXPECT_NE(version.out.find("frodo"), std::string::npos);
}

TEST_F(RingCli, StatsShowsSharesBarsAndDisruption) {
  std::string servers = file("s", "a:1\nb:1\nc:1 2\n");
  Result r = run({"ring", "stats", "--servers", servers});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("ketama, 3 servers, checksum "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("█"), std::string::npos);
  EXPECT_NE(r.out.find("peak/mean"), std::string::npos);
  EXPECT_NE(r.out.find("add one server"), std::string::npos);
  EXPECT_NE(r.out.find("remove one server"), std::string::npos);
  for (const char* address : {"a:1", "b:1", "c:1"}) EXPECT_NE(r.out.find(address), std::string::npos);
}

TEST_F(RingCli, StatsJsonAgreesWithTheLibrary) {
  std::string servers = file("s", "a:1\nb:1\nc:1 2\nd:1\n");
  for (std::string algorithm : {"ketama", "maglev"}) {
    Result r = run({"ring", "stats", "--servers", servers, "--algorithm", algorithm, "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    nlohmann::json j = nlohmann::json::parse(r.out);
    frodo::Ring ring({{"a:1", 1, ""}, {"b:1", 1, ""}, {"c:1", 2, ""}, {"d:1", 1, ""}}, frodo::parse_algorithm(algorithm));
    EXPECT_EQ(j["algorithm"], algorithm);
    EXPECT_EQ(j["servers"], 4);
    EXPECT_EQ(j["checksum"], ring.checksum_hex());
    std::vector<double> shares = ring.shares();
    ASSERT_EQ(j["members"].size(), 4u);
    double sum = 0;
    for (std::size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(j["members"][i]["address"], ring.members()[i].address);
      EXPECT_DOUBLE_EQ(j["members"][i]["share"].get<double>(), shares[i]);
      sum += j["members"][i]["share"].get<double>();
    }
    EXPECT_NEAR(sum, 1.0, 1e-12);
    EXPECT_GE(j["peak_to_mean"].get<double>(), 1.0);
    EXPECT_GT(j["one_added"]["moved_mean"].get<double>(), 0.0);
    EXPECT_DOUBLE_EQ(j["one_added"]["ideal"].get<double>(), 0.2);
    EXPECT_GT(j["one_removed"]["moved_max"].get<double>(), 0.0);
    EXPECT_EQ(j["one_removed"]["trials"], 4);
  }
}

TEST_F(RingCli, StatsBadInputExitsTwo) {
  Result r = run({"ring", "stats", "--servers", file("s", "x:1 0\n")});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find(":1: bad weight '0' for x:1"), std::string::npos) << r.err;
}

}  // namespace
