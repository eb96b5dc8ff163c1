#include "test_certs.hpp"

#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "subprocess.hpp"

namespace frodo::test {
namespace {

// Our own config, so neither the system's openssl.cnf nor OPENSSL_CONF changes what the
// certificates contain. Go's verifier insists on CA:TRUE and on matching key usages.
constexpr const char* kConfig = R"([req]
distinguished_name = dn
prompt = no
[dn]
CN = frodo-test
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
# clientAuth too: etcd's gRPC gateway dials its own listener presenting this certificate.
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
)";

void openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult r = run_process(argv, std::chrono::seconds(30));
  if (r.exit_code != 0) {
    std::string command;
    for (const std::string& a : argv) command += (command.empty() ? "" : " ") + a;
    throw std::runtime_error("'" + command + "' failed: " + r.err);
  }
}

// A key pair and a certificate for `cn` signed by the CA, with extensions from `section`.
void issue(const std::filesystem::path& dir, const std::string& name, const std::string& cn, const std::string& section,
           int serial) {
  std::string cnf = (dir / "openssl.cnf").string();
  std::string csr = (dir / (name + ".csr")).string();
  openssl({"req", "-new", "-config", cnf, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
           (dir / (name + ".key")).string(), "-subj", "/CN=" + cn, "-out", csr});
  openssl({"x509", "-req", "-in", csr, "-CA", (dir / "ca.crt").string(), "-CAkey", (dir / "ca.key").string(),
           "-set_serial", std::to_string(serial), "-days", "2", "-extfile", cnf, "-extensions", section, "-out",
           (dir / (name + ".crt")).string()});
}

}  // namespace

TestCerts make_test_certs(const std::filesystem::path& dir) {
  std::ofstream(dir / "openssl.cnf") << kConfig;
  openssl({"req", "-x509", "-config", (dir / "openssl.cnf").string(), "-extensions", "ca_ext", "-newkey", "ec",
           "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", (dir / "ca.key").string(), "-subj",
           "/CN=frodo-test-ca", "-days", "2", "-out", (dir / "ca.crt").string()});
  issue(dir, "server", "localhost", "server_ext", 2);
  issue(dir, "client", "frodo-test-client", "client_ext", 3);
  return {dir / "ca.crt", dir / "server.crt", dir / "server.key", dir / "client.crt", dir / "client.key"};
}

}  // namespace frodo::test
