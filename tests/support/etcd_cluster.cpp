#include "etcd_cluster.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "process/local_etcd.hpp"
#include "process/wait_until.hpp"
#include "subprocess.hpp"
#include "test_certs.hpp"

namespace frodo::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kStartupBudget = 20s;  // per start (and per restart), all members together
constexpr auto kPollInterval = 50ms;  // etcdctl runs per check: do not spin
constexpr int kStartAttempts = 3;  // fresh ports when another process took one of ours

// The last `max_chars` of a log, for error messages.
std::string log_tail(const fs::path& path, std::size_t max_chars = 3000) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  if (text.size() > max_chars) text = "..." + text.substr(text.size() - max_chars);
  return text;
}

bool log_mentions(const fs::path& log, std::string_view text) {
  return log_tail(log, std::string::npos).find(text) != std::string::npos;
}

// The unsigned number after "key": in etcdctl's -w json output (flat enough not to need a parser).
std::optional<std::uint64_t> json_number(std::string_view json, std::string_view key) {
  std::string needle = "\"" + std::string(key) + "\":";
  std::size_t at = json.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  const char* begin = json.data() + at + needle.size();
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(begin, json.data() + json.size(), value);
  if (ec != std::errc()) return std::nullopt;
  return value;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// A cluster token no other cluster on this machine uses, so stray peers never merge.
std::string fresh_token() {
  static std::atomic<int> counter{0};
  return "frodo-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
         std::to_string(Clock::now().time_since_epoch().count());
}

// The state letter from /proc/<pid>/stat ('T' when stopped), or '?' when unreadable.
char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t paren = stat.rfind(')');  // the command name may itself contain spaces or ')'
  return paren != std::string::npos && paren + 2 < stat.size() ? stat[paren + 2] : '?';
}

EtcdClusterOptions validated(EtcdClusterOptions options) {
  if (options.members < 1) throw std::invalid_argument("EtcdCluster needs at least one member");
  if (options.client_cert_auth && !options.tls) {
    throw std::invalid_argument("EtcdCluster: client_cert_auth requires tls");
  }
  find_executable("etcd");  // fail early, with the scripts/setup hint
  find_executable("etcdctl");
  return options;
}

}  // namespace

EtcdCluster::EtcdCluster(EtcdClusterOptions options) : options_(validated(options)), dir_("frodo-etcd") {
  try {
    if (options_.tls) {
      fs::create_directory(dir_.path() / "certs");
      certs_ = make_test_certs(dir_.path() / "certs");
    }
    start_all();
  } catch (...) {
    kill_all();  // the destructor will not run; dir_'s will
    throw;
  }
}

// Members first: dir_ (a member) is removed after this body.
EtcdCluster::~EtcdCluster() { kill_all(); }

void EtcdCluster::start_all() {
  for (int attempt = 1;; ++attempt) {
    token_ = fresh_token();
    members_.clear();
    for (int i = 0; i < options_.members; ++i) {
      Member m;
      m.name = std::string("m").append(std::to_string(i));  // not "m" + ...: GCC 12's false -Wrestrict (bug 105329)

      m.dir = dir_.path() / m.name;
      fs::remove_all(m.dir);
      fs::create_directory(m.dir);
      members_.push_back(std::move(m));
    }
    for (Member& m : members_) start_member(m, false);
    try {
      auto deadline = Clock::now() + kStartupBudget;
      for (Member& m : members_) wait_healthy(m, deadline);
      return;
    } catch (const std::runtime_error&) {
      kill_all();
      bool port_taken = std::any_of(members_.begin(), members_.end(), [](const Member& m) {
        return log_mentions(m.dir / "etcd.log", "address already in use");
      });
      if (!port_taken || attempt == kStartAttempts) throw;
    }
  }
}

void EtcdCluster::start_member(Member& m, bool existing) {
  std::vector<std::string> peers;
  for (const Member& p : members_) peers.push_back(p.name + "=http://127.0.0.1:" + std::to_string(p.peer_port.port()));
  process::EtcdMemberConfig config;
  config.name = m.name;
  config.data_dir = m.dir / "data";
  config.client_url = client_url(m);
  config.peer_url = "http://127.0.0.1:" + std::to_string(m.peer_port.port());
  config.initial_cluster = join(peers, ",");
  config.existing = existing;
  config.token = token_;
  config.heartbeat_ms = options_.heartbeat_ms;
  config.election_ms = options_.election_ms;
  if (options_.tls) {
    config.cert_file = certs_.server_cert.string();
    config.key_file = certs_.server_key.string();
  }
  if (options_.client_cert_auth) config.trusted_ca_file = ca_file();
  config.extra_flags = options_.extra_flags;
  m.process = spawn_daemon(process::etcd_command(config), (m.dir / "etcd.log").string());
  m.stopped = false;
}

