// Command groups of the `frodo` CLI. Each adds its subcommands to the app; the callback
// it installs runs the command and stores its exit status in `status`.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>

#include "live_options.hpp"

namespace frodo::cli {

void add_ring_commands(CLI::App& app, int& status);
// The live commands (servers, lookup, register, add, remove, watch, status); `g` holds the
// global options they share (add_global_options).
void add_cluster_commands(CLI::App& app, std::shared_ptr<GlobalOptions> g, int& status);
// `serve`: the HTTP sidecar (docs/http-api.md).
void add_serve_command(CLI::App& app, std::shared_ptr<GlobalOptions> g, int& status);
// `demo` (the seed's scenario end to end) and the internal `demo-server` it starts.
void add_demo_commands(CLI::App& app, int& status);

}  // namespace frodo::cli
