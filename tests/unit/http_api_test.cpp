// The HTTP API of `frodo serve` (tools/frodo/http_api.hpp) over a Cluster on the in-memory
// registry: a real httplib server on a free loopback port, a real HTTP client. The same
// API against a real etcd, through the `frodo serve` binary, is in tests/cli.
#include "http_api.hpp"

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../support/percent_encoding.hpp"
#include "frodo/cluster.hpp"
#include "frodo/ring.hpp"
#include "registry/memory_registry_testing.hpp"

namespace frodo::cli {
namespace {

using nlohmann::json;

ClusterOptions quiet() {
  ClusterOptions o;
  o.context = "app";
  o.logger = [](const std::string&) {};
  return o;
}

// httplib's stop() does nothing before the accept loop runs: wait (bounded) for it first.
void stop_when_listening(httplib::Server& server) {
  for (int i = 0; i < 30000 && !server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server.stop();
}

// A Cluster, the API over it and a server on 127.0.0.1:<free port>, stopped in order.
class ApiFixture : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }

  void start(HttpApiOptions options) {
    options.context = "app";
    registry_ = MemoryRegistry::create();
    cluster_ = std::make_unique<Cluster>(quiet(), registry_);
    api_ = std::make_unique<HttpApi>(*cluster_, options);
    api_->install(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    listener_ = std::thread([this] { server_.listen_after_bind(); });
  }

  void TearDown() override {
    api_->shut_down();
    stop_when_listening(server_);
    if (listener_.joinable()) listener_.join();
    api_.reset();
    cluster_.reset();
  }

  httplib::Client client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30, 0);
    return c;
  }

  std::shared_ptr<MemoryRegistry> registry_;
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<HttpApi> api_;
  httplib::Server server_;
  std::thread listener_;
  int port_ = 0;
};

json body_of(const httplib::Result& r) {
  EXPECT_TRUE(r) << "no response";
  if (!r) return json();
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << r->body;
  return json::parse(r->body);
}

void expect_error(const httplib::Result& r, int status, const std::string& code, const std::string& needle) {
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, status) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["error"]["code"], code) << r->body;
  EXPECT_NE(j["error"]["message"].get<std::string>().find(needle), std::string::npos) << r->body;
}

