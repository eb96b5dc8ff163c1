#include "process/local_etcd.hpp"

namespace frodo::process {

std::vector<std::string> etcd_command(const EtcdMemberConfig& m) {
  std::vector<std::string> argv{
      "etcd",
      "--name=" + m.name,
      "--data-dir=" + m.data_dir.string(),
      "--listen-client-urls=" + m.client_url,
      "--advertise-client-urls=" + m.client_url,
      "--listen-peer-urls=" + m.peer_url,
      "--initial-advertise-peer-urls=" + m.peer_url,
      "--initial-cluster=" + (m.initial_cluster.empty() ? m.name + "=" + m.peer_url : m.initial_cluster),
      std::string("--initial-cluster-state=") + (m.existing ? "existing" : "new"),
  };
  if (!m.token.empty()) argv.push_back("--initial-cluster-token=" + m.token);
  if (m.heartbeat_ms > 0) argv.push_back("--heartbeat-interval=" + std::to_string(m.heartbeat_ms));
  if (m.election_ms > 0) argv.push_back("--election-timeout=" + std::to_string(m.election_ms));
  argv.push_back("--logger=zap");
  argv.push_back("--log-outputs=stderr");
  if (!m.cert_file.empty()) {
    argv.push_back("--cert-file=" + m.cert_file);
    argv.push_back("--key-file=" + m.key_file);
  }
  if (!m.trusted_ca_file.empty()) {
    argv.push_back("--client-cert-auth");
    argv.push_back("--trusted-ca-file=" + m.trusted_ca_file);
  }
  argv.insert(argv.end(), m.extra_flags.begin(), m.extra_flags.end());
  return argv;
}

LocalEtcd::LocalEtcd(const std::string& name, const std::filesystem::path& data_dir,
                     const std::filesystem::path& log_path) {
  EtcdMemberConfig config;
  config.name = name;
  config.data_dir = data_dir;
  config.client_url = "http://127.0.0.1:" + std::to_string(client_port_.port());
  config.peer_url = "http://127.0.0.1:" + std::to_string(peer_port_.port());
  process_ = ChildProcess(etcd_command(config), log_path.string());
}

std::string LocalEtcd::endpoint() const { return "127.0.0.1:" + std::to_string(client_port_.port()); }

}  // namespace frodo::process
