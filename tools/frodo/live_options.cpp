#include "live_options.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

#include "frodo/address.hpp"
#include "frodo/error.hpp"
#include "log.hpp"
#include "terminal_text.hpp"
#include "usage_error.hpp"

namespace frodo::cli {

void write_out(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    throw std::runtime_error("error writing to stdout");
  }
}

// Warnings name values from etcd (keys, records): made safe for the terminal here, in case
// one was not escaped where the warning was written.
void warn(const std::string& message) { log_warning(message); }

ClusterOptions cluster_options(const GlobalOptions& g, std::chrono::seconds lease_ttl) {
  ClusterOptions o;
  if (g.context.empty()) throw UsageError("no context given: pass --context NAME or set FRODO_CONTEXT");
  try {
    validate_context(g.context);
  } catch (const Error& e) {
    throw UsageError(std::string("--context: ") + e.what());
  }
  o.context = g.context;
  try {
    o.etcd.endpoints = parse_endpoints(g.etcd);
  } catch (const Error& e) {
    throw UsageError(std::string("--etcd: ") + e.what());
  }
  try {
    o.algorithm = parse_algorithm(g.algorithm);
  } catch (const Error& e) {
    throw UsageError(std::string("--algorithm: ") + e.what());
  }
  o.etcd.call_timeout = std::chrono::milliseconds(g.timeout_ms);
  o.connect_timeout = std::chrono::milliseconds(g.timeout_ms);  // and wait as long for etcd to come up
  if (!g.cacert.empty() || !g.cert.empty() || !g.key.empty()) {
    if (g.cacert.empty()) throw UsageError("--cert and --key need --cacert (the CA that signed the etcd members)");
    if (g.cert.empty() != g.key.empty()) throw UsageError("a client certificate needs both --cert and --key");
    o.etcd.tls = EtcdTls{g.cacert, g.cert, g.key};
  }
  std::string user = g.user, password = g.password;
  if (auto colon = user.find(':'); colon != std::string::npos && password.empty()) {
    password = user.substr(colon + 1);  // etcdctl's --user NAME:PASSWORD
    user.resize(colon);
  }
  if (user.empty() && !password.empty()) throw UsageError("--password (or FRODO_ETCD_PASSWORD) needs --user");
  o.etcd.user = user;
  o.etcd.password = password;
  o.lease_ttl = lease_ttl;
  o.prefix = g.prefix;
  o.logger = warn;
  return o;
}

std::unique_ptr<Cluster> connect(const GlobalOptions& g, std::chrono::seconds lease_ttl, bool publish_view) {
  ClusterOptions options = cluster_options(g, lease_ttl);
  options.publish_view = publish_view;
  auto cluster = std::make_unique<Cluster>(std::move(options));
  if (!cluster->wait_ready(std::chrono::milliseconds(g.timeout_ms))) {
    throw Error(Errc::deadline_exceeded, "no view of context '" + g.context + "' from etcd (" + g.etcd + ") within " +
                                             std::to_string(g.timeout_ms) + " ms");
  }
  return cluster;
}

std::string lease_hex(std::int64_t id) {
  char text[32];
  std::snprintf(text, sizeof text, "%llx", static_cast<unsigned long long>(id));
  return text;
}

nlohmann::json server_json(const ServerInfo& s) {
  nlohmann::json meta = nlohmann::json::object();
  for (const auto& [k, v] : s.meta) meta[k] = v;
  return {{"address", s.address}, {"weight", s.weight}, {"zone", s.zone}, {"meta", meta}};
}

std::vector<double> server_shares(const Snapshot& s) {
  // Ring::shares() is in ring-member order, and the ring leaves out the servers that are
  // leaving: matched by address, not by position.
  const std::vector<Member>& members = s.ring.members();
  const std::vector<double> shares = s.ring.shares();
  std::unordered_map<std::string_view, double> by_address;
  by_address.reserve(members.size());
  for (std::size_t i = 0; i < members.size(); ++i) by_address.emplace(members[i].address, shares[i]);
  std::vector<double> out;
  out.reserve(s.servers.size());
  for (const ServerInfo& server : s.servers) {
    auto it = by_address.find(server.address);
    out.push_back(it == by_address.end() ? 0.0 : it->second);
  }
  return out;
}

nlohmann::json servers_json(const Snapshot& s) {
  const std::vector<double> shares = server_shares(s);
  nlohmann::json out = nlohmann::json::array();
  std::size_t i = 0;
  for (const ServerInfo& server : s.servers) {
    nlohmann::json j = server_json(server);
    j["share"] = shares[i++];
    out.push_back(std::move(j));
  }
  return out;
}

nlohmann::json view_json(const GlobalOptions& g, const Snapshot& s) {
  return {{"context", g.context},
          {"revision", s.revision},
          {"algorithm", to_string(s.ring.algorithm())},
          {"checksum", s.ring.checksum_hex()},
          {"servers", nlohmann::json::array()}};
}

const char* const global_footer =
    "\nGlobal options (before or after the command; see `frodo --help`): --etcd [https://]HOST:PORT,... (FRODO_ETCD),\n"
    "--context NAME (FRODO_CONTEXT, required), --prefix, --algorithm, --timeout DURATION, --cacert/--cert/--key,\n"
    "--user/--password (FRODO_ETCD_PASSWORD). etcdctl's ETCDCTL_ENDPOINTS, _CACERT, _CERT, _KEY, _USER and\n"
    "_PASSWORD are fallbacks. Durations: 500ms, 5s, 2m.";

