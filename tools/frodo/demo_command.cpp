// `frodo demo` and the internal `frodo demo-server`: their command lines. The demo itself is
// demo.cpp; the server is the alerts example's own program (examples/alerts/server_command.hpp).
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "demo.hpp"
#include "demo_report.hpp"
#include "process/termination_signals.hpp"
#include "server_command.hpp"
#include "usage_error.hpp"

namespace frodo::cli {

void add_demo_commands(CLI::App& app, int& status) {
  auto o = std::make_shared<demo::DemoOptions>();
  CLI::App* demo = app.add_subcommand(
      "demo",
      "The seed's scenario on this machine: a local etcd, alert servers as separate processes and an event "
      "client over many hosts. While events flow, a server is frozen for half its lease while a new one joins, "
      "one is cut off from etcd past its lease while clients still reach it, one leaves with slow work in flight, "
      "one is killed and one is frozen past its lease, then thawed; then a checker verifies that every host's events were applied in order, by one server at a time, none lost.");
  demo->group("Demo");
  demo->add_option("--etcd", o->etcd, "Use this etcd (HOST:PORT,...) instead of starting a local one")
      ->type_name("HOST:PORT,...");
  demo->add_option("--servers", o->servers, "Alert servers at the start")->check(CLI::Range(1, 32))->capture_default_str();
  demo->add_option("--hosts", o->hosts, "Monitored hosts the events are about")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  demo->add_option("--events", o->events, "Stop after this many acknowledged events (0: run for --duration)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 40))
      ->capture_default_str();
  demo->add_option("--duration", o->duration_s,
                   "Seconds of event flow (the churn is spread over it; with the churn at least 18 s at the "
                   "default TTL, more for a longer one)")
      ->check(CLI::Range(2, 3600))
      ->capture_default_str();
  demo->add_flag("--no-churn", [o](std::int64_t) { o->churn = false; }, "No join, partition, leave, kill or freeze");
  demo->add_flag("--no-guard", [o](std::int64_t) { o->guard = false; },
                 "Servers process what plain server_by_id says they own, without frodo::Guard");
  demo->add_flag("--no-fencing", [o](std::int64_t) { o->fencing = false; },
                 "The store accepts any token, so the guard alone must keep each host with one server at a "
                 "time: the freeze during a join, the partition and the slow leave must still give 0 violations; "
                 "the freeze past the TTL is outside that guarantee, and the report counts its late writes apart");
  demo->add_option("--ttl", o->ttl_s, "Lease TTL of the alert servers, seconds")->check(CLI::Range(1, 60))->capture_default_str();
  demo->add_option("--work-us", o->work_us, "Simulated processing time per event, microseconds")
      ->check(CLI::Range(0LL, 1'000'000LL))
      ->capture_default_str();
  demo->add_option("--workers", o->workers, "Concurrent client workers (one event in flight each)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  demo->add_flag("--json", o->json, "Print the final report as JSON (live lines go to stderr)");
  demo->add_flag("--keep", o->keep, "Keep the temp dir (logs, SQLite store) and print its path");
  demo->callback([o, &status] {
    if (o->hosts < o->workers) o->workers = o->hosts;
    if (o->churn) {
      demo::ChurnTiming timing = demo::churn_timing(o->ttl_s);
      if (!demo::plan_churn(o->duration_s, timing)) {
        throw UsageError("--duration " + std::to_string(o->duration_s) + " is too short for the churn with a lease TTL of " +
                         std::to_string(o->ttl_s) + " s: it needs at least " +
                         std::to_string(demo::shortest_churn_duration(timing)) + " s (or --no-churn)");
      }
    }
    process::TerminationSignals signals;  // before any thread starts
    status = demo::run_demo(*o, signals);
  });

  // The example's own server (examples/alerts/server_command.hpp), which the demo starts as
  // `frodo demo-server FLAGS...`: every argument after the command name is its flag.
  CLI::App* server = app.add_subcommand("demo-server", "One alert server of `frodo demo` (started by it)");
  server->group("");  // internal: not listed in --help
  server->set_help_flag();  // --help is the server's own
  server->prefix_command();
  server->callback([server, &status] {
    std::vector<std::string> argv_text{"demo-server"};
    for (const std::string& a : server->remaining()) argv_text.push_back(a);
    std::vector<const char*> argv;
    for (const std::string& a : argv_text) argv.push_back(a.c_str());
    status = alerts::run_server_command(static_cast<int>(argv.size()), argv.data());
  });
}

}  // namespace frodo::cli