TEST_F(ApiFixture, OwnerAnswersAsTheRingWithTheViewsRevisionAndChecksum) {
  cluster_->add_server("10.0.0.1:80");
  cluster_->add_server("10.0.0.2:80", {.zone = "b"});
  cluster_->add_server("10.0.0.3:80");
  auto s = cluster_->snapshot();
  auto c = client();
  for (const std::string& id : std::vector<std::string>{"host-1", "", "caf\xc3\xa9", "a b+c&d=e", std::string("nul\0byte", 8)}) {
    auto r = c.Get("/v1/owner?id=" + frodo::test::percent_encoded(id));
    json j = body_of(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(j["owner"], std::string(*s->ring.owner(id))) << "id " << id;
    EXPECT_EQ(j["revision"], s->revision);
    EXPECT_EQ(j["checksum"], s->ring.checksum_hex());
  }
  auto r = c.Get("/v1/owner?id=host-1&n=3");
  json j = body_of(r);
  std::vector<std::string> expected = s->owners("host-1", 3);
  EXPECT_EQ(j["owners"].get<std::vector<std::string>>(), expected);
  EXPECT_EQ(j["owners"].size(), 3u);
}

TEST_F(ApiFixture, OwnerOfAnEmptyViewIsNull) {
  auto r = client().Get("/v1/owner?id=x");
  json j = body_of(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(j["owner"].is_null());
}

TEST_F(ApiFixture, BadOwnerQueriesAre400NamingTheProblem) {
  auto c = client();
  expect_error(c.Get("/v1/owner"), 400, "invalid_argument", "'id'");
  expect_error(c.Get("/v1/owner?id=a&id=b"), 400, "invalid_argument", "more than once");
  expect_error(c.Get("/v1/owner?id=a&n=0"), 400, "invalid_argument", "bad n '0'");
  expect_error(c.Get("/v1/owner?id=a&n=x1"), 400, "invalid_argument", "bad n 'x1'");
  expect_error(c.Get("/v1/owner?id=a&n=99999999999999999999999"), 400, "invalid_argument", "bad n");
  expect_error(c.Get("/v1/nothing"), 404, "not_found", "/v1/nothing");
}

TEST_F(ApiFixture, BatchAnswersInTheOrderOfTheIds) {
  for (int i = 1; i <= 20; ++i) cluster_->add_server("10.0.1." + std::to_string(i) + ":80");
  auto s = cluster_->snapshot();
  json ids = json::array();
  for (int i = 0; i < 20000; ++i) ids.push_back("entity-" + std::to_string(i));  // split between threads
  ids.push_back("");
  ids.push_back("\xe2\x82\xac");
  auto r = client().Post("/v1/owners", json{{"ids", ids}}.dump(), "application/json");
  json j = body_of(r);
  ASSERT_EQ(r->status, 200) << r->body.substr(0, 300);
  ASSERT_EQ(j["owners"].size(), ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    ASSERT_EQ(j["owners"][i], std::string(*s->ring.owner(ids[i].get<std::string>()))) << i;
  }
  EXPECT_EQ(j["revision"], s->revision);
  EXPECT_EQ(j["checksum"], s->ring.checksum_hex());

  auto r3 = client().Post("/v1/owners", json{{"ids", {"a", "b"}}, {"n", 3}}.dump(), "application/json");
  json j3 = body_of(r3);
  ASSERT_EQ(r3->status, 200) << r3->body;
  EXPECT_EQ(j3["owners"][0].get<std::vector<std::string>>(), s->owners("a", 3));
  EXPECT_EQ(j3["owners"][1].get<std::vector<std::string>>(), s->owners("b", 3));
}

TEST_F(ApiFixture, BatchOfAnEmptyViewHoldsNulls) {
  auto r = client().Post("/v1/owners", R"({"ids":["a","b"]})", "application/json");
  json j = body_of(r);
  EXPECT_EQ(j["owners"], json::parse("[null,null]"));
}

TEST_F(ApiFixture, HostileBatchBodiesAre4xxAndTheServerKeepsAnswering) {
  auto c = client();
  expect_error(c.Post("/v1/owners", "", "application/json"), 400, "invalid_argument", "not JSON");
  expect_error(c.Post("/v1/owners", "{\"ids\":[\"a\"", "application/json"), 400, "invalid_argument", "not JSON");
  expect_error(c.Post("/v1/owners", "[1]", "application/json"), 400, "invalid_argument", "JSON object");
  expect_error(c.Post("/v1/owners", "{}", "application/json"), 400, "invalid_argument", "missing field \"ids\"");
  expect_error(c.Post("/v1/owners", R"({"ids":"a"})", "application/json"), 400, "invalid_argument", "array");
  expect_error(c.Post("/v1/owners", R"({"ids":["a",7]})", "application/json"), 400, "invalid_argument", "ids[1]");
  expect_error(c.Post("/v1/owners", R"({"ids":[],"x":1})", "application/json"), 400, "invalid_argument", "'x'");
  expect_error(c.Post("/v1/owners", R"({"ids":[],"n":-1})", "application/json"), 400, "invalid_argument", "\"n\"");
  expect_error(c.Post("/v1/owners", R"({"ids":[],"n":70000})", "application/json"), 400, "invalid_argument", "n");
  expect_error(c.Post("/v1/owners", R"({"ids":[["a"]]})", "application/json"), 400, "invalid_argument",
               "ids[0] is not a string");
  expect_error(c.Post("/v1/owners", R"({"ids":[],"n":{}})", "application/json"), 400, "invalid_argument", "\"n\"");
  expect_error(c.Post("/v1/owners", R"({"ids":[],"n":1.5})", "application/json"), 400, "invalid_argument", "\"n\"");
  expect_error(c.Post("/v1/owners", R"({"ids":["a"]} trailing)", "application/json"), 400, "invalid_argument",
               "not JSON");
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  expect_error(c.Post("/v1/owners", deep, "application/json"), 400, "invalid_argument", "deeper");
  std::string long_id = R"({"ids":[")" + std::string(70 * 1024, 'x') + R"("]})";
  expect_error(c.Post("/v1/owners", long_id, "application/json"), 400, "invalid_argument", "ids[0]");
  std::string invalid_utf8 = "{\"ids\":[\"\xff\"]}";
  expect_error(c.Post("/v1/owners", invalid_utf8, "application/json"), 400, "invalid_argument", "not JSON");
  // Still answering.
  auto r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// The fixture with options of the test's choosing: start(options) in the test body.
class ApiLimits : public ApiFixture {
 protected:
  void SetUp() override {}
  void TearDown() override {
    if (api_) ApiFixture::TearDown();
  }
};

TEST_F(ApiLimits, BodiesAndBatchesOverTheLimitsAre413) {
  HttpApiOptions options;
  options.max_body_bytes = 1000;
  options.max_batch_ids = 3;
  start(options);
  auto c = client();
  expect_error(c.Post("/v1/owners", R"({"ids":["a","b","c","d"]})", "application/json"), 413, "payload_too_large",
               "limit of 3");
  auto r = c.Post("/v1/owners", R"({"ids":[")" + std::string(2000, 'x') + R"("]})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "payload_too_large");
}

TEST_F(ApiFixture, ServersIsTheView) {
  cluster_->add_server("10.0.0.1:80", {.weight = 2, .zone = "z", .meta = {{"k", "v"}}});
  auto s = cluster_->snapshot();
  auto r = client().Get("/v1/servers");
  json j = body_of(r);
  EXPECT_EQ(j["context"], "app");
  EXPECT_EQ(j["revision"], s->revision);
  EXPECT_EQ(j["algorithm"], "ketama");
  EXPECT_EQ(j["checksum"], s->ring.checksum_hex());
  ASSERT_EQ(j["servers"].size(), 1u);
  EXPECT_EQ(j["servers"][0],
            json::parse(R"({"address":"10.0.0.1:80","weight":2.0,"zone":"z","meta":{"k":"v"},"share":1.0})"));
  char lease[32];
  std::snprintf(lease, sizeof lease, "%llx", static_cast<unsigned long long>(cluster_->lease_id()));
  EXPECT_EQ(j["lease"], lease) << "the sidecar's lease, which its servers hang on";
}

TEST_F(ApiFixture, ServersCarryTheirShareOfIdsAndLeavingServersOwnNone) {
  json empty = body_of(client().Get("/v1/servers"));
  EXPECT_EQ(empty["servers"], json::array());

  cluster_->add_server("10.0.0.1:80");
  cluster_->add_server("10.0.0.2:80", {.weight = 3});
  cluster_->add_server("10.0.0.3:80", {.zone = "b"});
  // A guarded server draining away: listed in the view, but not in the ring.
  cluster_->add_server("10.0.0.0:80", {.meta = {{"frodo.leaving", "1"}}});
  auto s = cluster_->snapshot();
  ASSERT_EQ(s->ring.size(), 3u);
  json j = body_of(client().Get("/v1/servers"));
  ASSERT_EQ(j["servers"].size(), 4u);
  const std::vector<double> ring_shares = s->ring.shares();
  double sum = 0;
  for (const json& server : j["servers"]) {
    ASSERT_TRUE(server["share"].is_number()) << server;
    const double share = server["share"].get<double>();
    EXPECT_GE(share, 0);
    EXPECT_LE(share, 1);
    sum += share;
    const std::string address = server["address"];
    if (address == "10.0.0.0:80") {
      EXPECT_EQ(share, 0) << "a leaving server owns no id";
      continue;
    }
    // The share the ring gives this address (shares() is in ring-member order).
    std::size_t i = 0;
    while (i < s->ring.members().size() && s->ring.members()[i].address != address) ++i;
    ASSERT_LT(i, ring_shares.size()) << address;
    EXPECT_DOUBLE_EQ(share, ring_shares[i]) << address;
  }
  EXPECT_NEAR(sum, 1.0, 1e-9);
  EXPECT_GT(j["servers"][2]["share"].get<double>(), j["servers"][1]["share"].get<double>())
      << "weight 3 owns more than weight 1: " << j;
}

TEST_F(ApiFixture, StatusPageIsStaticHtmlWithAStrictContentSecurityPolicy) {
  // Hostile text in the view: the page never holds it (its script reads the view from
  // /v1/watch and writes it as text).
  cluster_->add_server("10.0.0.1:80", {.zone = "<img src=x onerror=alert(1)>", .meta = {{"note", "</script><b>x"}}});
  auto r = client().Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(r->body.rfind("<!doctype html>", 0), 0u) << r->body.substr(0, 100);
  EXPECT_NE(r->body.find("EventSource('v1/watch')"), std::string::npos);
  EXPECT_EQ(r->body.find("onerror=alert"), std::string::npos);
  EXPECT_EQ(r->body.find("</script><b>"), std::string::npos);
  EXPECT_EQ(r->body.find("10.0.0.1:80"), std::string::npos);
  EXPECT_EQ(r->body.find("innerHTML"), std::string::npos) << "every string goes in as text";
  // Nothing is fetched from elsewhere: no script, image or style source, no import.
  for (const char* load : {" src=", "url(", "@import", "https://", "fetch("}) {
    EXPECT_EQ(r->body.find(load), std::string::npos) << load;
  }
  const std::string csp = r->get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src 'sha256-"), std::string::npos) << csp;
  EXPECT_NE(csp.find("style-src 'sha256-"), std::string::npos) << csp;
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;
  EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
  // The same bytes every time.
  auto again = client().Get("/");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body, r->body);
}

TEST_F(ApiFixture, PutAndDeleteRegisterAndRemoveOnTheLease) {
  auto c = client();
  auto r = c.Put("/v1/servers/127.0.0.1:9001", R"({"weight":3,"zone":"east","meta":{"role":"ingest"}})",
                 "application/json");
  json j = body_of(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(j["address"], "127.0.0.1:9001");
  auto s = cluster_->snapshot();
  ASSERT_EQ(s->servers.size(), 1u);
  EXPECT_EQ(s->servers[0].weight, 3);
  EXPECT_EQ(s->servers[0].zone, "east");
  EXPECT_EQ(s->servers[0].meta.at("role"), "ingest");
  EXPECT_NE(s->servers[0].lease, 0) << "registered on the sidecar's lease";
  EXPECT_EQ(j["revision"], s->revision);
  char lease[32];
  std::snprintf(lease, sizeof lease, "%llx", static_cast<unsigned long long>(s->servers[0].lease));
  EXPECT_EQ(j["lease"], lease) << "the lease id in hex, as etcdctl prints it";

  auto ipv6 = c.Put("/v1/servers/" + frodo::test::percent_encoded("[::1]:9002"), "", "application/json");
  ASSERT_TRUE(ipv6);
  EXPECT_EQ(ipv6->status, 200) << ipv6->body;
  EXPECT_EQ(cluster_->snapshot()->servers.size(), 2u);

  auto d = c.Delete("/v1/servers/127.0.0.1:9001");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 200) << d->body;
  EXPECT_EQ(cluster_->snapshot()->servers.size(), 1u);
  expect_error(c.Delete("/v1/servers/127.0.0.1:9001"), 404, "not_found", "127.0.0.1:9001");
}

TEST_F(ApiFixture, BadRegistrationsAre400NamingTheValue) {
  auto c = client();
  expect_error(c.Put("/v1/servers/nohost", "", "application/json"), 400, "invalid_argument", "'nohost'");
  expect_error(c.Put("/v1/servers/a:1", R"({"weight":"x"})", "application/json"), 400, "invalid_argument", "weight");
  expect_error(c.Put("/v1/servers/a:1", R"({"weight":0})", "application/json"), 400, "invalid_argument", "weight");
  expect_error(c.Put("/v1/servers/a:1", R"({"zone":"\u001b[2J"})", "application/json"), 400, "invalid_argument",
               "zone");
  expect_error(c.Put("/v1/servers/a:1", R"({"color":1})", "application/json"), 400, "invalid_argument", "'color'");
  expect_error(c.Put("/v1/servers/a:1", R"({"meta":{"k":1}})", "application/json"), 400, "invalid_argument", "'k'");
  expect_error(c.Delete("/v1/servers/a:99999"), 400, "invalid_argument", "'a:99999'");
  EXPECT_TRUE(cluster_->snapshot()->servers.empty());
}

TEST_F(ApiFixture, HealthAndReadiness) {
  auto c = client();
  auto h = c.Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto r = c.Get("/readyz");
  json j = body_of(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(j["ready"], true);

  api_->register_server("127.0.0.1:9001", {});
  r = c.Get("/readyz");
  EXPECT_EQ(r->status, 200) << r->body;
  test::end_lease(*registry_, 1);  // the lease of the Cluster's session expires
  r = c.Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->body;
  EXPECT_NE(r->body.find("lease"), std::string::npos) << r->body;
}

// Reads a Server-Sent Events stream on its own thread and keeps the events it parsed.
class EventReader {
 public:
  struct Event {
    std::string id, type;
    json data;
  };

  EventReader(int port, httplib::Headers headers = {}) : client_("127.0.0.1", port) {
    client_.set_read_timeout(60, 0);
    thread_ = std::thread([this, headers] {
      client_.Get("/v1/watch", headers, [this](const char* data, std::size_t length) {
        std::lock_guard lock(mutex_);
        buffer_.append(data, length);
        std::size_t end;
        while ((end = buffer_.find("\n\n")) != std::string::npos) {
          std::string block = buffer_.substr(0, end);
          buffer_.erase(0, end + 2);
          Event e;
          std::size_t start = 0;
          while (start <= block.size()) {
            std::size_t nl = block.find('\n', start);
            std::string line = block.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
            if (line.rfind("id: ", 0) == 0) e.id = line.substr(4);
            if (line.rfind("event: ", 0) == 0) e.type = line.substr(7);
            if (line.rfind("data: ", 0) == 0) e.data = json::parse(line.substr(6));
            if (nl == std::string::npos) break;
            start = nl + 1;
          }
          if (!e.type.empty()) events_.push_back(std::move(e));
        }
        changed_.notify_all();
        return true;
      });
      std::lock_guard lock(mutex_);
      ended_ = true;
      changed_.notify_all();
    });
  }
  ~EventReader() {
    client_.stop();
    thread_.join();
  }

  // Waits (bounded) until `count` events arrived; returns them.
  std::vector<Event> wait_events(std::size_t count) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, std::chrono::seconds(30), [&] { return events_.size() >= count || ended_; });
    return events_;
  }
  bool wait_ended() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(30), [&] { return ended_; });
  }

 private:
  httplib::Client client_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string buffer_;
  std::vector<Event> events_;
  bool ended_ = false;
  std::thread thread_;
};

TEST_F(ApiFixture, WatchSendsTheViewThenEveryChangeAndResumesFromLastEventId) {
  cluster_->add_server("10.0.0.1:80");
  const auto first = cluster_->snapshot()->revision;
  {
    EventReader reader(port_);
    auto events = reader.wait_events(1);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].type, "view");
    EXPECT_EQ(events[0].id, std::to_string(first));
    EXPECT_EQ(events[0].data["servers"].size(), 1u);
    EXPECT_EQ(events[0].data["servers"][0]["share"], 1.0) << "each server with its share of ids";
    cluster_->add_server("10.0.0.2:80");
    events = reader.wait_events(2);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1].id, std::to_string(cluster_->snapshot()->revision));
    EXPECT_EQ(events[1].data["servers"].size(), 2u);
    EXPECT_EQ(events[1].data["checksum"], cluster_->snapshot()->ring.checksum_hex());
  }
  // Resuming from the current revision sends nothing until the next change.
  const auto now = cluster_->snapshot()->revision;
  EventReader resumed(port_, {{"Last-Event-ID", std::to_string(now)}});
  cluster_->remove_server("10.0.0.1:80");
  auto events = resumed.wait_events(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].id, std::to_string(cluster_->snapshot()->revision));
  EXPECT_EQ(events[0].data["servers"].size(), 1u);
  // Resuming from an older revision gets the current view at once.
  EventReader behind(port_, {{"Last-Event-ID", std::to_string(first)}});
  events = behind.wait_events(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].id, std::to_string(cluster_->snapshot()->revision));
}

TEST_F(ApiFixture, WatchRefusesABadLastEventIdAndEndsOnShutDown) {
  auto c = client();
  expect_error(c.Get("/v1/watch", {{"Last-Event-ID", "x"}}), 400, "invalid_argument", "'x'");
  EventReader reader(port_);
  ASSERT_EQ(reader.wait_events(1).size(), 1u);
  api_->shut_down();
  EXPECT_TRUE(reader.wait_ended()) << "the stream did not end on shut_down()";
}

TEST_F(ApiLimits, StreamsOverTheLimitAre503) {
  HttpApiOptions options;
  options.max_streams = 1;
  start(options);
  cluster_->add_server("127.0.0.1:80");
  EventReader reader(port_);
  ASSERT_EQ(reader.wait_events(1).size(), 1u);
  expect_error(client().Get("/v1/watch"), 503, "unavailable", "limit is 1");
}

}  // namespace
}  // namespace frodo::cli
