// `frodo serve` as a user runs it: a real sidecar process against a real etcd, asked over
// real HTTP (TCP and a Unix socket); its answers compared with `frodo lookup`'s.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "percent_encoding.hpp"
#include "cli_process.hpp"
#include "etcd_cluster.hpp"
#include "temp_dir.hpp"

namespace {

using namespace frodo::cli_test;
namespace fs = std::filesystem;
using frodo::test::ProcessResult;
using nlohmann::json;

class ServeCli : public ::testing::Test {
 protected:
  ServeCli() : env_{join(etcd_.endpoints(), ","), "serve-test"} {}

  fs::path path(const std::string& name) const { return dir_.path() / name; }

  // Waits for the sidecar's "listening on http://127.0.0.1:PORT" line; returns the port.
  int wait_port(const Child& child) {
    std::smatch m;
    std::string log;
    const std::regex listening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
    bool found = wait_until(
        [&] {
          log = child.log();
          return std::regex_search(log, m, listening);
        },
        await_timeout);
    EXPECT_TRUE(found) << log;
    return found ? std::stoi(m[1]) : 0;
  }

  std::set<std::string> addresses() {
    ProcessResult r = run_frodo(env_, {"servers", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::set<std::string> out;
    if (r.exit_code != 0) return out;
    const json view = json::parse(r.out);
    for (const auto& s : view["servers"]) out.insert(s["address"].get<std::string>());
    return out;
  }

  frodo::test::TempDir dir_{"frodo-serve-cli"};
  frodo::test::EtcdCluster etcd_;
  Env env_;
};

TEST_F(ServeCli, AnswersAsLookupStreamsChangesAndRevokesItsLeaseOnSigterm) {
  for (const char* address : {"127.0.0.1:7101", "127.0.0.2:7102", "[::1]:7103"}) {
    ProcessResult r = run_frodo(env_, {"add", address, "--persistent"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // A TTL far longer than the waits below: leaving in time proves the lease was revoked.
  Child serve(env_, {"serve", "--listen", "127.0.0.1:0", "--register", "127.0.0.1:7104", "--ttl", "60"},
              path("serve.log"));
  int port = wait_port(serve);
  ASSERT_GT(port, 0);
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);

  auto ready = c.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  EXPECT_EQ(addresses(), (std::set<std::string>{"127.0.0.1:7101", "127.0.0.2:7102", "[::1]:7103", "127.0.0.1:7104"}));

  // The same owners as `frodo lookup`, one by one and in one batch.
  std::vector<std::string> ids = {"", "h\xc3\xa9llo", "tab\there", "a b+c&d=e/f?g#h"};
  for (int i = 0; i < 200; ++i) ids.push_back("entity-" + std::to_string(i));
  std::vector<std::string> args = {"lookup", "--"};
  args.insert(args.end(), ids.begin(), ids.end());
  ProcessResult lookup = run_frodo(env_, args);
  ASSERT_EQ(lookup.exit_code, 0) << lookup.err;
  std::vector<std::string> expected;
  std::string line;
  for (std::istringstream in(lookup.out); std::getline(in, line);) expected.push_back(line);
  ASSERT_EQ(expected.size(), ids.size());

  json servers = json::parse(c.Get("/v1/servers")->body);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto r = c.Get("/v1/owner?id=" + frodo::test::percent_encoded(ids[i]));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    json j = json::parse(r->body);
    EXPECT_EQ(j["owner"], expected[i]) << "id " << i;
    EXPECT_EQ(j["revision"], servers["revision"]);
    EXPECT_EQ(j["checksum"], servers["checksum"]);
  }
  auto batch = c.Post("/v1/owners", json{{"ids", ids}}.dump(), "application/json");
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->status, 200) << batch->body;
  EXPECT_EQ(json::parse(batch->body)["owners"].get<std::vector<std::string>>(), expected);

  // A watch stream: the view, then the change another process makes.
  std::mutex mutex;
  std::condition_variable changed;
  std::string stream;
  httplib::Client watcher("127.0.0.1", port);
  watcher.set_read_timeout(60, 0);
  std::thread reader([&] {
    watcher.Get("/v1/watch", [&](const char* data, std::size_t length) {
      std::lock_guard lock(mutex);
      stream.append(data, length);
      changed.notify_all();
      return true;
    });
  });
  auto wait_stream = [&](const std::string& needle) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, await_timeout, [&] { return stream.find(needle) != std::string::npos; });
  };
  EXPECT_TRUE(wait_stream("\"127.0.0.1:7104\"")) << stream;
  ProcessResult add = run_frodo(env_, {"add", "127.0.0.3:7105", "--persistent"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  EXPECT_TRUE(wait_stream("\"127.0.0.3:7105\"")) << stream;
  watcher.stop();
  reader.join();

  // Registered through the API on the sidecar's lease, then SIGTERM: both of its servers
  // leave at once; the persistent ones stay.
  auto put = c.Put("/v1/servers/127.0.0.1:7106", R"({"zone":"b"})", "application/json");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200) << put->body;
  EXPECT_EQ(addresses().count("127.0.0.1:7106"), 1u);
  int status = serve.stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << serve.log();
  EXPECT_EQ(addresses(), (std::set<std::string>{"127.0.0.1:7101", "127.0.0.2:7102", "[::1]:7103", "127.0.0.3:7105"}));
}

// One HTTP/1.1 request over a Unix socket; the whole response (status line, headers, body).
std::optional<std::string> unix_request(const std::string& socket_path, const std::string& request) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket_path.c_str());
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  timeval timeout{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return std::nullopt;
  }
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) response.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  return response;
}

