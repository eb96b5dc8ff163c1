// The `frodo` command. Exit status: 0 ok, 1 runtime failure, 2 usage or input error.
// Error messages name bad values (a file's line, an etcd key), escaped where they were
// written; terminal_line() here is the safety net for any that was not.
#include <CLI/CLI.hpp>

#include <iostream>

#include "commands.hpp"
#include "frodo/error.hpp"
#include "terminal_text.hpp"
#include "usage_error.hpp"

int main(int argc, char** argv) {
  using namespace frodo::cli;
  CLI::App app{"frodo: entity affinity for distributed backends (the C++ successor of frodo.io)", "frodo"};
  app.set_version_flag("--version", "frodo 0.1.0");
  app.require_subcommand(1);
  int status = exit_ok;
  add_ring_commands(app, status);
  add_cluster_commands(app, status);
  add_demo_commands(app, status);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return exit_usage;
  } catch (const UsageError& e) {
    std::cerr << "frodo: " << terminal_line(e.what()) << '\n';
    return exit_usage;
  } catch (const frodo::Error& e) {
    std::cerr << "frodo: " << terminal_line(e.what()) << '\n';
    return e.code() == frodo::Errc::invalid_argument ? exit_usage : exit_failure;
  } catch (const std::exception& e) {
    std::cerr << "frodo: " << terminal_line(e.what()) << '\n';
    return exit_failure;
  }
  return status;
}
