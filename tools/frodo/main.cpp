// The `frodo` command. Exit status: 0 ok, 1 runtime failure, 2 usage or input error.
// Error messages name bad values (a file's line, an etcd key), escaped where they were
// written; terminal_line() here is the safety net for any that was not.
#include <CLI/CLI.hpp>

#include <iostream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "log.hpp"
#include "frodo/error.hpp"
#include "terminal_text.hpp"
#include "usage_error.hpp"

namespace {

// The commands a user may run (the hidden internal ones left out), one per line.
std::string command_list(CLI::App& app) {
  std::string out = "Commands:\n";
  for (const CLI::App* command : app.get_subcommands([](CLI::App* c) { return !c->get_group().empty(); })) {
    std::string name = command->get_name();
    std::string about = command->get_description();
    about = about.substr(0, about.find(". "));  // the first sentence
    if (about.size() > 90) about = about.substr(0, 87) + "...";
    out += "  " + name + std::string(name.size() < 10 ? 10 - name.size() : 1, ' ') + about + "\n";
  }
  return out + "Run `frodo COMMAND --help` for a command's options, `frodo --help` for the global ones.\n";
}

// The subcommand named `name`, or null.
CLI::App* find_command(CLI::App& app, const std::string& name) {
  for (CLI::App* command : app.get_subcommands([](CLI::App*) { return true; })) {
    if (command->get_name() == name) return command;
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace frodo::cli;
  CLI::App app{"frodo: entity affinity for distributed backends (the C++ successor of frodo.io)", "frodo"};
  app.set_version_flag("--version", "frodo 0.1.0");
  app.require_subcommand(1);
  int status = exit_ok;
  add_ring_commands(app, status);
  auto global = add_global_options(app);
  // The logging flags take effect before any command runs (parse_complete_callback runs after
  // the arguments are parsed, before the subcommand's callback).
  app.parse_complete_callback([global] {
    if (global->verbose && global->quiet) throw UsageError("-v and -q exclude each other");
    set_log_options(global->quiet ? -1 : global->verbose ? 1 : 0,
                    global->log_format == "json" ? LogFormat::json : LogFormat::text);
  });
  add_cluster_commands(app, global, status);
  add_serve_command(app, global, status);
  add_demo_commands(app, status);
  // `frodo help [COMMAND]`: the same as --help.
  if (argc >= 2 && std::string(argv[1]) == "help") {
    if (argc == 2) {
      std::cout << app.help() << '\n' << command_list(app);
      return exit_ok;
    }
    CLI::App* command = find_command(app, argv[2]);
    if (argc > 3 || !command) {
      std::cerr << "frodo: help: unknown command '" << terminal_line(argv[2]) << "'\n" << command_list(app);
      return exit_usage;
    }
    std::cout << command->help();
    return exit_ok;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // No command recognised: name what was typed instead, with the list of commands.
    bool any_command = false;
    for (const CLI::App* command : app.get_subcommands([](CLI::App* c) { return c->parsed(); })) {
      any_command = command != nullptr;
    }
    std::vector<std::string> extras = app.remaining();
    if (!any_command && !extras.empty() && !extras.front().empty() && extras.front().front() != '-') {
      std::cerr << "frodo: unknown command '" << terminal_line(extras.front()) << "'\n" << command_list(app);
    } else if (!any_command && dynamic_cast<const CLI::RequiredError*>(&e)) {
      std::cerr << "frodo: no command given\n" << command_list(app);
    } else {
      log_error(e.what());
      if (!log_is_json()) std::cerr << "Run `frodo --help` or `frodo COMMAND --help`.\n";
    }
    return exit_usage;
  } catch (const UsageError& e) {
    log_error(e.what());
    return exit_usage;
  } catch (const frodo::Error& e) {
    log_error(e.what());
    return e.code() == frodo::Errc::invalid_argument ? exit_usage : exit_failure;
  } catch (const std::exception& e) {
    log_error(e.what());
    return exit_failure;
  }
  return status;
}
