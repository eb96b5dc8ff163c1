// A plain HTTP/1.0 GET to 127.0.0.1, for reading a local etcd's or proxy's /metrics in tests
// and benchmarks: no TLS, no redirects, no chunked decoding (HTTP/1.0 answers are read until
// the server closes).
#pragma once

#include <string>

namespace frodo::process {

// The whole response (status line, headers and body) to GET `path` from 127.0.0.1:port.
// Bounded: at most 16 MiB, and 5 s for the connect, the send and each read. Throws
// std::runtime_error naming what failed.
std::string loopback_http_get(int port, const std::string& path);

}  // namespace frodo::process
