// A real etcd cluster for tests: 1..n local members on free loopback ports, each in its own
// directory under a fresh temp dir, optionally serving clients over TLS and with auth on.
// Members are separate processes driven by PID (kill, SIGSTOP, SIGCONT, restart), so tests
// can exercise leader loss, frozen members and restarts. Requires etcd and etcdctl 3.4+ and
// openssl on PATH. Not thread-safe: drive one cluster from one thread, the one that made it
// (members die with that thread, so a crashed test leaves no daemon behind).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "process/child_process.hpp"
#include "process/free_port.hpp"
#include "temp_dir.hpp"
#include "test_certs.hpp"

namespace frodo::test {

struct EtcdClusterOptions {
  int members = 1;                // any n >= 1; 1 and 3 are the useful ones
  bool tls = false;               // serve clients over TLS with certificates made on the fly
  bool client_cert_auth = false;  // with tls: require a client certificate signed by the CA
  int heartbeat_ms = 50;          // short raft timeouts so elections take well under a second
  int election_ms = 500;          // etcd insists on at least 5 * heartbeat_ms
  // More etcd flags for every member, e.g. "--auth-token-ttl=1" or
  // "--experimental-watch-progress-notify-interval=200ms".
  std::vector<std::string> extra_flags;
};

class EtcdCluster {
 public:
  // Starts every member and waits (at most 20 s) until each answers `endpoint health`.
  // Throws std::invalid_argument for bad options and std::runtime_error (with the tail of
  // the failing member's log) when the cluster does not come up; nothing is left behind.
  explicit EtcdCluster(EtcdClusterOptions options = {});
  // SIGKILLs and reaps every member and removes the temp dir (data, logs, certificates).
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  int size() const;
  std::vector<std::string> endpoints() const;  // "127.0.0.1:PORT" per member, no scheme
  std::string endpoint(int i) const;
  pid_t pid(int i) const;  // the member's current PID, or -1 once killed
  // Started and not killed (a SIGSTOPped member is still running). A member that died by
  // itself reports false.
  bool running(int i) const;

  void kill(int i);     // SIGKILL and reap; SIGTERM is avoided, a lone leader takes ~7 s to quit
  void stop(int i);     // SIGSTOP: the member freezes, holding its ports; etcdctl skips it
  void resume(int i);   // SIGCONT
  void restart(int i);  // kills it if running, starts it again on the same ports and data, waits for health
  // The index of the leader that every running, unfrozen member reports, waiting (at most
  // 20 s) until they agree on one of themselves. Throws std::runtime_error otherwise.
  int leader();

  // TLS material; empty paths unless options.tls. The client certificate is made whenever
  // tls is on, so tests can present one whether or not the server demands it.
  std::string ca_file() const;
  std::string client_cert_file() const;
  std::string client_key_file() const;

  // Runs `etcdctl <args>` against every running, unfrozen member, with the TLS flags the
  // cluster needs and --user=`user` ("name:password") when given. Returns stdout; throws
  // std::runtime_error with stderr on a non-zero exit or a timeout, and at once when no
  // member is running and unfrozen.
  std::string etcdctl(const std::vector<std::string>& args, const std::string& user = "");

  // Creates user root (role root) with `root_password` and enables auth. From then on the
  // harness's own calls (health, revision, compact, add_user) authenticate as root.
  void enable_auth(const std::string& root_password);
  // Creates `name` with a role "<name>-role" granting readwrite (read when read_only) on
  // every key starting with `prefix` (non-empty).
  void add_user(const std::string& name, const std::string& password, const std::string& prefix,
                bool read_only = false);
  void compact(std::int64_t revision);
  std::int64_t revision();  // the store's current revision (a linearizable read)

  // Where everything lives, for tests that inspect files; gone after destruction.
  std::string temp_dir() const;
  std::string log_file(int i) const;

 private:
  struct Member {
    std::string name;
    // Held for the member's life (a restart reuses them): nothing else takes them.
    process::PortReservation client_port;
    process::PortReservation peer_port;
    std::filesystem::path dir;  // holds data/ and etcd.log
    process::ChildProcess process;  // empty once killed
    bool stopped = false;
    std::uint64_t id = 0;  // raft member ID, learned once healthy
  };

  void start_all();
  void start_member(Member& m, bool existing);
  void wait_healthy(Member& m, std::chrono::steady_clock::time_point deadline);
  void kill_all() noexcept;
  Member& member(int i);
  const Member& member(int i) const;
  std::string client_url(const Member& m) const;
  bool answering(int i) const;  // running and not frozen
  // etcdctl <args> against m alone, with short timeouts: for polling.
  std::vector<std::string> probe_command(const Member& m, const std::vector<std::string>& args) const;
  std::vector<std::string> tls_flags() const;
  std::string root_user() const;  // "root:<password>" once auth is on, else ""

  EtcdClusterOptions options_;
  TempDir dir_;      // removed after the destructor's body has killed every member
  TestCerts certs_;  // empty paths unless tls
  std::string token_;
  std::vector<Member> members_;
  std::string root_password_;
  bool auth_enabled_ = false;
};

}  // namespace frodo::test
