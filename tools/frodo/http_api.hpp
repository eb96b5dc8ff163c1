// The HTTP API of `frodo serve` over one Cluster (docs/http-api.md): owner lookups one at a
// time and in batches, the view, a Server-Sent Events stream of view changes, registration
// on the Cluster's lease, health, and a status page for a browser at GET / (status_page.hpp).
// Every other answer is JSON; every error is {"error": {"code": ..., "message": ...}} with a
// 4xx or 5xx status, never a crash.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "frodo/cluster.hpp"

namespace frodo::cli {

struct HttpApiOptions {
  std::string context;                          // named in every view
  std::size_t max_body_bytes = 32 << 20;        // a request body; larger: 413
  std::size_t max_batch_ids = 1'000'000;        // ids in one POST /v1/owners; more: 413
  std::size_t max_id_bytes = 64 << 10;          // one id; longer: 400
  std::size_t max_streams = 64;                 // open GET /v1/watch streams; more: 503
  std::size_t spare_threads = 32;               // workers for everything but the streams
  std::chrono::milliseconds heartbeat{15'000};  // a comment on an idle stream, to notice a gone client
};

// Thread-safety: the handlers run on the server's worker threads, any number at once.
// Lifetimes: `cluster` must outlive the HttpApi, and the HttpApi the server's handling of
// requests. Shut down in this order: shut_down() (ends the streams), server.stop(), then
// destroy the HttpApi, then close the Cluster.
class HttpApi {
 public:
  HttpApi(Cluster& cluster, HttpApiOptions options);
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Adds the routes to `server` and sets its limits: payload size, timeouts, keep-alive and
  // a pool of max_streams + spare_threads workers.
  void install(httplib::Server& server);

  // Registers `address` on the Cluster's lease as PUT /v1/servers/ADDRESS does (so /readyz
  // then also needs the lease alive). Throws frodo::Error as Cluster::add_server does.
  std::int64_t register_server(const std::string& address, const AddOptions& options);

  // Ends every open watch stream and refuses new ones. Safe to call more than once.
  void shut_down();

  struct Shared;  // internal

 private:
  void get_owner(const httplib::Request& req, httplib::Response& res);
  void post_owners(const httplib::Request& req, httplib::Response& res);
  void get_servers(const httplib::Request& req, httplib::Response& res);
  void get_watch(const httplib::Request& req, httplib::Response& res);
  void put_server(const httplib::Request& req, httplib::Response& res);
  void delete_server(const httplib::Request& req, httplib::Response& res);
  void get_ready(const httplib::Request& req, httplib::Response& res);

  Cluster& cluster_;
  const HttpApiOptions options_;
  std::shared_ptr<Shared> shared_;  // shared with the Cluster's change callback
  Subscription subscription_;       // that callback, unregistered by the destructor
};

}  // namespace frodo::cli
