#include "process/grpc_proxy.hpp"

#include <chrono>

namespace frodo::process {

std::vector<std::string> grpc_proxy_command(const GrpcProxyConfig& config) {
  std::string endpoints;
  for (const std::string& e : config.endpoints) endpoints += (endpoints.empty() ? "" : ",") + e;
  std::string listen = "127.0.0.1:" + std::to_string(config.listen_port);
  std::vector<std::string> argv{
      "etcd",
      "grpc-proxy",
      "start",
      "--endpoints=" + endpoints,
      "--listen-addr=" + listen,
      "--advertise-client-url=" + listen,
      "--data-dir=" + config.data_dir.string(),
  };
  argv.insert(argv.end(), config.extra_flags.begin(), config.extra_flags.end());
  return argv;
}

GrpcProxy::GrpcProxy(std::vector<std::string> endpoints, const std::filesystem::path& data_dir,
                     const std::filesystem::path& log_path, std::vector<std::string> extra_flags)
    : log_path_(log_path) {
  config_.endpoints = std::move(endpoints);
  config_.listen_port = port_.port();
  config_.data_dir = data_dir;
  config_.extra_flags = std::move(extra_flags);
  restart();
}

std::string GrpcProxy::endpoint() const { return "127.0.0.1:" + std::to_string(port_.port()); }

void GrpcProxy::kill() { process_.stop(std::chrono::milliseconds(0)); }

void GrpcProxy::restart() {
  kill();
  process_ = ChildProcess(grpc_proxy_command(config_), log_path_.string());
}

}  // namespace frodo::process
