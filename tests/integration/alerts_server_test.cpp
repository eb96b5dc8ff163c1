// The alerts example's server program (examples/alerts/server_command.hpp) as `frodo demo`
// runs it: a real etcd, the real binary, its signals and its lines. The same entry point runs
// as `alerts-server` and as `frodo demo-server`; both are exercised.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "etcd_cluster.hpp"
#include "frodo/cluster.hpp"
#include "process/child_process.hpp"
#include "process/exit_codes.hpp"
#include "process/free_port.hpp"
#include "process/wait_until.hpp"
#include "subprocess.hpp"
#include "temp_dir.hpp"

namespace {

using namespace std::chrono_literals;
using frodo::process::ChildProcess;
using frodo::process::wait_until;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool in_ring(frodo::Cluster& cluster, const std::string& address) {
  std::shared_ptr<const frodo::Snapshot> view = cluster.snapshot();  // held while its ring is read
  for (const frodo::Member& m : view->ring.members()) {
    if (m.address == address) return true;
  }
  return false;
}

// The argv of the server program under test: the example's binary or the frodo subcommand.
std::vector<std::string> server_argv(bool through_frodo) {
  if (through_frodo) return {FRODO_BINARY, "demo-server"};
  return {ALERTS_SERVER_BINARY};
}

class AlertsServerProgram : public testing::TestWithParam<bool> {};

// Started with --join-on-signal it serves but stays out of the ring until SIGRTMIN; SIGUSR1
// and SIGUSR2 switch its work per event and say so; SIGTERM makes it leave the ring, print
// its counters as JSON and exit 0.
TEST_P(AlertsServerProgram, JoinsSlowsDownAndLeavesOnSignals) {
  frodo::test::EtcdCluster etcd;
  frodo::test::TempDir dir("frodo-alerts-server-");
  frodo::process::PortReservation port;
  const std::string address = "127.0.0.1:" + std::to_string(port.port());
  const std::filesystem::path log = dir.path() / "server.log";
  std::vector<std::string> argv = server_argv(GetParam());
  for (const std::string& a : {std::string("--etcd"), etcd.endpoint(0), std::string("--context"),
                               std::string("alerts-test"), std::string("--port"), std::to_string(port.port()),
                               std::string("--store"), (dir.path() / "store.sqlite").string(),
                               std::string("--join-on-signal"), std::string("--slow-us"), std::string("7777")}) {
    argv.push_back(a);
  }
  ChildProcess server(argv, log.string());

  frodo::ClusterOptions o;
  o.context = "alerts-test";
  o.etcd.endpoints = etcd.endpoints();
  frodo::Cluster view(o);

  // The line says the signals are blocked: only then may it be signalled.
  ASSERT_TRUE(wait_until([&] { return read_file(log).find(address + " waiting to join") != std::string::npos; }, 30s))
      << read_file(log);
  EXPECT_FALSE(in_ring(view, address));

  server.signal(SIGRTMIN);
  ASSERT_TRUE(wait_until([&] { return in_ring(view, address); }, 30s)) << read_file(log);
  // It says so once join() has returned, which may be after the view shows it.
  EXPECT_TRUE(wait_until([&] { return read_file(log).find(address + " joined") != std::string::npos; }, 30s))
      << read_file(log);

  server.signal(SIGUSR1);
  ASSERT_TRUE(wait_until([&] { return read_file(log).find(": slow (7777 us per event)") != std::string::npos; }, 30s))
      << read_file(log);
  server.signal(SIGUSR2);
  ASSERT_TRUE(wait_until([&] { return read_file(log).find(": normal speed") != std::string::npos; }, 30s))
      << read_file(log);

  server.signal(SIGTERM);
  std::optional<int> status = server.wait(60s);
  ASSERT_TRUE(status.has_value()) << read_file(log);
  EXPECT_EQ(frodo::process::exit_code(*status), frodo::process::exit_ok) << read_file(log);
  EXPECT_TRUE(wait_until([&] { return !in_ring(view, address); }, 30s));
  // The last line is its counters.
  std::string text = read_file(log);
  std::string last = text.substr(text.rfind('{'));
  nlohmann::json stats = nlohmann::json::parse(last, nullptr, false);
  ASSERT_FALSE(stats.is_discarded()) << text;
  EXPECT_EQ(stats.value("address", ""), address);
}

// A bad flag value is a usage error (exit 2) naming the flag and the value, before anything
// connects.
TEST_P(AlertsServerProgram, RefusesABadFlagNamingIt) {
  std::vector<std::string> argv = server_argv(GetParam());
  argv.insert(argv.end(), {"--store", "/nonexistent/store.sqlite", "--connect-timeout", "-1"});
  frodo::test::ProcessResult r = frodo::test::run_process(argv, 60s);
  EXPECT_EQ(r.exit_code, frodo::process::exit_usage) << r.out << r.err;
  EXPECT_NE(r.err.find("--connect-timeout"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("-1"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(AsBuilt, AlertsServerProgram, testing::Values(false, true),
                         [](const testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("FrodoDemoServer") : std::string("AlertsServer");
                         });

}  // namespace
