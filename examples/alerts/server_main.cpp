// alerts-server: one alert-ingestion server (see README.md). Serves until SIGINT or SIGTERM,
// then hands its hosts over and leaves. Exit status: 0 ok, 1 runtime failure, 2 usage error.
#include <CLI/CLI.hpp>

#include <iostream>

#include "alert_server.hpp"
#include "cluster_flags.hpp"
#include "process/termination_signals.hpp"

int main(int argc, char** argv) {
  using namespace alerts;
  frodo::process::TerminationSignals signals;  // before any thread starts

  CLI::App app{"alerts-server: an alert-ingestion server of the frodo alerts example", "alerts-server"};
  ClusterFlags cluster;
  cluster.add_to(app, /*with_ttl=*/true);
  AlertServerOptions o;
  bool no_guard = false;
  bool no_fencing = false;
  long long work_us = o.work.count();
  app.add_option("--listen", o.listen_host, "address to listen on")->capture_default_str();
  app.add_option("--port", o.port, "port to listen on (0: any free port)")->check(CLI::Range(0, 65535));
  app.add_option("--advertise", o.advertise, "address to register (default: LISTEN:PORT)");
  app.add_option("--store", o.store_path, "the SQLite store shared by the servers")->required();
  app.add_flag("--no-guard", no_guard, "process whatever this server's view says it owns, without frodo::Guard");
  app.add_flag("--no-fencing", no_fencing,
               "the store accepts any token (every server of a store should agree): the guard alone keeps order");
  app.add_option("--work-us", work_us, "simulated processing time per event, microseconds")
      ->check(CLI::Range(0LL, 10'000'000LL))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "HTTP worker threads (one per open client connection)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? exit_ok : exit_usage;
  }

  try {
    o.cluster = cluster.options();
    o.guard = !no_guard;
    o.fencing = !no_fencing;
    o.work = std::chrono::microseconds(work_us);
    AlertServer server(std::move(o));
    server.start();
    std::cout << "alerts-server " << server.address() << " ready (guard " << (no_guard ? "off" : "on")
              << ", fencing " << (no_fencing ? "off" : "on") << ", context " << cluster.context << ")" << std::endl;
    int signal = signals.wait();
    std::cerr << "alerts-server " << server.address() << ": signal " << signal << ", leaving" << std::endl;
    server.leave();
    std::cout << to_json(server.stats()) << std::endl;
  } catch (const frodo::Error& e) {
    std::cerr << "alerts-server: " << e.what() << '\n';
    return e.code() == frodo::Errc::invalid_argument ? exit_usage : exit_failure;
  } catch (const std::exception& e) {
    std::cerr << "alerts-server: " << e.what() << '\n';
    return exit_failure;
  }
  return exit_ok;
}
