// The flags alerts-server and alerts-client share to reach the cluster: --etcd, --context,
// --ttl. Defaults come from FRODO_ETCD and FRODO_CONTEXT, as for the frodo command.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdlib>
#include <string>

#include "frodo/cluster.hpp"
#include "frodo/error.hpp"
#include "process/exit_codes.hpp"

namespace alerts {

// Exit statuses of the example programs, as for the frodo command.
using frodo::process::exit_failure;
using frodo::process::exit_ok;
using frodo::process::exit_usage;

struct ClusterFlags {
  std::string etcd = std::getenv("FRODO_ETCD") ? std::getenv("FRODO_ETCD") : "127.0.0.1:2379";
  std::string context = std::getenv("FRODO_CONTEXT") ? std::getenv("FRODO_CONTEXT") : "alerts";
  int ttl_s = 5;

  void add_to(CLI::App& app, bool with_ttl) {
    app.add_option("--etcd", etcd, "etcd endpoints, comma-separated (default: FRODO_ETCD or 127.0.0.1:2379)");
    app.add_option("--context", context, "application context (default: FRODO_CONTEXT or alerts)");
    if (with_ttl) {
      app.add_option("--ttl", ttl_s, "lease TTL in seconds")->check(CLI::Range(1, 3600))->capture_default_str();
    }
  }

  // Throws frodo::Error(invalid_argument) naming the flag and the bad value.
  frodo::ClusterOptions options() const {
    frodo::ClusterOptions o;
    try {
      frodo::validate_context(context);
      o.context = context;
    } catch (const frodo::Error& e) {
      throw frodo::Error(frodo::Errc::invalid_argument, std::string("--context: ") + e.what());
    }
    try {
      o.etcd.endpoints = frodo::parse_endpoints(etcd);
    } catch (const frodo::Error& e) {
      throw frodo::Error(frodo::Errc::invalid_argument, std::string("--etcd: ") + e.what());
    }
    o.lease_ttl = std::chrono::seconds(ttl_s);
    return o;
  }
};

}  // namespace alerts
