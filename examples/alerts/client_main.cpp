// alerts-client: sends host events to the alert servers (see README.md) until --events are
// acknowledged or SIGINT/SIGTERM, then writes what was acknowledged (--acked) for
// alerts-check. Exit status: 0 ok, 1 runtime failure, 2 usage error.
#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <thread>

#include "cluster_flags.hpp"
#include "event_client.hpp"
#include "process/termination_signals.hpp"

namespace {

void print(const char* label, const alerts::EventClientCounters& c) {
  std::fprintf(stderr, "%s sent %llu  acknowledged %llu  redirects %llu  waits %llu  retries %llu  given up %llu\n",
               label, static_cast<unsigned long long>(c.sent), static_cast<unsigned long long>(c.acknowledged),
               static_cast<unsigned long long>(c.redirects), static_cast<unsigned long long>(c.waits),
               static_cast<unsigned long long>(c.retries), static_cast<unsigned long long>(c.given_up));
}

}  // namespace

int main(int argc, char** argv) {
  using namespace alerts;
  frodo::process::TerminationSignals signals;  // before any thread starts

  CLI::App app{"alerts-client: sends host events to the alert servers of the frodo alerts example",
               "alerts-client"};
  ClusterFlags cluster;
  cluster.add_to(app, /*with_ttl=*/false);
  EventClientOptions o;
  long long timeout_ms = o.timeout.count();
  std::string acked_path;
  bool quiet = false;
  app.add_option("--hosts", o.hosts, "number of hosts (host-1..host-N)")->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
  app.add_option("--events", o.events, "events to send in total (0: until SIGINT/SIGTERM)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--workers", o.workers, "concurrent senders")->check(CLI::Range(1, 4096))->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "HTTP connect and read timeout")
      ->check(CLI::Range(1LL, 600'000LL))
      ->capture_default_str();
  app.add_option("--acked", acked_path, "write the acknowledged events here (JSON lines) for alerts-check");
  app.add_flag("--quiet", quiet, "no progress line every second");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? exit_ok : exit_usage;
  }

  try {
    o.cluster = cluster.options();
    o.timeout = std::chrono::milliseconds(timeout_ms);
    EventClient client(std::move(o));
    std::atomic<bool> done{false};
    std::thread watcher([&] {
      // A thread catches everything at its entry: a failure here stops the client, not the process.
      try {
        while (!done) {
          if (signals.wait_for(std::chrono::seconds(1))) {
            client.stop();
            std::fputs("alerts-client: stopping after the events in flight\n", stderr);
          } else if (!quiet && !done) {
            print("alerts-client:", client.counters());
          }
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "alerts-client: the signal watcher stopped: %s\n", e.what());
        client.stop();
      } catch (...) {
        std::fputs("alerts-client: the signal watcher stopped\n", stderr);
        client.stop();
      }
    });
    try {
      client.run();
    } catch (...) {
      done = true;
      watcher.join();
      throw;
    }
    done = true;
    watcher.join();
    print("alerts-client: done,", client.counters());
    if (!acked_path.empty()) write_acked(acked_path, client.acknowledged());
  } catch (const frodo::Error& e) {
    std::cerr << "alerts-client: " << e.what() << '\n';
    return e.code() == frodo::Errc::invalid_argument ? exit_usage : exit_failure;
  } catch (const std::exception& e) {
    std::cerr << "alerts-client: " << e.what() << '\n';
    return exit_failure;
  }
  return exit_ok;
}