TEST_F(ServeCli, ListensOnAUnixSocketAndRemovesItOnExit) {
  ProcessResult r = run_frodo(env_, {"add", "127.0.0.1:7201", "--persistent"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string socket_path = path("frodo.sock").string();
  Child serve(env_, {"serve", "--unix", socket_path}, path("serve.log"));
  ASSERT_TRUE(wait_until([&] { return serve.log().find("listening on unix:") != std::string::npos; }, await_timeout))
      << serve.log();
  std::optional<std::string> response =
      unix_request(socket_path, "GET /v1/owner?id=x HTTP/1.1\r\nHost: frodo\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->rfind("HTTP/1.1 200", 0), 0u) << *response;
  EXPECT_NE(response->find("\"owner\":\"127.0.0.1:7201\""), std::string::npos) << *response;

  // A second sidecar on the same live socket is refused, naming it.
  ProcessResult second = run_frodo(env_, {"serve", "--unix", socket_path});
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_NE(second.err.find("another server listens on it"), std::string::npos) << second.err;

  int status = serve.stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << serve.log();
  EXPECT_FALSE(fs::exists(socket_path));
}

// A datagram socket standing in for systemd's NOTIFY_SOCKET: what the service sends it.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    timeval timeout{30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~NotifySocket() { ::close(fd_); }
  // The next message (bounded wait), or "" when none came.
  std::string next() {
    char buffer[4096];
    ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
  }

 private:
  std::string path_;
  int fd_ = -1;
};

TEST_F(ServeCli, TellsAServiceManagerWhenItIsReadyAndWhenItStops) {
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"serve", "--listen", "127.0.0.1:0"}, {"register", "127.0.0.1:7301", "--ttl", "60"}}) {
    const std::string socket_path = path(args[0] + ".notify").string();
    NotifySocket notify(socket_path);
    std::vector<std::string> argv = command_line(env_, args);
    argv.insert(std::find(argv.begin(), argv.end(), std::string(FRODO_BINARY)), "NOTIFY_SOCKET=" + socket_path);
    frodo::process::ChildProcess child = frodo::test::spawn_daemon(argv, path(args[0] + ".log").string());
    std::string ready = notify.next();
    EXPECT_NE(ready.find("READY=1"), std::string::npos) << args[0] << ": " << ready;
    // Ready means serving: the sidecar answers, the registration is visible.
    if (args[0] == "serve") {
      EXPECT_NE(ready.find("STATUS=listening on http://127.0.0.1:"), std::string::npos) << ready;
    } else {
      EXPECT_EQ(addresses().count("127.0.0.1:7301"), 1u);
    }
    child.signal(SIGTERM);
    EXPECT_NE(notify.next().find("STOPPING=1"), std::string::npos) << args[0];
    int status = child.wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << args[0] << " " << status;
  }
}

