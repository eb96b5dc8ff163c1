// A small HTTP server for a CLI command that has no HTTP API of its own (`frodo register
// --metrics HOST:PORT`): GET /metrics (docs/metrics.md) and GET /healthz, on a thread of its
// own, until it is destroyed.
#pragma once

#include <httplib.h>

#include <atomic>
#include <string>
#include <thread>

#include "frodo/cluster.hpp"

namespace frodo::cli {

// Lifetimes: `cluster` must outlive the MetricsServer. Not copyable; destroy it from the
// thread that made it.
class MetricsServer {
 public:
  // Binds at once (throws UsageError for a bad address, std::runtime_error when it cannot
  // listen there) and starts answering.
  MetricsServer(const Cluster& cluster, const std::string& listen);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // http://HOST:PORT/metrics, with the port picked for port 0.
  const std::string& url() const { return url_; }

 private:
  httplib::Server server_;
  std::string url_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace frodo::cli
