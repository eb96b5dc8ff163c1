// What every live command shares: the global options (--etcd, --context, ...), how they
// become a connected frodo::Cluster, and the JSON and text pieces of a view.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frodo/cluster.hpp"

namespace frodo::cli {

// Options of the app itself, shared by every live command (flags win over the environment).
struct GlobalOptions {
  std::string etcd = "127.0.0.1:2379";
  std::string context;
  std::string prefix = "/frodo";
  std::string algorithm = "ketama";
  int timeout_ms = 5000;
  std::string cacert, cert, key;
  std::string user, password;
  bool verbose = false, quiet = false;
  std::string log_format = "text";
};

// Adds the global options to `app` (flags win over the environment); the values are
// filled in when the app parses its arguments.
std::shared_ptr<GlobalOptions> add_global_options(CLI::App& app);

// A CLI11 transform for a duration option: accepts "500ms", "5s", "2m" or a bare number in
// the option's own `unit` (milliseconds or seconds), and hands the option the number in that
// unit. A duration that is not a whole number of units (1500ms for a seconds option) or does
// not fit an int is refused, naming it.
CLI::Validator duration_in(std::chrono::milliseconds unit);

// Why `text` is not a duration in `unit` as duration_in() reads it, or nullopt; `value` gets
// the count of units. (The transform's parser, exposed for the unit tests.)
std::optional<std::string> parse_duration(const std::string& text, std::chrono::milliseconds unit, int& value);

// The footer of every live command's --help: where the global options are described.
extern const char* const global_footer;

// A ClusterOptions from the global options, or a UsageError naming the bad flag.
ClusterOptions cluster_options(const GlobalOptions& g, std::chrono::seconds lease_ttl);

// Connects and waits for the first view. Throws frodo::Error when etcd cannot be reached.
// publish_view: ClusterOptions::publish_view (the servers registered carry this view).
std::unique_ptr<Cluster> connect(const GlobalOptions& g, std::chrono::seconds lease_ttl = std::chrono::seconds(5),
                                 bool publish_view = false);

// Writes `text` to stdout and flushes; throws std::runtime_error when it cannot.
void write_out(const std::string& text);

// "frodo: warning: MESSAGE" on stderr, made safe for the terminal.
void warn(const std::string& message);

// A lease id as etcdctl prints it, in hex: as a JSON number it would lose digits in
// JavaScript (and in any client that reads numbers as doubles).
std::string lease_hex(std::int64_t id);

// A server as JSON: address, weight, zone, meta.
nlohmann::json server_json(const ServerInfo& s);

// Each server's share of ids (0 to 1) in s.servers order. A server that is not in the ring
// (its meta has "frodo.leaving") owns no id: 0. The shares of a non-empty ring sum to 1.
std::vector<double> server_shares(const Snapshot& s);

// s.servers as a JSON array: server_json() of each, with its "share" (server_shares()).
nlohmann::json servers_json(const Snapshot& s);

// The header every JSON view shares (context, revision, algorithm, checksum); "servers" is
// an empty array for the caller to fill.
nlohmann::json view_json(const GlobalOptions& g, const Snapshot& s);

}  // namespace frodo::cli
