// How frodo reaches etcd: endpoints, deadlines, TLS and authentication.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace frodo {

// TLS with a CA of your own (and optionally a client certificate). Without EtcdTls, an
// https:// endpoint still means TLS, checked against the system's trusted roots.
struct EtcdTls {
  std::string ca_file;    // PEM CA that signed the etcd members' certificates
  std::string cert_file;  // optional client certificate (PEM), for --client-cert-auth
  std::string key_file;   // its private key (PEM); required with cert_file
};

struct EtcdOptions {
  // host:port of each member, optionally with a scheme, as etcdctl takes them:
  //   https://host:port  TLS: against `tls`'s CA when set, else the system's trusted roots;
  //   http://host:port   plaintext; refused when `tls` is set;
  //   host:port          TLS when `tls` is set (or another endpoint is https://), else plaintext.
  // Another scheme, or a list mixing http:// and https://, is refused (Error(invalid_argument)
  // when the connection is made). Calls fail over to the next member when one is unreachable.
  std::vector<std::string> endpoints = {"127.0.0.1:2379"};
  // Every call gives up after this long (across all endpoints) with Errc::deadline_exceeded
  // or Errc::unavailable naming the endpoints tried.
  std::chrono::milliseconds call_timeout{5000};
  std::optional<EtcdTls> tls;
  // The largest message this client accepts from etcd (at least 1 MiB). Listings page below
  // it; a single value larger than it is skipped with a warning (etcd's own default limit on
  // a request is 1.5 MiB, so only an etcd configured otherwise can hold one).
  std::size_t max_receive_bytes = 64 << 20;
  std::string user;  // empty: no authentication
  std::string password;
};

// Parses "host:port,https://host:port" (as in --etcd and FRODO_ETCD) into endpoints, each
// keeping its scheme (lower-cased); throws Error(invalid_argument) naming a bad entry, an
// unsupported scheme, or an http:// and an https:// entry in the same list.
std::vector<std::string> parse_endpoints(const std::string& list);

}  // namespace frodo
