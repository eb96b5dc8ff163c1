// What the endpoints of EtcdOptions (and --etcd) mean: the scheme chooses TLS. No etcd
// needed: parsing and the checks a Connection makes before contacting anyone.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "etcd/connection.hpp"
#include "frodo/error.hpp"
#include "frodo/etcd.hpp"

namespace frodo::etcd {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument) << e.what();
    return e.what();
  }
  return "(no error)";
}

using Endpoints = std::vector<std::string>;

TEST(ParseEndpoints, KeepsTheSchemeThatChoosesTls) {
  EXPECT_EQ(parse_endpoints("a:1, b:2"), (Endpoints{"a:1", "b:2"}));
  EXPECT_EQ(parse_endpoints("http://a:1,b:2"), (Endpoints{"http://a:1", "b:2"}));
  EXPECT_EQ(parse_endpoints("https://a:1, HTTPS://[::1]:3"), (Endpoints{"https://a:1", "https://[::1]:3"}));
}

TEST(ParseEndpoints, RefusesOtherSchemesAndMixedListsNamingThem) {
  EXPECT_EQ(error_of([] { parse_endpoints("a:1,ftp://b:2"); }),
            "bad etcd endpoint 'ftp://b:2': unsupported scheme 'ftp' (expected http:// or https://)");
  EXPECT_EQ(error_of([] { parse_endpoints("unix:///run/etcd.sock"); }),
            "bad etcd endpoint 'unix:///run/etcd.sock': unsupported scheme 'unix' (expected http:// or https://)");
  EXPECT_EQ(error_of([] { parse_endpoints("http://a:1,https://b:2"); }),
            "etcd endpoints mix plaintext 'http://a:1' and TLS 'https://b:2': use https:// (or no scheme with TLS "
            "options) for every member");
  EXPECT_EQ(error_of([] { parse_endpoints("https://a:1/"); }), "bad etcd endpoint 'https://a:1/': port '1/' is not a number");
  EXPECT_EQ(error_of([] { parse_endpoints("https://"); }), "bad etcd endpoint 'https://': address is empty (expected host:port)");
  EXPECT_EQ(error_of([] { parse_endpoints("a:1,,b:2"); }), "bad etcd endpoint '': address is empty (expected host:port)");
}

TEST(EtcdOptionsTls, HttpsMeansTlsHttpAndNoSchemeMeanPlaintext) {
  EXPECT_FALSE(uses_tls({.endpoints = {"a:1", "b:2"}}));
  EXPECT_FALSE(uses_tls({.endpoints = {"http://a:1", "b:2"}}));
  // https:// alone is TLS (the system's roots); a scheme-less member of the list goes along.
  EXPECT_TRUE(uses_tls({.endpoints = {"https://a:1"}}));
  EXPECT_TRUE(uses_tls({.endpoints = {"https://a:1", "b:2"}}));
  // TLS options make scheme-less endpoints TLS, as they always did.
  EXPECT_TRUE(uses_tls({.endpoints = {"a:1"}, .tls = EtcdTls{"ca.pem", "", ""}}));
  EXPECT_TRUE(uses_tls({.endpoints = {"https://a:1"}, .tls = EtcdTls{"ca.pem", "", ""}}));
}

TEST(EtcdOptionsTls, ConnectionRefusesContradictionsNamingTheEndpoints) {
  EXPECT_EQ(error_of([] { Connection({.endpoints = {"http://a:1", "https://b:2"}}); }),
            "etcd endpoints mix plaintext 'http://a:1' and TLS 'https://b:2': use https:// (or no scheme with TLS "
            "options) for every member");
  EXPECT_EQ(error_of([] { Connection({.endpoints = {"http://a:1"}, .tls = EtcdTls{"ca.pem", "", ""}}); }),
            "etcd endpoint 'http://a:1' is plaintext (http://) but TLS options are set: use https://");
  EXPECT_EQ(error_of([] { Connection({.endpoints = {"a:1", "gopher://b:2"}}); }),
            "bad etcd endpoint 'gopher://b:2': unsupported scheme 'gopher' (expected http:// or https://)");
  // Neither contacts etcd: a channel to an https:// endpoint with the system's roots is made.
  Connection tls({.endpoints = {"https://127.0.0.1:1"}});
  EXPECT_EQ(tls.endpoint_count(), 1u);
  EXPECT_EQ(tls.endpoint(0).address, "127.0.0.1:1");
}

TEST(EtcdOptionsTls, AnOversizedTlsFileIsRefusedWithoutReadingItAll) {
  // /dev/zero as --cacert used to be read until memory ran out.
  std::string path = ::testing::TempDir() + "frodo-big-ca.pem";
  {
    std::ofstream big(path, std::ios::binary);
    big << "-----BEGIN CERTIFICATE-----\n" << std::string(2 << 20, 'A') << "\n-----END CERTIFICATE-----\n";
  }
  EXPECT_EQ(error_of([&] { Connection({.endpoints = {"a:1"}, .tls = EtcdTls{path, "", ""}}); }),
            "TLS CA file '" + path + "' is larger than 1048576 bytes");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace frodo::etcd
