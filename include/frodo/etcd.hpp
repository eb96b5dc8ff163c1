// How frodo reaches etcd: endpoints, deadlines, TLS and authentication.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace frodo {

struct EtcdTls {
  std::string ca_file;    // PEM CA that signed the etcd members' certificates
  std::string cert_file;  // optional client certificate (PEM), for --client-cert-auth
  std::string key_file;   // its private key (PEM); required with cert_file
};

struct EtcdOptions {
  // host:port of each member (a leading http:// or https:// is accepted and ignored; TLS is
  // chosen by `tls`). Calls fail over to the next member when one is unreachable.
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

// Parses "host:port,host:port" (as in --etcd and FRODO_ETCD) into endpoints; throws
// Error(invalid_argument) naming a bad entry.
std::vector<std::string> parse_endpoints(const std::string& list);

}  // namespace frodo
