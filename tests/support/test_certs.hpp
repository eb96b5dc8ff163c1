// Throwaway TLS material for test daemons, made with the openssl command line tool.
#pragma once

#include <filesystem>

namespace frodo::test {

struct TestCerts {
  std::filesystem::path ca_cert;
  std::filesystem::path server_cert, server_key;  // SAN IP:127.0.0.1, DNS:localhost
  std::filesystem::path client_cert, client_key;  // CN frodo-test-client, signed by the CA
};

// Writes a fresh CA (P-256, valid two days) and a server and a client certificate signed by
// it into `dir`, which must exist. Throws std::runtime_error with openssl's stderr on failure.
TestCerts make_test_certs(const std::filesystem::path& dir);

}  // namespace frodo::test
