// Local etcd members on loopback: the one set of etcd flags the demo, the tests' EtcdCluster
// and scripts/etcd-dev use (the script spells the same flags in shell; keep them in step).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "process/child_process.hpp"
#include "process/free_port.hpp"

namespace frodo::process {

// One member's configuration.
struct EtcdMemberConfig {
  std::string name = "default";
  std::filesystem::path data_dir;
  std::string client_url;       // listened on and advertised: "http://127.0.0.1:PORT" (https with TLS)
  std::string peer_url;         // listened on and advertised: "http://127.0.0.1:PORT"
  std::string initial_cluster;  // "name=peer_url,..."; empty: this member alone
  bool existing = false;        // --initial-cluster-state=existing (a restart) instead of new
  std::string token;            // --initial-cluster-token; empty: etcd's default
  int heartbeat_ms = 0;         // 0: etcd's default
  int election_ms = 0;          // 0: etcd's default (at least 5 * heartbeat_ms)
  std::string cert_file;        // serve clients over TLS with this certificate and key
  std::string key_file;
  std::string trusted_ca_file;  // non-empty: require client certificates signed by it
  std::vector<std::string> extra_flags;  // appended as given
};

// The command line ("etcd", "--flag=value", ...) for `member`, logging with zap to stderr.
std::vector<std::string> etcd_command(const EtcdMemberConfig& member);

// A single-member etcd on 127.0.0.1 for the demo: both ports reserved (PortReservation) for
// its whole life, so nothing takes them between the choice and etcd's bind. Starts it and
// returns at once; whoever connects waits for it to answer. Ownership: the object owns the
// process (a ChildProcess: SIGKILLed and reaped on destruction, dies with the thread that
// made it), not the directory. Not thread-safe.
class LocalEtcd {
 public:
  // Throws std::runtime_error when etcd is not installed or cannot be started.
  LocalEtcd(const std::string& name, const std::filesystem::path& data_dir, const std::filesystem::path& log_path);
  LocalEtcd(const LocalEtcd&) = delete;
  LocalEtcd& operator=(const LocalEtcd&) = delete;

  std::string endpoint() const;  // "127.0.0.1:PORT"
  int client_port() const { return client_port_.port(); }
  ChildProcess& process() { return process_; }

 private:
  PortReservation client_port_;
  PortReservation peer_port_;
  ChildProcess process_;
};

}  // namespace frodo::process