void EtcdCluster::wait_healthy(Member& m, Clock::time_point deadline) {
  std::vector<std::string> health = probe_command(m, {"endpoint", "health"});
  if (auth_enabled_) health.push_back("--user=" + root_user());  // 3.4 counts "user name is empty" as unhealthy
  std::vector<std::string> status = probe_command(m, {"endpoint", "status", "-w", "json"});

  std::string last_error = "its client port never accepted a connection";
  while (true) {
    // Any member, not just m: m cannot become healthy while a peer it needs for quorum is gone.
    for (Member& other : members_) {
      if (other.process.pid() <= 0 || other.process.running()) continue;
      int raw = other.process.status().value_or(0);
      other.process = process::ChildProcess();
      std::string how = WIFEXITED(raw) ? "exited with status " + std::to_string(WEXITSTATUS(raw))
                                       : "died from signal " + std::to_string(WTERMSIG(raw));
      throw std::runtime_error("etcd member " + other.name + " " + how + " while " + m.name +
                               " was starting; log tail:\n" + log_tail(other.dir / "etcd.log"));
    }
    if (process::accepts_connections(m.client_port.port())) {
      ProcessResult r = run_process(health, 5s);
      if (r.exit_code == 0) {
        ProcessResult s = run_process(status, 5s);
        std::optional<std::uint64_t> id = json_number(s.out, "member_id");
        if (s.exit_code == 0 && id) {
          m.id = *id;
          return;
        }
        last_error = "endpoint status: " + s.err + s.out;
      } else {
        last_error = "endpoint health: " + r.err + r.out;
      }
    }
    if (Clock::now() >= deadline) {
      throw std::runtime_error("etcd member " + m.name + " (" + client_url(m) + ") not healthy within " +
                               std::to_string(kStartupBudget.count()) + " s; last check: " + last_error +
                               "\nlog tail:\n" + log_tail(m.dir / "etcd.log"));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

void EtcdCluster::kill_all() noexcept {
  for (int i = 0; i < static_cast<int>(members_.size()); ++i) kill(i);
}

EtcdCluster::Member& EtcdCluster::member(int i) {
  return const_cast<Member&>(static_cast<const EtcdCluster*>(this)->member(i));
}

const EtcdCluster::Member& EtcdCluster::member(int i) const {
  if (i < 0 || i >= static_cast<int>(members_.size())) {
    throw std::out_of_range("EtcdCluster: no member " + std::to_string(i) + " (size " +
                            std::to_string(members_.size()) + ")");
  }
  return members_[static_cast<std::size_t>(i)];
}

std::string EtcdCluster::client_url(const Member& m) const {
  return (options_.tls ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(m.client_port.port());
}

bool EtcdCluster::answering(int i) const { return running(i) && !member(i).stopped; }

std::vector<std::string> EtcdCluster::probe_command(const Member& m, const std::vector<std::string>& args) const {
  std::vector<std::string> argv{"etcdctl", "--endpoints=" + client_url(m), "--dial-timeout=1s", "--command-timeout=2s"};
  for (const std::string& f : tls_flags()) argv.push_back(f);
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::vector<std::string> EtcdCluster::tls_flags() const {
  if (!options_.tls) return {};
  std::vector<std::string> flags{"--cacert=" + ca_file()};
  if (options_.client_cert_auth) {
    flags.push_back("--cert=" + client_cert_file());
    flags.push_back("--key=" + client_key_file());
  }
  return flags;
}

std::string EtcdCluster::root_user() const { return auth_enabled_ ? "root:" + root_password_ : ""; }

int EtcdCluster::size() const { return static_cast<int>(members_.size()); }

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> out;
  for (int i = 0; i < size(); ++i) out.push_back(endpoint(i));
  return out;
}

std::string EtcdCluster::endpoint(int i) const { return "127.0.0.1:" + std::to_string(member(i).client_port.port()); }

pid_t EtcdCluster::pid(int i) const { return member(i).process.pid(); }

bool EtcdCluster::running(int i) const {
  const Member& m = member(i);
  pid_t pid = m.process.pid();
  if (pid <= 0 || m.process.status()) return false;
  siginfo_t info{};
  // WNOWAIT: only look (this is const), so the ChildProcess still reaps a member that died by itself.
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
  return info.si_pid == 0;
}

void EtcdCluster::kill(int i) {
  Member& m = member(i);
  m.process = process::ChildProcess();  // SIGKILL (also ends a SIGSTOPped member) and reap
  m.stopped = false;
}

void EtcdCluster::stop(int i) {
  Member& m = member(i);
  if (!running(i)) throw std::logic_error("EtcdCluster::stop: member " + m.name + " is not running");
  ::kill(m.process.pid(), SIGSTOP);
  m.stopped = true;
  // Contract: frozen on return, so a test's next step cannot race the signal.
  if (!process::wait_until([&] { return process_state(m.process.pid()) == 'T'; }, 5s, kPollInterval)) {
    throw std::runtime_error("EtcdCluster::stop: member " + m.name + " did not stop");
  }
}

void EtcdCluster::resume(int i) {
  Member& m = member(i);
  if (!running(i)) throw std::logic_error("EtcdCluster::resume: member " + m.name + " is not running");
  ::kill(m.process.pid(), SIGCONT);
  m.stopped = false;
  if (!process::wait_until([&] { return process_state(m.process.pid()) != 'T'; }, 5s, kPollInterval)) {
    throw std::runtime_error("EtcdCluster::resume: member " + m.name + " did not continue");
  }
}

void EtcdCluster::restart(int i) {
  kill(i);
  Member& m = member(i);
  start_member(m, true);
  try {
    wait_healthy(m, Clock::now() + kStartupBudget);
  } catch (...) {
    kill(i);
    throw;
  }
}

int EtcdCluster::leader() {
  std::string last_view;
  auto agreed = [&]() -> std::optional<int> {
    std::uint64_t lead = 0;
    std::vector<int> live;
    last_view.clear();
    for (int i = 0; i < size(); ++i) {
      if (!answering(i)) continue;
      live.push_back(i);
      ProcessResult r = run_process(probe_command(member(i), {"endpoint", "status", "-w", "json"}), 5s);
      // 0: unreachable, or reachable but without a leader (raft's "none").
      std::uint64_t seen = r.exit_code == 0 ? json_number(r.out, "leader").value_or(0) : 0;
      last_view += " m" + std::to_string(i) + "->" + (seen != 0 ? std::to_string(seen) : "none");
      if (seen == 0 || (lead != 0 && seen != lead)) return std::nullopt;
      lead = seen;
    }
    for (int i : live) {
      if (member(i).id == lead) return i;
    }
    return std::nullopt;  // no live member, or they still follow one that is gone
  };
  std::optional<int> found;
  if (!process::wait_until([&] { return (found = agreed()).has_value(); }, kStartupBudget, kPollInterval)) {
    throw std::runtime_error("EtcdCluster::leader: running members did not agree on a leader among themselves:" +
                             last_view);
  }
  return *found;
}

std::string EtcdCluster::ca_file() const { return certs_.ca_cert.string(); }
std::string EtcdCluster::client_cert_file() const { return certs_.client_cert.string(); }
std::string EtcdCluster::client_key_file() const { return certs_.client_key.string(); }

std::string EtcdCluster::etcdctl(const std::vector<std::string>& args, const std::string& user) {
  std::vector<std::string> urls;
  for (int i = 0; i < size(); ++i) {
    if (answering(i)) urls.push_back(client_url(member(i)));
  }
  // etcdctl would spend its whole command timeout retrying refused connections; say it now.
  if (urls.empty()) throw std::runtime_error("etcdctl " + join(args, " ") + ": no running, unfrozen member to ask");
  std::vector<std::string> argv{"etcdctl", "--endpoints=" + join(urls, ","), "--dial-timeout=2s",
                                "--command-timeout=5s"};
  for (const std::string& f : tls_flags()) argv.push_back(f);
  if (!user.empty()) argv.push_back("--user=" + user);
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult r = run_process(argv, 20s);
  if (r.exit_code != 0 || r.timed_out) {
    std::string how = r.timed_out ? "timed out" : "failed (exit " + std::to_string(r.exit_code) + ")";
    throw std::runtime_error("etcdctl " + join(args, " ") + " " + how + ": " + r.err);
  }
  return r.out;
}

void EtcdCluster::enable_auth(const std::string& root_password) {
  etcdctl({"user", "add", "root", "--new-user-password=" + root_password});
  etcdctl({"user", "grant-role", "root", "root"});
  etcdctl({"auth", "enable"});
  root_password_ = root_password;
  auth_enabled_ = true;
}

void EtcdCluster::add_user(const std::string& name, const std::string& password, const std::string& prefix,
                           bool read_only) {
  if (prefix.empty()) throw std::invalid_argument("EtcdCluster::add_user: the key prefix must not be empty");
  std::string role = name + "-role";
  std::string root = root_user();
  etcdctl({"role", "add", role}, root);
  etcdctl({"role", "grant-permission", role, "--prefix=true", read_only ? "read" : "readwrite", prefix}, root);
  etcdctl({"user", "add", name, "--new-user-password=" + password}, root);
  etcdctl({"user", "grant-role", name, role}, root);
}

void EtcdCluster::compact(std::int64_t revision) { etcdctl({"compact", std::to_string(revision)}, root_user()); }

std::int64_t EtcdCluster::revision() {
  std::string out = etcdctl({"get", "/", "-w", "json"}, root_user());
  std::optional<std::uint64_t> rev = json_number(out, "revision");
  if (!rev) throw std::runtime_error("EtcdCluster::revision: no revision in etcdctl output: " + out);
  return static_cast<std::int64_t>(*rev);
}

std::string EtcdCluster::temp_dir() const { return dir_.path().string(); }

std::string EtcdCluster::log_file(int i) const { return (member(i).dir / "etcd.log").string(); }

}  // namespace frodo::test
