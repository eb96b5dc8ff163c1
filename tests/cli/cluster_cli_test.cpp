// The live commands (`frodo servers | lookup | register | add | remove | watch | status`) as a
// user runs them: real frodo processes against a real etcd started by tests/support.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli_process.hpp"
#include "etcd_cluster.hpp"
#include "subprocess.hpp"
#include "temp_dir.hpp"

namespace {

using namespace frodo::cli_test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using frodo::test::ProcessResult;

class ClusterCli : public ::testing::Test {
 protected:
  std::string file(const std::string& name, const std::string& text) {
    fs::path path = dir_.path() / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }
  fs::path path(const std::string& name) const { return dir_.path() / name; }

  frodo::test::TempDir dir_{"frodo-cluster-cli"};
};

// A test with its own etcd and context.
class ClusterCliEtcd : public ClusterCli {
 protected:
  ClusterCliEtcd() : env_{join(etcd_.endpoints(), ","), "cli-test"} {}

  nlohmann::json servers_json() {
    ProcessResult r = run_frodo(env_, {"servers", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
  }
  std::set<std::string> addresses() {
    std::set<std::string> out;
    nlohmann::json j = servers_json();
    if (j.contains("servers")) {
      for (const auto& s : j["servers"]) out.insert(s["address"].get<std::string>());
    }
    return out;
  }

  frodo::test::EtcdCluster etcd_;
  Env env_;
};

TEST_F(ClusterCliEtcd, RegisteredServerLeavesAtOnceOnSigterm) {
  // A TTL far longer than the wait below: leaving in time proves the lease was revoked.
  Child child(env_, {"register", "127.1.0.1:3030", "--ttl", "60", "--zone", "a"}, path("register.log"));
  ASSERT_TRUE(wait_until([&] { return addresses().count("127.1.0.1:3030") == 1; }, await_timeout)) << child.log();
  nlohmann::json view = servers_json();
  EXPECT_EQ(view["context"], "cli-test");
  EXPECT_GT(view["revision"].get<std::int64_t>(), 0);
  EXPECT_EQ(view["checksum"].get<std::string>().size(), 16u);
  EXPECT_EQ(view["servers"][0]["zone"], "a");
  EXPECT_NE(child.log().find("registered 127.1.0.1:3030 in cli-test (lease TTL 60 s)"), std::string::npos)
      << child.log();

  int status = child.stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << child.log();
  // The child revoked its lease before exiting: the server is gone already.
  EXPECT_EQ(addresses(), std::set<std::string>{});
}

TEST_F(ClusterCliEtcd, EtcdctlVariablesAreFallbacks) {
  ProcessResult add = run_frodo(env_, {"add", "127.0.0.1:3030", "--persistent"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  // `frodo servers` with one more variable in its environment.
  auto servers_with = [&](const Env& env, const std::string& variable) {
    std::vector<std::string> argv = command_line(env, {"servers"});
    argv.insert(std::find(argv.begin(), argv.end(), std::string(FRODO_BINARY)), variable);
    return frodo::test::run_process(argv, process_timeout);
  };
  // No --etcd and no FRODO_ETCD: ETCDCTL_ENDPOINTS (in etcdctl's URL form) is used.
  ProcessResult r = servers_with({"", "cli-test"}, "ETCDCTL_ENDPOINTS=http://" + etcd_.endpoint(0));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("127.0.0.1:3030"), std::string::npos) << r.out;
  // FRODO_ETCD wins over it.
  r = servers_with(env_, "ETCDCTL_ENDPOINTS=127.0.0.1:1");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // ETCDCTL_USER in etcdctl's NAME:PASSWORD form is split: a password without a name is
  // refused as --password without --user is.
  r = servers_with(env_, "ETCDCTL_USER=:secret");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("needs --user"), std::string::npos) << r.err;
}

TEST_F(ClusterCliEtcd, LookupFollowAnswersEachLineFromTheLiveView) {
  ASSERT_EQ(run_frodo(env_, {"add", "127.0.0.1:3101", "--persistent"}).exit_code, 0);
  const std::string fifo = path("ids").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Child follow(env_, {"lookup", "--follow"}, path("follow.log"), fifo);
  int in = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);  // returns once the child has opened it
  ASSERT_GE(in, 0);
  auto lines = [&] {
    std::vector<std::string> out;
    std::string line;
    for (std::istringstream s(follow.log()); std::getline(s, line);) out.push_back(line);
    return out;
  };
  auto ask = [&](const std::string& id) {
    const std::size_t before = lines().size();
    std::string text = id + "\n";
    EXPECT_EQ(::write(in, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    EXPECT_TRUE(wait_until([&] { return lines().size() == before + 1; }, await_timeout)) << follow.log();
    std::vector<std::string> now = lines();
    return now.size() > before ? now[before] : std::string("(no answer)");
  };
  // Answered while the input stays open: the process answers line by line.
  EXPECT_EQ(ask("entity-1"), "127.0.0.1:3101");
  // The view changes under it: the next answers follow it.
  ASSERT_EQ(run_frodo(env_, {"remove", "127.0.0.1:3101"}).exit_code, 0);
  ASSERT_EQ(run_frodo(env_, {"add", "127.0.0.2:3102", "--persistent"}).exit_code, 0);
  std::string answer;
  EXPECT_TRUE(wait_until(
      [&] {
        answer = ask("entity-1");
        EXPECT_TRUE(answer == "127.0.0.2:3102" || answer == "127.0.0.1:3101" || answer.empty()) << answer;
        return answer == "127.0.0.2:3102";
      },
      await_timeout))
      << follow.log();
  // No server: an empty line, and the process keeps answering.
  ASSERT_EQ(run_frodo(env_, {"remove", "127.0.0.2:3102"}).exit_code, 0);
  EXPECT_TRUE(wait_until([&] { return ask("entity-1").empty(); }, await_timeout)) << follow.log();
  ASSERT_EQ(run_frodo(env_, {"add", "127.0.0.3:3103", "--persistent"}).exit_code, 0);
  EXPECT_TRUE(wait_until([&] { return ask("entity-1") == "127.0.0.3:3103"; }, await_timeout)) << follow.log();
  // End of input ends it, status 0.
  ::close(in);
  int status = follow.wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << follow.log();
}

TEST_F(ClusterCliEtcd, LookupJsonNamesTheIdTheOwnerAndTheRevision) {
  ProcessResult empty = run_frodo(env_, {"lookup", "--json", "a"});
  EXPECT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_EQ(nlohmann::json::parse(empty.out)["owner"], nullptr) << empty.out;
  for (const char* address : {"127.0.0.1:3201", "127.0.0.2:3202", "127.0.0.3:3203"}) {
    ASSERT_EQ(run_frodo(env_, {"add", address, "--persistent"}).exit_code, 0);
  }
  const nlohmann::json view = servers_json();
  ProcessResult plain = run_frodo(env_, {"lookup", "--count", "2", "--", "x", "-y", "caf\xc3\xa9"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  ProcessResult r = run_frodo(env_, {"lookup", "--json", "--count", "2", "--", "x", "-y", "caf\xc3\xa9"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream plain_lines(plain.out), json_lines(r.out);
  std::string p, j;
  std::vector<std::string> ids = {"x", "-y", "caf\xc3\xa9"};
  for (const std::string& id : ids) {
    ASSERT_TRUE(std::getline(plain_lines, p) && std::getline(json_lines, j)) << r.out;
    nlohmann::json answer = nlohmann::json::parse(j);
    EXPECT_EQ(answer["id"], id);
    EXPECT_EQ(answer["revision"], view["revision"]);
    EXPECT_EQ(join(answer["owners"].get<std::vector<std::string>>(), "\t"), p) << "as the text output";
  }
  // From stdin too.
  ProcessResult piped = frodo_with_input(env_, {"lookup", "--json"}, file("ids", "x\n-y\n"));
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  std::istringstream piped_lines(piped.out);
  ASSERT_TRUE(std::getline(piped_lines, j));
  EXPECT_EQ(nlohmann::json::parse(j)["id"], "x");
  ProcessResult both = run_frodo(env_, {"lookup", "--follow", "x"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_NE(both.err.find("--follow reads ids from stdin"), std::string::npos) << both.err;
}

TEST_F(ClusterCliEtcd, WarningsFollowTheLogOptions) {
  // A value under the prefix that is not a server record: skipped with a warning.
  etcd_.etcdctl({"put", "/frodo/cli-test/servers/127.0.0.9:1", "not json"});
  ProcessResult text = run_frodo(env_, {"servers"});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.err.find("frodo: warning: skipping"), std::string::npos) << text.err;
  ProcessResult quiet = run_frodo(env_, {"-q", "servers"});
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.err, "") << "-q keeps warnings off stderr";
  ProcessResult json = run_frodo(env_, {"--log-format", "json", "servers"});
  EXPECT_EQ(json.exit_code, 0);
  std::string first = json.err.substr(0, json.err.find('\n'));
  nlohmann::json line = nlohmann::json::parse(first);
  EXPECT_EQ(line["level"], "warning");
  EXPECT_NE(line["msg"].get<std::string>().find("skipping"), std::string::npos) << json.err;
  // -v: a long-running command says what it does.
  Child serve(env_, {"-v", "serve", "--listen", "127.0.0.1:0"}, path("serve.log"));
  ASSERT_TRUE(wait_until([&] { return serve.log().find("listening on") != std::string::npos; }, await_timeout));
  ASSERT_EQ(run_frodo(env_, {"add", "127.0.0.1:3401", "--persistent"}).exit_code, 0);
  EXPECT_TRUE(wait_until([&] { return serve.log().find("frodo: view of revision") != std::string::npos; },
                         await_timeout))
      << serve.log();
}

TEST_F(ClusterCliEtcd, AddRemoveAndRegisterSpeakJson) {
  ProcessResult added = run_frodo(env_, {"add", "127.0.0.1:3501", "--persistent", "--json"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  nlohmann::json a = nlohmann::json::parse(added.out);
  EXPECT_EQ(a["added"], "127.0.0.1:3501");
  EXPECT_EQ(a["context"], "cli-test");
  EXPECT_EQ(a["persistent"], true);
  EXPECT_EQ(a["revision"], servers_json()["revision"]);
  ProcessResult removed = run_frodo(env_, {"remove", "127.0.0.1:3501", "--json"});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_EQ(nlohmann::json::parse(removed.out)["removed"], "127.0.0.1:3501");
  ProcessResult again = run_frodo(env_, {"remove", "127.0.0.1:3501", "--json"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.out, "");

  Child child(env_, {"register", "127.0.0.1:3502", "--json", "--ttl", "60"}, path("register.log"));
  ASSERT_TRUE(wait_until([&] { return child.log().find('\n') != std::string::npos; }, await_timeout)) << child.log();
  nlohmann::json r = nlohmann::json::parse(child.log().substr(0, child.log().find('\n')));
  EXPECT_EQ(r["event"], "registered");
  EXPECT_EQ(r["address"], "127.0.0.1:3502");
  EXPECT_EQ(r["ttl_seconds"], 60);
  EXPECT_TRUE(r["lease"].is_string()) << r;
  int status = child.stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::string log = child.log();
  std::string last = log.substr(log.find('\n') + 1);
  EXPECT_EQ(nlohmann::json::parse(last)["event"], "leaving") << log;
}

TEST_F(ClusterCliEtcd, KilledRegistrationLeavesWithinTtl) {
  Child child(env_, {"register", "127.1.0.2:3030", "--ttl", "2"}, path("register.log"));
  ASSERT_TRUE(wait_until([&] { return addresses().count("127.1.0.2:3030") == 1; }, await_timeout)) << child.log();
  child.stop(SIGKILL);
  EXPECT_TRUE(wait_until([&] { return addresses().empty(); }, await_timeout));
}

TEST_F(ClusterCliEtcd, LookupAnswersExactlyAsRingLookup) {
  for (std::vector<std::string> add : std::vector<std::vector<std::string>>{
           {"127.0.0.1:3030"},
           {"127.0.0.2:3030", "--weight", "2.5", "--zone", "b"},
           {"127.0.0.3:3030", "--weight", "0.75"},
           {"127.0.0.4:80"},
           {"[::1]:3030", "--zone", "b"}}) {
    add.insert(add.begin(), "add");
    add.push_back("--persistent");
    ProcessResult r = run_frodo(env_, add);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // The offline ring from what `servers --json` reports.
  std::string members;
  nlohmann::json view = servers_json();
  ASSERT_EQ(view["servers"].size(), 5u);
  for (const auto& s : view["servers"]) {
    members += s["address"].get<std::string>() + " " + s["weight"].dump() + "\n";
  }
  std::string servers_file = file("servers", members);

  std::vector<std::string> ids = {"", "h\xc3\xa9llo", "\xe6\x97\xa5\xe6\x9c\xac", "\xff\xfe invalid utf-8",
                                  "tab\there", "cr\r", " spaced ", std::string(3000, 'z')};
  for (int i = static_cast<int>(ids.size()); i < 1000; ++i) ids.push_back("entity-" + std::to_string(i));
  std::string input;
  for (const std::string& id : ids) input += id + "\n";
  std::string input_file = file("ids", input);

  for (std::vector<std::string> count : {std::vector<std::string>{}, std::vector<std::string>{"--count", "3"}}) {
    std::vector<std::string> live = {"lookup"}, offline = {"ring", "lookup", "--servers", servers_file};
    live.insert(live.end(), count.begin(), count.end());
    offline.insert(offline.end(), count.begin(), count.end());
    ProcessResult expected = frodo_with_input(env_, offline, input_file);
    ASSERT_EQ(expected.exit_code, 0) << expected.err;
    ASSERT_EQ(std::count(expected.out.begin(), expected.out.end(), '\n'), 1000);
    ProcessResult actual = frodo_with_input(env_, live, input_file);
    EXPECT_EQ(actual.exit_code, 0) << actual.err;
    EXPECT_EQ(actual.err, "");
    EXPECT_TRUE(actual.out == expected.out) << "live and offline answers differ" << join(count, " ");

    // Ids as arguments answer the same, in argument order.
    std::vector<std::string> some = {"entity-10", "", "h\xc3\xa9llo", "entity-999"};
    std::vector<std::string> args = live;
    args.push_back("--");
    args.insert(args.end(), some.begin(), some.end());
    std::string some_input;
    for (const std::string& id : some) some_input += id + "\n";
    ProcessResult from_args = run_frodo(env_, args);
    EXPECT_EQ(from_args.exit_code, 0) << from_args.err;
    EXPECT_EQ(from_args.out, frodo_with_input(env_, offline, file("some", some_input)).out);
  }
}

TEST_F(ClusterCliEtcd, AddPersistentAndRemove) {
  // Without --persistent the server would vanish with the command's lease: refused.
  ProcessResult refused = run_frodo(env_, {"add", "127.2.0.1:3030"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("--persistent"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("frodo register"), std::string::npos) << refused.err;

  ProcessResult added = run_frodo(env_, {"add", "127.2.0.1:3030", "--persistent", "--weight", "3"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  // The adding process has exited; the server stays.
  nlohmann::json view = servers_json();
  ASSERT_EQ(view["servers"].size(), 1u);
  EXPECT_EQ(view["servers"][0]["address"], "127.2.0.1:3030");
  EXPECT_EQ(view["servers"][0]["weight"], 3.0);
  EXPECT_EQ(run_frodo(env_, {"lookup", "any-id"}).out, "127.2.0.1:3030\n");

  ProcessResult removed = run_frodo(env_, {"remove", "127.2.0.1:3030"});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_EQ(addresses(), std::set<std::string>{});
  ProcessResult again = run_frodo(env_, {"remove", "127.2.0.1:3030"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("127.2.0.1:3030 is not registered in cli-test"), std::string::npos) << again.err;

  // No servers: no owner for anything.
  ProcessResult lookup = run_frodo(env_, {"lookup", "any-id"});
  EXPECT_EQ(lookup.exit_code, 1);
  EXPECT_EQ(lookup.out, "");
  EXPECT_NE(lookup.err.find("no servers registered in context 'cli-test'"), std::string::npos) << lookup.err;

  ProcessResult bad = run_frodo(env_, {"add", "no-port", "--persistent"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("'no-port'"), std::string::npos) << bad.err;
}

TEST_F(ClusterCliEtcd, ControlCharactersFromEtcdNeverReachTheTerminalRaw) {
  // Records written by anyone with access to etcd. A zone that would retitle the window and
  // clear the screen makes its record invalid: skipped, with a warning whose key and reason
  // are escaped. Meta values may hold control characters: JSON keeps them exact, and the
  // human output does not print meta.
  const std::string zone = "\x1b]0;pwned\x07\x1b[2J\xc2\x9b" "1m";
  nlohmann::json bad = {{"address", "127.6.0.1:1"}, {"weight", 1}, {"zone", zone}};
  etcd_.etcdctl({"put", "/frodo/cli-test/servers/127.6.0.1:1", bad.dump()});
  etcd_.etcdctl({"put", "/frodo/cli-test/servers/\x1b[2J127.6.0.3:1", "junk"});
  nlohmann::json good = {{"address", "127.6.0.2:1"}, {"weight", 1}, {"zone", "z"}, {"meta", {{"note", "\x1b[5m"}}}};
  etcd_.etcdctl({"put", "/frodo/cli-test/servers/127.6.0.2:1", good.dump()});
  ASSERT_TRUE(wait_until([&] { return addresses().count("127.6.0.2:1") == 1; }, await_timeout));
  EXPECT_EQ(addresses().count("127.6.0.1:1"), 0u) << "a zone with control characters was accepted";
  for (const char* command : {"servers", "status"}) {
    ProcessResult r = run_frodo(env_, {command});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    for (const std::string& text : {r.out, r.err}) {
      for (char raw : {'\x1b', '\x07'}) EXPECT_EQ(text.find(raw), std::string::npos) << command << ": " << text;
      EXPECT_EQ(text.find("\xc2\x9b"), std::string::npos) << command;
    }
    EXPECT_NE(r.err.find("skipping /frodo/cli-test/servers/127.6.0.1:1: bad zone"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("\\x1b[2J127.6.0.3:1"), std::string::npos) << r.err;
  }
  nlohmann::json j = servers_json();
  ASSERT_EQ(j["servers"].size(), 1u);
  EXPECT_EQ(j["servers"][0]["meta"]["note"], "\x1b[5m");

  Child watch(env_, {"watch"}, path("watch.log"));
  ASSERT_TRUE(wait_until([&] { return watch.log().find("127.6.0.2:1") != std::string::npos; }, await_timeout));
  std::string log = watch.log();
  EXPECT_EQ(log.find('\x1b'), std::string::npos) << log;
}

TEST_F(ClusterCliEtcd, StatusJsonSharesSumToOne) {
  for (const char* address : {"127.3.0.1:1", "127.3.0.2:1", "127.3.0.3:1"}) {
    ASSERT_EQ(run_frodo(env_, {"add", address, "--persistent"}).exit_code, 0);
  }
  ProcessResult r = run_frodo(env_, {"status", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json status = nlohmann::json::parse(r.out);
  ASSERT_EQ(status["servers"].size(), 3u);
  double sum = 0;
  for (const auto& s : status["servers"]) {
    EXPECT_GT(s["share"].get<double>(), 0);
    sum += s["share"].get<double>();
  }
  EXPECT_NEAR(sum, 1.0, 1e-9);
  EXPECT_EQ(status["checksum"], servers_json()["checksum"]);

  ProcessResult text = run_frodo(env_, {"status"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("checksum " + status["checksum"].get<std::string>()), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("\xe2\x96\x88"), std::string::npos) << text.out;  // a bar
}

TEST_F(ClusterCliEtcd, WatchPrintsTheViewThenEachChange) {
  Child watch(env_, {"watch", "--json"}, path("watch.log"));
  auto lines = [&] {
    std::vector<nlohmann::json> out;
    std::istringstream in(watch.log());
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.front() == '{') out.push_back(nlohmann::json::parse(line));
    }
    return out;
  };
  ASSERT_TRUE(wait_until([&] { return lines().size() == 1; }, await_timeout)) << watch.log();
  EXPECT_EQ(lines()[0]["event"], "view");
  ASSERT_EQ(run_frodo(env_, {"add", "127.4.0.1:1", "--persistent"}).exit_code, 0);
  ASSERT_EQ(run_frodo(env_, {"add", "127.4.0.2:1", "--persistent"}).exit_code, 0);
  ASSERT_EQ(run_frodo(env_, {"remove", "127.4.0.1:1"}).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return lines().size() == 4; }, await_timeout)) << watch.log();
  std::vector<nlohmann::json> events = lines();
  EXPECT_EQ(events[1]["added"][0]["address"], "127.4.0.1:1");
  EXPECT_EQ(events[1]["moved"], 1.0);  // from no servers, every id moves
  EXPECT_EQ(events[2]["added"][0]["address"], "127.4.0.2:1");
  EXPECT_GT(events[2]["moved"].get<double>(), 0.0);
  EXPECT_LT(events[2]["moved"].get<double>(), 1.0);
  EXPECT_EQ(events[3]["removed"], nlohmann::json::array({"127.4.0.1:1"}));
  EXPECT_EQ(events[3]["servers"], 1);
  for (std::size_t i = 1; i < events.size(); ++i) {
    EXPECT_GT(events[i]["revision"].get<std::int64_t>(), events[i - 1]["revision"].get<std::int64_t>());
  }
  int status = watch.stop(SIGINT);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << watch.log();
}

TEST_F(ClusterCli, TlsAndAuthFlagsReachASecuredEtcd) {
  frodo::test::EtcdCluster etcd({.tls = true, .client_cert_auth = true});
  etcd.enable_auth("root-secret");
  etcd.add_user("app", "app-secret", "/frodo/");
  Env env{join(etcd.endpoints(), ","), "secure", "app-secret"};
  std::vector<std::string> tls = {"--cacert", etcd.ca_file(),      "--cert", etcd.client_cert_file(),
                                  "--key",    etcd.client_key_file(), "--user", "app"};
  auto with_tls = [&](std::vector<std::string> args) {
    args.insert(args.begin(), tls.begin(), tls.end());
    return args;
  };
  ProcessResult added = run_frodo(env, with_tls({"add", "127.5.0.1:1", "--persistent"}));
  ASSERT_EQ(added.exit_code, 0) << added.err;
  ProcessResult listed = run_frodo(env, with_tls({"servers", "--json"}));
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(nlohmann::json::parse(listed.out)["servers"][0]["address"], "127.5.0.1:1");

  // A wrong password is a runtime failure; half a client certificate is a usage error.
  ProcessResult wrong = run_frodo({env.etcd, "secure", "not-it"}, with_tls({"servers"}));
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("app"), std::string::npos) << wrong.err;
  ProcessResult half = run_frodo(env, {"--cacert", etcd.ca_file(), "--cert", etcd.client_cert_file(), "servers"});
  EXPECT_EQ(half.exit_code, 2);
  EXPECT_NE(half.err.find("--key"), std::string::npos) << half.err;
}

TEST_F(ClusterCli, HttpsEtcdMeansTls) {
  // Against plaintext etcd, https:// fails (it used to succeed in plaintext, as etcdctl never does).
  frodo::test::EtcdCluster plain;
  ProcessResult refused = run_frodo({"https://" + plain.endpoint(0), "app"}, {"--timeout", "1000", "servers"});
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_EQ(refused.out, "");
  EXPECT_NE(refused.err.find(plain.endpoint(0)), std::string::npos) << refused.err;
  ProcessResult http = run_frodo({"http://" + plain.endpoint(0), "app"}, {"servers"});
  EXPECT_EQ(http.exit_code, 0) << http.err;

  // Against TLS etcd, https:// with --cacert works.
  frodo::test::EtcdCluster secure({.tls = true});
  ProcessResult tls = run_frodo({"https://" + secure.endpoint(0), "app"}, {"--cacert", secure.ca_file(), "servers"});
  EXPECT_EQ(tls.exit_code, 0) << tls.err;
  EXPECT_NE(tls.out.find("context app"), std::string::npos) << tls.out;
}

TEST_F(ClusterCli, EtcdSchemesOtherThanHttpAndHttpsExitTwoNamingThem) {
  ProcessResult ftp = run_frodo({"", "app"}, {"--etcd", "ftp://127.0.0.1:1", "servers"});
  EXPECT_EQ(ftp.exit_code, 2);
  EXPECT_NE(ftp.err.find("unsupported scheme 'ftp'"), std::string::npos) << ftp.err;
  ProcessResult mixed = run_frodo({"", "app"}, {"--etcd", "http://127.0.0.1:1,https://127.0.0.1:2", "servers"});
  EXPECT_EQ(mixed.exit_code, 2);
  EXPECT_NE(mixed.err.find("'http://127.0.0.1:1' and TLS 'https://127.0.0.1:2'"), std::string::npos) << mixed.err;
  ProcessResult contradiction =
      run_frodo({"", "app"}, {"--etcd", "http://127.0.0.1:1", "--cacert", file("ca.pem", "x"), "servers"});
  EXPECT_EQ(contradiction.exit_code, 2);
  EXPECT_NE(contradiction.err.find("'http://127.0.0.1:1' is plaintext"), std::string::npos) << contradiction.err;
}

TEST_F(ClusterCli, BadFlagValuesExitTwoBeforeContactingEtcd) {
  // Nothing answers on 127.0.0.1:1: reaching etcd would be exit 1, not 2.
  Env env{"127.0.0.1:1", "app"};
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"add", "a:1", "--persistent", "--weight", "1e308"}, "bad weight '1e308': must be between 0.001 and 1000000"},
           {{"register", "a:1", "--weight", "1.8e19"}, "bad weight '1.8e19': must be between 0.001 and 1000000"},
           {{"add", "a:1", "--persistent", "--weight", "1e-320"}, "bad weight '1e-320': must be between"},
           {{"add", "a:1", "--persistent", "--weight", "0"}, "bad weight '0': must be between"},
           {{"add", "a:1", "--persistent", "--weight", "nan"}, "bad weight 'nan': not a number"},
           {{"add", "a:1", "--persistent", "--weight", "2kg"}, "bad weight '2kg': not a number"},
           // The bad bytes are named escaped, never written to the terminal as they are.
           {{"add", "a:1", "--persistent", "--zone", "\xff"}, "bad zone '\\xff': zone is not valid UTF-8 (byte 0xff at offset 0)"},
           {{"register", "a:1", "--zone", "eu\x1b[2J"}, "bad zone 'eu\\x1b[2J': zone holds control character U+001B at offset 2"},
           {{"register", "a:1", "--zone", std::string(257, 'z')}, "zone is 257 bytes long (at most 256)"},
       }) {
    ProcessResult r = run_frodo(env, c.args);
    EXPECT_EQ(r.exit_code, 2) << join(c.args, " ") << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST_F(ClusterCli, OutOfRangeFlagsExitTwo) {
  Env env{"127.0.0.1:1", "app"};
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"lookup", "--count", "0", "id"},
           {"lookup", "--count", "65536", "id"},
           {"lookup", "--count", "99999999999999999999999", "id"},
           {"lookup", "--count", "-1", "id"},
           {"--timeout", "0", "servers"},
           {"--timeout", "-5", "servers"},
           {"--timeout", "3600001", "servers"},
           {"--timeout", "99999999999", "servers"},
           {"register", "a:1", "--ttl", "0"},
           {"register", "a:1", "--ttl", "-1"},
           {"register", "a:1", "--ttl", "99999999999"},
           {"--algorithm", "rendezvous", "servers"},
           {"--timeout", "5x", "servers"},
           {"--timeout", "s", "servers"},
           {"--timeout", "61m", "servers"},
           {"register", "a:1", "--ttl", "1500ms"},
           {"register", "a:1", "--ttl", "5 s"},
       }) {
    ProcessResult r = run_frodo(env, args);
    EXPECT_EQ(r.exit_code, 2) << join(args, " ") << ": " << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind("frodo: ", 0), 0u) << "a parser error is prefixed like the others: " << r.err;
  }
}

TEST_F(ClusterCli, DurationsTakeUnitsAndNameABadOne) {
  ProcessResult r = run_frodo({"127.0.0.1:1", "app"}, {"--timeout", "1500ms", "servers"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("within 1500 ms"), std::string::npos) << r.err;
  r = run_frodo({"127.0.0.1:1", "app"}, {"--timeout", "2s", "servers"});
  EXPECT_NE(r.err.find("within 2000 ms"), std::string::npos) << r.err;
  r = run_frodo({"127.0.0.1:1", "app"}, {"--timeout", "7x", "servers"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("frodo: --timeout: bad duration '7x': unknown unit 'x'"), std::string::npos) << r.err;
  r = run_frodo({"127.0.0.1:1", "app"}, {"register", "a:1", "--ttl", "1500ms"});
  EXPECT_NE(r.err.find("not a whole number of seconds"), std::string::npos) << r.err;
}

TEST_F(ClusterCli, LogFormatJsonAndQuietAndVerbose) {
  // An error as one JSON object with a time, a level and the message.
  ProcessResult r = run_frodo({"127.0.0.1:1", "app"}, {"--log-format", "json", "--timeout", "300ms", "servers"});
  EXPECT_EQ(r.exit_code, 1);
  nlohmann::json line = nlohmann::json::parse(r.err);
  EXPECT_EQ(line["level"], "error");
  EXPECT_NE(line["msg"].get<std::string>().find("127.0.0.1:1"), std::string::npos) << r.err;
  EXPECT_EQ(line["time"].get<std::string>().size(), 24u) << "RFC 3339 UTC with milliseconds: " << r.err;
  r = run_frodo({"127.0.0.1:1", "app"}, {"-v", "-q", "servers"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("-v and -q exclude each other"), std::string::npos) << r.err;
  r = run_frodo({"127.0.0.1:1", "app"}, {"--log-format", "xml", "servers"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--log-format"), std::string::npos) << r.err;
}

TEST_F(ClusterCli, HelpAndUnknownCommandsListTheCommands) {
  ProcessResult help = run_frodo({}, {"help"});
  EXPECT_EQ(help.exit_code, 0) << help.err;
  for (const char* command : {"ring", "servers", "lookup", "register", "serve", "demo"}) {
    EXPECT_NE(help.out.find(std::string("\n  ") + command + " "), std::string::npos) << command << "\n" << help.out;
  }
  EXPECT_EQ(help.out.find("demo-server"), std::string::npos) << "the internal command is listed: " << help.out;
  ProcessResult lookup = run_frodo({}, {"help", "lookup"});
  EXPECT_EQ(lookup.exit_code, 0);
  EXPECT_NE(lookup.out.find("--count"), std::string::npos) << lookup.out;

  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"frobnicate"}, {"--context", "app", "frobnicate", "x"}, {"help", "frobnicate"}}) {
    ProcessResult r = run_frodo({}, args);
    EXPECT_EQ(r.exit_code, 2) << join(args, " ");
    EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("\n  serve "), std::string::npos) << r.err;
  }
  ProcessResult none = run_frodo({}, {});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("frodo: no command given"), std::string::npos) << none.err;
  EXPECT_NE(none.err.find("\n  lookup "), std::string::npos) << none.err;
}

TEST_F(ClusterCli, BadContextExitsTwoNamingIt) {
  ProcessResult r = run_frodo({"127.0.0.1:1", ""}, {"--context", "../x", "servers"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'../x'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.rfind("frodo: ", 0), 0u) << r.err;
  // From the environment too.
  ProcessResult env = run_frodo({"127.0.0.1:1", "../x"}, {"lookup", "id"});
  EXPECT_EQ(env.exit_code, 2);
  EXPECT_NE(env.err.find("'../x'"), std::string::npos) << env.err;
}

TEST_F(ClusterCli, MissingContextExitsTwo) {
  ProcessResult r = run_frodo({"127.0.0.1:1", ""}, {"servers"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("FRODO_CONTEXT"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--context"), std::string::npos) << r.err;
}

TEST_F(ClusterCli, UnreachableEtcdExitsOneNamingTheEndpoint) {
  // Flags win over the environment: FRODO_ETCD names a bad endpoint that --etcd replaces.
  ProcessResult r = run_frodo({"not-an-endpoint", "app"}, {"--etcd", "127.0.0.1:1", "--timeout", "500", "servers"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("127.0.0.1:1"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  // Global options may follow the command.
  ProcessResult after = run_frodo({"", "app"}, {"lookup", "--etcd", "127.0.0.1:1", "--timeout", "500", "id"});
  EXPECT_EQ(after.exit_code, 1);
  EXPECT_NE(after.err.find("127.0.0.1:1"), std::string::npos) << after.err;

  ProcessResult bad = run_frodo({"", "app"}, {"--etcd", "127.0.0.1:1,oops", "servers"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("'oops'"), std::string::npos) << bad.err;
}

TEST_F(ClusterCli, HelpExitsZeroForEveryCommand) {
  for (const char* command : {"servers", "lookup", "register", "add", "remove", "watch", "status", "serve"}) {
    ProcessResult r = run_frodo({}, {command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << command << ": " << r.err;
    EXPECT_NE(r.out.find(std::string("Usage: frodo ") + command), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("FRODO_CONTEXT"), std::string::npos) << r.out;
  }
  ProcessResult top = run_frodo({}, {"--help"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.out.find("--etcd"), std::string::npos) << top.out;
}

}  // namespace
