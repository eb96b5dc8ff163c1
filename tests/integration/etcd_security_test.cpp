// TLS (with and without a client certificate) and user/password authentication.
#include <gtest/gtest.h>

#include "etcd/kv.hpp"
#include "etcd/lease_keeper.hpp"
#include "etcd/watcher.hpp"
#include "etcd_cluster.hpp"
#include "subprocess.hpp"
#include "wait.hpp"

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
  EXPECT_TRUE(test::wait_until([&] { return events >= 1; }, 10s));
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
  EXPECT_TRUE(test::wait_until([&] { return events >= 1; }, 10s));

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

}  // namespace
}  // namespace frodo::etcd
