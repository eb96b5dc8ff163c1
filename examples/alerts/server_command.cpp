#include "server_command.hpp"

#include <CLI/CLI.hpp>
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <string>

#include "alert_server.hpp"
#include "cluster_flags.hpp"
#include "process/termination_signals.hpp"
#include "store.hpp"

namespace alerts {
namespace {

struct ServerFlags {
  ClusterFlags cluster;
  AlertServerOptions server;
  bool no_guard = false;
  bool no_fencing = false;
  bool join_on_signal = false;
  long long work_us = 2000;
  long long slow_us = 1'500'000;
  long long catch_up_ms = 500;
  int connect_timeout_s = 0;
};

void add_flags(CLI::App& app, ServerFlags& f) {
  f.cluster.add_to(app, /*with_ttl=*/true);
  app.add_option("--listen", f.server.listen_host, "address to listen on")->capture_default_str();
  app.add_option("--port", f.server.port, "port to listen on (0: any free port)")->check(CLI::Range(0, 65535));
  app.add_option("--advertise", f.server.advertise, "address to register (default: LISTEN:PORT)");
  app.add_option("--store", f.server.store_path, "the SQLite store shared by the servers")->required();
  app.add_flag("--no-guard", f.no_guard, "process whatever this server's view says it owns, without frodo::Guard");
  app.add_flag("--no-fencing", f.no_fencing,
               "the store accepts any token (every server of a store should agree): the guard alone keeps order");
  app.add_flag("--join-on-signal", f.join_on_signal,
               "open the view and serve 503 \"not joined\" until SIGRTMIN, then join the cluster");
  app.add_option("--work-us", f.work_us, "simulated processing time per event, microseconds")
      ->check(CLI::Range(0LL, 10'000'000LL))
      ->capture_default_str();
  app.add_option("--slow-us", f.slow_us, "processing time per event after SIGUSR1, microseconds")
      ->check(CLI::Range(0LL, 60'000'000LL))
      ->capture_default_str();
  app.add_option("--catch-up-ms", f.catch_up_ms,
                 "how long the guard waits to see a client's newer view before answering wait (GuardOptions::catch_up)")
      ->check(CLI::Range(1LL, 60'000LL))
      ->capture_default_str();
  app.add_option("--connect-timeout", f.connect_timeout_s,
                 "seconds to keep trying while etcd does not answer at start (ClusterOptions::connect_timeout; 0: once)")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  app.add_option("--threads", f.server.threads, "HTTP worker threads (one per open client connection)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
}

// Serves until a termination signal; what the header describes.
void serve(ServerFlags& f, frodo::process::BlockedSignals& signals, const std::string& program) {
  AlertServerOptions o = std::move(f.server);
  o.cluster = f.cluster.options();
  o.cluster.connect_timeout = std::chrono::seconds(f.connect_timeout_s);
  o.guard = !f.no_guard;
  o.fencing = !f.no_fencing;
  o.join = !f.join_on_signal;
  o.guard_options.catch_up = std::chrono::milliseconds(f.catch_up_ms);
  o.work = std::chrono::microseconds(f.work_us);
  AlertServer server(std::move(o));
  const std::string name = program + " " + server.address();
  // When this server's own Cluster gives its lease up (by its own clock, at its lease
  // deadline, when etcd is out of reach): `frodo demo` counts what it admitted after this.
  frodo::Subscription lease_lost = server.cluster().on_lease_lost([name](frodo::LeaseLossReason reason) {
    std::cout << name << ": lease lost (" << frodo::to_string(reason) << ") at_us " << monotonic_us() << std::endl;
  });
  server.start();
  std::cout << name << (f.join_on_signal ? " waiting to join" : " ready") << " (guard " << (f.no_guard ? "off" : "on")
            << ", fencing " << (f.no_fencing ? "off" : "on") << ", context " << f.cluster.context << ")" << std::endl;
  while (true) {
    const int signal = signals.wait();
    if (signal == SIGUSR1) {
      server.set_work(std::chrono::microseconds(f.slow_us));
      std::cout << name << ": slow (" << f.slow_us << " us per event)" << std::endl;
    } else if (signal == SIGUSR2) {
      server.set_work(std::chrono::microseconds(f.work_us));
      std::cout << name << ": normal speed" << std::endl;
    } else if (signal == SIGRTMIN) {
      server.join();
      std::cout << name << " joined" << std::endl;
    } else {
      std::cerr << name << ": signal " << signal << ", leaving" << std::endl;
      break;
    }
  }
  server.leave();
  std::cout << to_json(server.stats()) << std::endl;
}

}  // namespace

int run_server_command(int argc, const char* const* argv) {
  const std::string program =
      argc > 0 && argv[0] && *argv[0] ? std::filesystem::path(argv[0]).filename().string() : "alerts-server";
  // Before any thread starts, so that every thread inherits the mask.
  frodo::process::BlockedSignals signals({SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGRTMIN});
  CLI::App app{program + ": an alert-ingestion server of the frodo alerts example", program};
  ServerFlags flags;
  add_flags(app, flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? exit_ok : exit_usage;
  }
  try {
    serve(flags, signals, program);
  } catch (const frodo::Error& e) {
    std::cerr << program << ": " << e.what() << '\n';
    return e.code() == frodo::Errc::invalid_argument ? exit_usage : exit_failure;
  } catch (const std::exception& e) {
    std::cerr << program << ": " << e.what() << '\n';
    return exit_failure;
  }
  return exit_ok;
}

}  // namespace alerts