std::optional<std::string> parse_duration(const std::string& text, std::chrono::milliseconds unit, int& value) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return std::string("expected a number with an optional unit: 500ms, 5s, 2m");
  const std::string suffix = text.substr(digits);
  std::int64_t per = 0;  // milliseconds per unit of the text
  if (suffix.empty()) {
    per = unit.count();
  } else if (suffix == "ms") {
    per = 1;
  } else if (suffix == "s") {
    per = 1000;
  } else if (suffix == "m") {
    per = 60'000;
  } else {
    return "unknown unit '" + suffix + "' (use ms, s or m)";
  }
  std::int64_t count = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + digits, count);
  if (ec != std::errc() || end != text.data() + digits || count > std::numeric_limits<int>::max()) {
    return std::string("too large");
  }
  const std::int64_t ms = count * per;  // both below 2^31 and 60000: no overflow
  if (ms % unit.count() != 0) {
    return "not a whole number of " + std::string(unit.count() == 1 ? "milliseconds" : "seconds");
  }
  const std::int64_t units = ms / unit.count();
  if (units > std::numeric_limits<int>::max()) return std::string("too large");
  value = static_cast<int>(units);
  return std::nullopt;
}

CLI::Validator duration_in(std::chrono::milliseconds unit) {
  return CLI::Validator(
      [unit](std::string& input) -> std::string {
        int value = 0;
        if (auto problem = parse_duration(input, unit, value)) {
          return "bad duration '" + terminal_text(excerpt(input)) + "': " + *problem;
        }
        input = std::to_string(value);
        return std::string();
      },
      unit.count() == 1 ? "DURATION (ms if bare)" : "DURATION (s if bare)", "duration");
}

std::shared_ptr<GlobalOptions> add_global_options(CLI::App& app) {
  auto g = std::make_shared<GlobalOptions>();
  // Logging, for every command (read by main() once the arguments are parsed).
  app.add_flag("-v,--verbose", g->verbose, "Also log what long-running commands do (view changes, registrations)");
  app.add_flag("-q,--quiet", g->quiet, "Log errors only, no warnings");
  app.add_option("--log-format", g->log_format, "Log lines on stderr as text or json (one object per line)")
      ->type_name("FORMAT")
      ->default_str("text")
      ->check(CLI::IsMember({"text", "json"}));
  // etcdctl's variables, as fallbacks: the flag, then FRODO_*, then ETCDCTL_*, then the default.
  auto from_env = [](const char* name, std::string& into) {
    if (const char* value = std::getenv(name); value && *value) into = value;
  };
  from_env("ETCDCTL_ENDPOINTS", g->etcd);
  from_env("ETCDCTL_CACERT", g->cacert);
  from_env("ETCDCTL_CERT", g->cert);
  from_env("ETCDCTL_KEY", g->key);
  from_env("ETCDCTL_USER", g->user);  // etcdctl's "NAME:PASSWORD" form is split in cluster_options
  from_env("ETCDCTL_PASSWORD", g->password);
  const std::string group = "Live commands (etcd)";
  app.add_option("--etcd", g->etcd,
                 "etcd endpoints, comma-separated; https://HOST:PORT is TLS (system roots unless --cacert), "
                 "http:// or none plaintext (TLS with --cacert)")
      ->envname("FRODO_ETCD")
      ->type_name("HOST:PORT,...")
      ->default_str(g->etcd)
      ->group(group);
  app.add_option("--context", g->context, "Application context whose servers to use (required by live commands)")
      ->envname("FRODO_CONTEXT")
      ->type_name("NAME")
      ->group(group);
  app.add_option("--prefix", g->prefix, "etcd key prefix: keys are PREFIX/CONTEXT/servers/ADDRESS")
      ->type_name("PREFIX")
      ->default_str(g->prefix)
      ->group(group);
  app.add_option("--algorithm", g->algorithm, "Ring of the live view: ketama (frodo.io compatible) or maglev")
      ->type_name("NAME")
      ->default_str(g->algorithm)
      ->group(group);
  app.add_option("--timeout", g->timeout_ms, "Give up on etcd (reaching it, each call, a lease re-grant) after this long: 500ms, 5s, 2m (bare: ms)")
      ->type_name("DURATION")
      ->transform(duration_in(std::chrono::milliseconds(1)))
      ->default_str(std::to_string(g->timeout_ms))
      ->check(CLI::Range(1, 3600 * 1000))
      ->group(group);
  app.add_option("--cacert", g->cacert, "TLS: the CA that signed the etcd members' certificates (PEM)")
      ->type_name("FILE")
      ->group(group);
  app.add_option("--cert", g->cert, "TLS: client certificate (PEM), with --key")->type_name("FILE")->group(group);
  app.add_option("--key", g->key, "TLS: the client certificate's private key (PEM)")->type_name("FILE")->group(group);
  app.add_option("--user", g->user, "etcd user name")->type_name("NAME")->group(group);
  app.add_option("--password", g->password, "etcd password (prefer FRODO_ETCD_PASSWORD: flags show in ps)")
      ->envname("FRODO_ETCD_PASSWORD")
      ->type_name("PW")
      ->group(group);

  return g;
}

}  // namespace frodo::cli