TEST_F(ServeCli, BadFlagsExitTwoNamingThemAndAPortInUseExitsOne) {
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  for (const Case& c : std::vector<Case>{
           {{"serve", "--listen", "localhost"}, "bad --listen 'localhost'"},
           {{"serve", "--listen", "127.0.0.1:70000"}, "bad --listen '127.0.0.1:70000'"},
           {{"serve", "--listen", "[::1:80"}, "bad --listen"},
           {{"serve", "--listen", "127.0.0.1:0", "--unix", "/tmp/x.sock"}, "exclude each other"},
           {{"serve", "--register", "nohost"}, "bad --register 'nohost'"},
       }) {
    ProcessResult r = run_frodo(env_, c.args);
    EXPECT_EQ(r.exit_code, 2) << join(c.args, " ") << "\n" << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
    EXPECT_EQ(r.err.rfind("frodo: ", 0), 0u) << r.err;
  }
  Child first(env_, {"serve", "--listen", "127.0.0.1:0"}, path("first.log"));
  int port = wait_port(first);
  ASSERT_GT(port, 0);
  ProcessResult r = run_frodo(env_, {"serve", "--listen", "127.0.0.1:" + std::to_string(port)});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos) << r.err;
}

// GET /metrics on the sidecar and on `frodo register --metrics`, and the view agreement of
// --publish-view: each process's record carries the checksum of the ring it holds.
TEST_F(ServeCli, MetricsAndPublishedViews) {
  Child serve(env_, {"serve", "--listen", "127.0.0.1:0", "--register", "127.0.0.1:7201", "--publish-view"},
              path("serve.log"));
  int port = wait_port(serve);
  ASSERT_GT(port, 0);
  Child reg(env_, {"register", "127.0.0.2:7202", "--publish-view", "--metrics", "127.0.0.1:0"}, path("register.log"));
  std::smatch m;
  const std::regex metrics_line("metrics on http://127\\.0\\.0\\.1:([0-9]+)/metrics");
  std::string log;
  ASSERT_TRUE(wait_until(
      [&] {
        log = reg.log();
        return std::regex_search(log, m, metrics_line);
      },
      await_timeout))
      << log;
  const int metrics_port = std::stoi(m[1]);

  // Both records end up with the checksum of the ring every process holds.
  httplib::Client c("127.0.0.1", port);
  json view;
  ASSERT_TRUE(wait_until(
      [&] {
        auto res = c.Get("/v1/servers");
        if (!res || res->status != 200) return false;
        view = json::parse(res->body);
        if (view["servers"].size() != 2) return false;
        for (const auto& s : view["servers"]) {
          if (!s["meta"].contains("frodo.view") || s["meta"]["frodo.view"] != view["checksum"]) return false;
        }
        return true;
      },
      await_timeout))
      << view.dump();

  auto scrape = [](int at) {
    httplib::Client client("127.0.0.1", at);
    auto res = client.Get("/metrics");
    EXPECT_TRUE(res && res->status == 200);
    if (!res) return std::string();
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    return res->body;
  };
  const std::string revision = std::to_string(view["revision"].get<std::int64_t>());
  for (int at : {port, metrics_port}) {
    std::string text;
    // The scrape reflects the current view: wait until it reaches the revision read above.
    ASSERT_TRUE(wait_until(
        [&] {
          text = scrape(at);
          std::smatch r;
          static const std::regex revision_line("frodo_view_revision\\{context=\"serve-test\"\\} ([0-9]+)");
          return std::regex_search(text, r, revision_line) && std::stoll(r[1]) >= std::stoll(revision);
        },
        await_timeout))
        << text;
    EXPECT_NE(text.find("frodo_view_servers{context=\"serve-test\"} 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("checksum=\"" + view["checksum"].get<std::string>() + "\""), std::string::npos) << text;
    EXPECT_NE(text.find("frodo_lease_alive{context=\"serve-test\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("frodo_etcd_call_duration_seconds_count{context=\"serve-test\",method=\"LeaseGrant\"} 1\n"),
              std::string::npos)
        << text;
  }
  // A bad --metrics is a usage error naming it.
  ProcessResult bad = run_frodo(env_, {"register", "127.0.0.3:1", "--metrics", "nowhere"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("bad --metrics 'nowhere'"), std::string::npos) << bad.err;
}

}  // namespace
