#include "metrics_server.hpp"

#include "frodo/metrics.hpp"
#include "listen_address.hpp"
#include "live_options.hpp"
#include "log.hpp"

namespace frodo::cli {

MetricsServer::MetricsServer(const Cluster& cluster, const std::string& listen) {
  ListenAddress address = parse_listen("--metrics", listen);
  server_.new_task_queue = [] { return new httplib::ThreadPool(2); };  // scrapes are rare
  server_.set_read_timeout(5, 0);
  server_.set_write_timeout(5, 0);
  server_.set_payload_max_length(1024);  // GETs only
  server_.Get("/metrics", [&cluster](const httplib::Request&, httplib::Response& res) {
    try {
      res.set_content(prometheus_text(cluster), prometheus_content_type);
    } catch (const std::exception& e) {
      res.status = 500;
      res.set_content(std::string("metrics: ") + e.what() + "\n", "text/plain");
    }
  });
  server_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  int port = bind_listen(server_, address, listen);
  url_ = "http://" + url_host(address.host) + ":" + std::to_string(port) + "/metrics";
  thread_ = std::thread([this] {
    try {
      if (!server_.listen_after_bind()) warn("the metrics server stopped accepting connections");
    } catch (const std::exception& e) {
      warn(std::string("the metrics server stopped: ") + e.what());
    } catch (...) {
      warn("the metrics server stopped");
    }
    done_ = true;
  });
}

MetricsServer::~MetricsServer() {
  // httplib's stop() does nothing before its accept loop runs: wait for the loop (or its end).
  while (!done_ && !server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server_.stop();
  thread_.join();
}

}  // namespace frodo::cli
