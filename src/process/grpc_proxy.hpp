// etcd's gRPC proxy (`etcd grpc-proxy start`, in Debian's etcd binary) on loopback: the
// fan-out tier between many watching processes and etcd. It coalesces identical watches
// (etcd sees one watcher per proxy, not one per process), serves ranges and forwards lease
// keepalives. The tests, the scale bench and scripts/etcd-dev start it with these flags.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "process/child_process.hpp"
#include "process/free_port.hpp"

namespace frodo::process {

struct GrpcProxyConfig {
  std::vector<std::string> endpoints;  // etcd members, "127.0.0.1:PORT" (no scheme)
  int listen_port = 0;                 // the proxy's client port on 127.0.0.1
  std::filesystem::path data_dir;      // the proxy's own state (--data-dir)
  std::vector<std::string> extra_flags;  // appended as given
};

// The command line ("etcd", "grpc-proxy", "start", "--flag=value", ...) for `config`.
std::vector<std::string> grpc_proxy_command(const GrpcProxyConfig& config);

// One gRPC proxy on 127.0.0.1 in front of `endpoints`. Its port is reserved
// (PortReservation) for the object's whole life, so restart() comes back on the same port
// and clients need no new address. Starts the proxy and returns at once; whoever connects
// waits for it to answer. Ownership: the object owns the process (SIGKILLed and reaped on
// destruction, dies with the thread that made it), not the directory. Not thread-safe.
class GrpcProxy {
 public:
  // Throws std::runtime_error when etcd is not installed or cannot be started.
  GrpcProxy(std::vector<std::string> endpoints, const std::filesystem::path& data_dir,
            const std::filesystem::path& log_path, std::vector<std::string> extra_flags = {});
  GrpcProxy(const GrpcProxy&) = delete;
  GrpcProxy& operator=(const GrpcProxy&) = delete;

  std::string endpoint() const;  // "127.0.0.1:PORT"
  int port() const { return port_.port(); }
  ChildProcess& process() { return process_; }
  // SIGKILLs and reaps the proxy (its clients see their streams break).
  void kill();
  // Starts it again on the same port (killing it first if it still runs).
  void restart();

 private:
  GrpcProxyConfig config_;
  std::filesystem::path log_path_;
  PortReservation port_;
  ChildProcess process_;
};

}  // namespace frodo::process
