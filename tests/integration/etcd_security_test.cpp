// TLS (with and without a client certificate) and user/password authentication.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "etcd/kv.hpp"
#include "etcd/lease_keeper.hpp"
#include "etcd/watcher.hpp"
#include "etcd_cluster.hpp"
#include "subprocess.hpp"
#include "process/wait_until.hpp"

namespace frodo::etcd {
namespace {

using namespace std::chrono_literals;

Errc error_code_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  ADD_FAILURE() << "no error";
  return Errc::internal;
}

TEST(EtcdTls, ServerCertificateCheckedAgainstTheCa) {
  test::EtcdCluster etcd({.tls = true});
  EtcdOptions options{.endpoints = etcd.endpoints(), .call_timeout = 2000ms, .tls = EtcdTls{etcd.ca_file(), "", ""}};
  Kv kv(std::make_shared<Connection>(options));
  kv.put("/tls/a", "1");
  EXPECT_EQ(kv.get("/tls/a").kvs.at(0).value, "1");

  // Plaintext to a TLS port, and TLS trusting the wrong CA (the client certificate is not
  // a CA for the server): both fail, within the deadline, naming the endpoint.
  std::string message;
  EtcdOptions plain{.endpoints = etcd.endpoints(), .call_timeout = 1000ms};
  EXPECT_EQ(error_code_of([&] { Kv(std::make_shared<Connection>(plain)).get("/tls/a"); }, &message), Errc::unavailable);
  EXPECT_NE(message.find(etcd.endpoint(0)), std::string::npos) << message;
  EtcdOptions wrong_ca{.endpoints = etcd.endpoints(), .call_timeout = 1000ms, .tls = EtcdTls{etcd.client_cert_file(), "", ""}};
  EXPECT_EQ(error_code_of([&] { Kv(std::make_shared<Connection>(wrong_ca)).get("/tls/a"); }, &message), Errc::unavailable);
  EXPECT_NE(message.find(etcd.endpoint(0)), std::string::npos) << message;
}

TEST(EtcdTls, HttpsNeverFallsBackToPlaintext) {
  // https:// used to be stripped and the call made in plaintext, password included. Against
  // a plaintext member it must now fail the TLS handshake instead of answering.
  test::EtcdCluster etcd;
  std::string message;
  EtcdOptions https{.endpoints = {"https://" + etcd.endpoint(0)}, .call_timeout = 1000ms};
  EXPECT_EQ(error_code_of([&] { Kv(std::make_shared<Connection>(https)).put("/plain/a", "1"); }, &message),
            Errc::unavailable);
  EXPECT_NE(message.find(etcd.endpoint(0)), std::string::npos) << message;
  EXPECT_EQ(etcd.etcdctl({"get", "/plain/a"}), "");  // nothing was written
  // http:// and no scheme are plaintext, and work.
  Kv(std::make_shared<Connection>(EtcdOptions{.endpoints = {"http://" + etcd.endpoint(0)}})).put("/plain/a", "1");
  EXPECT_EQ(Kv(std::make_shared<Connection>(EtcdOptions{.endpoints = {etcd.endpoint(0)}})).get("/plain/a").kvs.at(0).value,
            "1");
}

TEST(EtcdTls, HttpsTrustsTheGivenCaElseTheSystemRoots) {
  test::EtcdCluster etcd({.tls = true});
  EtcdOptions with_ca{.endpoints = {"https://" + etcd.endpoint(0)}, .call_timeout = 2000ms,
                      .tls = EtcdTls{etcd.ca_file(), "", ""}};
  Kv kv(std::make_shared<Connection>(with_ca));
  kv.put("/tls/c", "3");
  EXPECT_EQ(kv.get("/tls/c").kvs.at(0).value, "3");
  // Without a CA of its own, https:// is TLS against the system's roots, which do not know
  // the test CA: the handshake is refused.
  std::string message;
  EtcdOptions system_roots{.endpoints = {"https://" + etcd.endpoint(0)}, .call_timeout = 1000ms};
  EXPECT_EQ(error_code_of([&] { Kv(std::make_shared<Connection>(system_roots)).get("/tls/c"); }, &message),
            Errc::unavailable);
  EXPECT_NE(message.find(etcd.endpoint(0)), std::string::npos) << message;
}

TEST(EtcdTls, ClientCertificateRequiredWhenTheServerAsks) {
  test::EtcdCluster etcd({.tls = true, .client_cert_auth = true});
  EtcdOptions with_cert{.endpoints = etcd.endpoints(),
                        .call_timeout = 2000ms,
                        .tls = EtcdTls{etcd.ca_file(), etcd.client_cert_file(), etcd.client_key_file()}};
  auto connection = std::make_shared<Connection>(with_cert);
  Kv(connection).put("/tls/b", "2");
  // Streams too: a keeper and a watcher over mutual TLS.
  LeaseKeeper keeper(connection, {.ttl = 2s}, {});
  std::atomic<int> events{0};
  Watcher watcher(connection, "/tls/", 1, {[&](const auto& e, std::int64_t) { events += static_cast<int>(e.size()); },
                                           {}, [](std::int64_t) {}, {}});
  EXPECT_TRUE(process::wait_until([&] { return events >= 1; }, 10s));
  EXPECT_TRUE(keeper.alive());

  EtcdOptions without{.endpoints = etcd.endpoints(), .call_timeout = 1000ms, .tls = EtcdTls{etcd.ca_file(), "", ""}};
  std::string message;
  EXPECT_EQ(error_code_of([&] { Kv(std::make_shared<Connection>(without)).get("/tls/b"); }, &message), Errc::unavailable);
  EXPECT_NE(message.find(etcd.endpoint(0)), std::string::npos) << message;
}

TEST(EtcdAuth, RightWrongAndMissingPasswordAndPermissionDenied) {
  test::EtcdCluster etcd;
  etcd.enable_auth("rootpw");
  etcd.add_user("app", "app-secret", "/frodo/");
  EtcdOptions good{.endpoints = etcd.endpoints(), .call_timeout = 2000ms, .user = "app", .password = "app-secret"};
  auto connection = std::make_shared<Connection>(good);
  Kv kv(connection);
  kv.put("/frodo/x", "1");
  EXPECT_EQ(kv.get("/frodo/x").kvs.at(0).value, "1");
  std::atomic<int> events{0};
  Watcher watcher(connection, "/frodo/", 1, {[&](const auto& e, std::int64_t) { events += static_cast<int>(e.size()); },
                                             {}, [](std::int64_t) {}, {}});
  EXPECT_TRUE(process::wait_until([&] { return events >= 1; }, 10s));

  std::string message;
  EXPECT_EQ(error_code_of([&] { kv.put("/elsewhere", "1"); }, &message), Errc::permission_denied);
  EXPECT_NE(message.find("/elsewhere"), std::string::npos) << message;

  EtcdOptions wrong = good;
  wrong.password = "nope";
  EXPECT_EQ(error_code_of([&] { Kv(std::make_shared<Connection>(wrong)).get("/frodo/x"); }, &message),
            Errc::unauthenticated);
  EXPECT_NE(message.find("'app'"), std::string::npos) << message;

  EtcdOptions anonymous{.endpoints = etcd.endpoints(), .call_timeout = 2000ms};
  EXPECT_EQ(error_code_of([&] { Kv(std::make_shared<Connection>(anonymous)).get("/frodo/x"); }, &message),
            Errc::unauthenticated);
}

TEST(EtcdAuth, AnInvalidatedTokenIsRenewedTransparently) {
  // etcd drops a user's tokens when the password changes (and simple tokens expire after
  // --auth-token-ttl of disuse); calls and new streams must authenticate again by themselves.
  test::EtcdCluster etcd;
  etcd.enable_auth("rootpw");
  etcd.add_user("app", "pw", "/frodo/");
  auto connection = std::make_shared<Connection>(
      EtcdOptions{.endpoints = etcd.endpoints(), .call_timeout = 2000ms, .user = "app", .password = "pw"});
  Kv kv(connection);
  kv.put("/frodo/a", "0");
  ASSERT_EQ(connection->authentications(), 1);
  // Same password again: every token of "app" is invalidated.
  test::ProcessResult passwd = test::run_process(
      {"sh", "-c", "printf 'pw\\n' | etcdctl --endpoints=" + etcd.endpoint(0) +
                       " --user=root:rootpw user passwd app --interactive=false"});
  ASSERT_EQ(passwd.exit_code, 0) << passwd.err;
  kv.put("/frodo/a", "1");  // the old token is refused; the call re-authenticates and succeeds
  EXPECT_EQ(connection->authentications(), 2);
  EXPECT_EQ(kv.get("/frodo/a").kvs.at(0).value, "1");
  LeaseKeeper keeper(connection, {.ttl = 2s}, {});
  EXPECT_TRUE(keeper.alive());
}

// Whether etcd still accepts `token`: one read with it, on the first member, as is.
bool token_accepted(Connection& connection, const std::string& token) {
  grpc::ClientContext context;
  set_deadline(context, Clock::now() + 2000ms);
  context.AddMetadata("token", token);
  etcdserverpb::RangeRequest request;
  request.set_key("/frodo/probe");
  etcdserverpb::RangeResponse response;
  grpc::Status status = connection.endpoint(0).kv->Range(&context, request, &response);
  return !is_invalid_token(status);
}

TEST(EtcdAuth, StreamsKeepWorkingAfterTheTokenExpiresAndRenewItWhenTheyReconnect) {
  // Simple tokens expire after --auth-token-ttl seconds without use; the watch and keepalive
  // streams opened with one keep running, and must authenticate again when they reopen.
  test::EtcdCluster etcd({.extra_flags = {"--auth-token-ttl=1"}});
  etcd.enable_auth("rootpw");
  etcd.add_user("app", "pw", "/frodo/");
  EtcdOptions options{.endpoints = etcd.endpoints(), .call_timeout = 2000ms, .user = "app", .password = "pw"};
  auto connection = std::make_shared<Connection>(options);
  std::int64_t start = Kv(connection).put("/frodo/w/seed", "") + 1;
  ASSERT_EQ(connection->authentications(), 1);

  std::mutex mutex;
  std::vector<std::string> keys;
  std::vector<std::string> errors;
  Watcher watcher(connection, "/frodo/w/", start,
                  {[&](const std::vector<WatchEvent>& events, std::int64_t) {
                     std::lock_guard lock(mutex);
                     for (const auto& e : events) keys.push_back(e.kv.key);
                   },
                   {},
                   [](std::int64_t) {},
                   [&](const Error& e) {
                     std::lock_guard lock(mutex);
                     errors.push_back(e.what());
                   }});
  std::atomic<int> lost{0};
  LeaseKeeper keeper(connection, {.ttl = 3s}, [&](std::int64_t, LeaseLoss) { ++lost; });
  // Writes come from a connection of their own, so the watching one makes no unary call that
  // would renew its token on the side.
  Kv writer(std::make_shared<Connection>(options));
  writer.put("/frodo/w/before", "1");
  auto delivered = [&](const std::string& key) {
    return process::wait_until(
        [&] {
          std::lock_guard lock(mutex);
          return std::find(keys.begin(), keys.end(), key) != keys.end();
        },
        10s);
  };
  ASSERT_TRUE(delivered("/frodo/w/before"));

  // Wait until etcd has dropped the connection's token. A probe that finds it valid renews
  // it, so probes are spaced wider than the TTL plus etcd's 1 s expiry tick.
  grpc::ClientContext unused;
  std::string token = connection->authorize(unused, Clock::now() + 2000ms);
  ASSERT_TRUE(process::wait_until([&] { return !token_accepted(*connection, token); }, 30s, 2500ms))
      << "etcd kept the token alive: something used it";
  Clock::time_point expired_at = Clock::now();

  // Both streams carry on: a later write is delivered, and the lease outlives several TTLs.
  writer.put("/frodo/w/after-expiry", "1");
  EXPECT_TRUE(delivered("/frodo/w/after-expiry"));
  EXPECT_TRUE(process::wait_until([&] { return keeper.deadline() > expired_at + 3 * 3s; }, 20s)) << "keepalives stopped";
  EXPECT_TRUE(keeper.alive());
  EXPECT_EQ(lost, 0);

  // A restart breaks both streams; they reopen holding the dead token and must replace it.
  std::int64_t streams = watcher.streams_opened();
  etcd.kill(0);
  etcd.restart(0);
  ASSERT_TRUE(process::wait_until([&] { return watcher.streams_opened() > streams; }, 10s));
  writer.put("/frodo/w/after-reconnect", "1");
  EXPECT_TRUE(delivered("/frodo/w/after-reconnect")) << [&] {
    std::lock_guard lock(mutex);
    std::string all;
    for (const auto& e : errors) all += e + "\n";
    return "watch errors:\n" + all;
  }();
  // A keepalive sent after the reconnection was answered: the reopened stream works.
  Clock::time_point reconnected = Clock::now();
  EXPECT_TRUE(process::wait_until([&] { return keeper.deadline() > reconnected + 3s; }, 10s)) << "keepalives stopped";
  EXPECT_TRUE(keeper.alive());
  EXPECT_EQ(lost, 0);
  EXPECT_GE(connection->authentications(), 2);
}

TEST(EtcdAuth, AWatchOutsideTheUsersPermissionsIsReportedNotSilentlyIdle) {
  // etcd answers such a create request with "created" and "canceled" together.
  test::EtcdCluster etcd;
  etcd.enable_auth("rootpw");
  etcd.add_user("app", "pw", "/frodo/");
  auto connection = std::make_shared<Connection>(
      EtcdOptions{.endpoints = etcd.endpoints(), .call_timeout = 2000ms, .user = "app", .password = "pw"});
  std::int64_t start = Kv(connection).put("/frodo/a", "1") + 1;
  std::mutex mutex;
  std::vector<std::string> errors;
  Watcher watcher(connection, "/elsewhere/", start,
                  {[](const std::vector<WatchEvent>&, std::int64_t) {}, {}, [](std::int64_t) {},
                   [&](const Error& e) {
                     std::lock_guard lock(mutex);
                     errors.push_back(e.what());
                   }});
  ASSERT_TRUE(process::wait_until([&] { std::lock_guard lock(mutex); return errors.size() >= 3; }, 10s));
  {
    std::lock_guard lock(mutex);
    EXPECT_NE(errors[0].find("permission denied"), std::string::npos) << errors[0];
  }
  // The first refusal may have been a stale token: one new authentication, not one per retry.
  EXPECT_EQ(connection->authentications(), 2);
}

}  // namespace
}  // namespace frodo::etcd
