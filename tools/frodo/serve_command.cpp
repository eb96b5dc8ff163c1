// `frodo serve`: the HTTP sidecar (docs/http-api.md). One Cluster, the HttpApi over it, an
// httplib server on a TCP address or a Unix socket, until SIGINT/SIGTERM/SIGHUP.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <exception>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "frodo/address.hpp"
#include "frodo/error.hpp"
#include "http_api.hpp"
#include "listen_address.hpp"
#include "live_options.hpp"
#include "log.hpp"
#include "service_notify.hpp"
#include "terminal_text.hpp"
#include "process/termination_signals.hpp"
#include "unix_socket_server.hpp"
#include "usage_error.hpp"

namespace frodo::cli {
namespace {

struct ServeOptions {
  std::string listen = "127.0.0.1:8700";
  std::string unix_path;
  std::vector<std::string> register_addresses;
  int ttl = 5;
  std::size_t max_streams = 64;
  bool publish_view = false;
};

int run_serve(const GlobalOptions& g, const ServeOptions& o, bool listen_given) {
  if (listen_given && !o.unix_path.empty()) throw UsageError("--listen and --unix exclude each other: pick one");
  ListenAddress tcp;
  if (o.unix_path.empty()) tcp = parse_listen("--listen", o.listen);
  for (const std::string& address : o.register_addresses) {
    if (auto problem = address_problem(address)) {
      throw UsageError("bad --register '" + terminal_text(excerpt(address)) + "': " + *problem);
    }
  }

  process::TerminationSignals signals;  // before any thread starts
  auto cluster = connect(g, std::chrono::seconds(o.ttl), o.publish_view);
  HttpApiOptions api_options;
  api_options.context = g.context;
  api_options.max_streams = o.max_streams;
  HttpApi api(*cluster, api_options);
  Subscription log_changes = cluster->on_change([](const Snapshot& before, const Snapshot& after) {
    log_info("view of revision " + std::to_string(after.revision) + ": " + std::to_string(after.servers.size()) +
             " servers (was " + std::to_string(before.servers.size()) + "), checksum " + after.ring.checksum_hex());
  });
  for (const std::string& address : o.register_addresses) {
    api.register_server(address, {});  // waits up to --timeout for a lost lease's re-grant
  }

  UnixSocketServer server;
  api.install(server);
  std::string where;
  if (!o.unix_path.empty()) {
    server.bind_unix(o.unix_path);
    where = "unix:" + o.unix_path;
  } else {
    int port = bind_listen(server, tcp, o.listen);
    where = "http://" + url_host(tcp.host) + ":" + std::to_string(port);
  }

  std::atomic<bool> failed{false}, listener_done{false};
  std::string failure;
  std::thread listener([&] {
    try {
      if (!server.listen_after_bind()) throw std::runtime_error("the HTTP server stopped accepting connections");
    } catch (const std::exception& e) {
      failure = e.what();
      failed = true;
    } catch (...) {
      failure = "unknown exception in the HTTP server";
      failed = true;
    }
    listener_done = true;
  });
  const std::string listening = "listening on " + where + "  (context " + g.context + ", revision " +
                                std::to_string(cluster->snapshot()->revision) + ")";
  write_out(listening + "\n");
  notify_ready(listening);
  while (!failed && signals.wait_for(std::chrono::milliseconds(250)) == 0) {
  }
  notify_stopping();
  api.shut_down();  // ends the watch streams, which hold worker threads
  // httplib's stop() does nothing before its accept loop runs: a signal that came at once
  // must wait for the loop to start (or to have failed), or join() below would never return.
  while (!listener_done && !server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server.stop();
  listener.join();
  if (!o.unix_path.empty()) ::unlink(o.unix_path.c_str());
  cluster->close();  // revokes the lease: servers registered here leave at once
  if (failed) throw std::runtime_error(failure);
  return exit_ok;
}

}  // namespace

void add_serve_command(CLI::App& app, std::shared_ptr<GlobalOptions> g, int& status) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* serve = app.add_subcommand("serve", "Answer owner lookups and show the view over HTTP (a sidecar)");
  serve->fallthrough();
  serve->footer(
      "\nEndpoints (JSON; docs/http-api.md): GET /v1/owner?id=ID[&n=N], POST /v1/owners {\"ids\":[...]},\n"
      "GET /v1/servers, GET /v1/watch (Server-Sent Events), PUT and DELETE /v1/servers/ADDRESS (on this\n"
      "process's lease), GET /healthz, GET /readyz; GET / is a live status page for a browser.\n"
      "Prints 'listening on URL' once it accepts connections.\n"
      "SIGINT or SIGTERM stops it and revokes its lease.\n" +
      std::string(global_footer));
  CLI::Option* listen =
      serve->add_option("--listen", o->listen, "TCP address to listen on, HOST:PORT ([::1]:PORT; port 0: any free port)")
          ->type_name("HOST:PORT")
          ->default_str(o->listen);
  serve->add_option("--unix", o->unix_path, "Listen on a Unix domain socket at PATH instead of TCP")
      ->type_name("PATH");
  serve->add_option("--register", o->register_addresses,
                    "Register ADDRESS on this process's lease while it runs (repeatable)")
      ->type_name("ADDRESS");
  serve->add_option("--ttl", o->ttl, "Lease TTL: servers registered here leave within this long if it dies (5s, 2m; bare: s)")
      ->type_name("DURATION")
      ->default_str("5s")
      ->transform(duration_in(std::chrono::seconds(1)))
      ->check(CLI::Range(1, std::numeric_limits<int>::max()));
  serve->add_flag("--publish-view", o->publish_view,
                  "Publish this process's view (its ring checksum) in the records it registers (view agreement)");
  serve->add_option("--max-streams", o->max_streams, "Open GET /v1/watch streams at most; more get 503")
      ->type_name("N")
      ->default_str("64")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}));
  serve->callback([g, o, listen, &status] { status = run_serve(*g, *o, listen->count() > 0); });
}

}  // namespace frodo::cli
