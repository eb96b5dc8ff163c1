// A connection to an etcd cluster: one gRPC channel per endpoint, failover between them,
// a deadline on every call, TLS, and token authentication.
#pragma once

#include <grpcpp/grpcpp.h>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "src/etcd/proto/etcd.grpc.pb.h"  // generated into the build tree
#include "core/duration_histogram.hpp"
#include "frodo/error.hpp"
#include "frodo/etcd.hpp"

namespace frodo::etcd {

using Clock = std::chrono::steady_clock;

// The stubs of one endpoint.
struct Endpoint {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance;
  std::unique_ptr<etcdserverpb::Auth::Stub> auth;
};

// gRPC takes deadlines on the system clock; frodo measures time on the steady clock.
inline void set_deadline(grpc::ClientContext& context, Clock::time_point deadline) {
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::duration_cast<std::chrono::system_clock::duration>(deadline - Clock::now()));
}

// Maps a failed gRPC status from `endpoint` to a frodo::Error naming both.
Error to_error(const grpc::Status& status, const std::string& endpoint, const std::string& what);

// The unary etcd RPCs frodo makes, for the call statistics (names as in etcd's API).
enum class Rpc : std::size_t { range, put, delete_range, txn, compact, lease_grant, lease_revoke, lease_time_to_live };
inline constexpr std::size_t rpc_count = 8;
const char* rpc_name(Rpc rpc) noexcept;

// What the calls of one RPC cost: the time call() took, retries and failover included, and
// how many calls failed in the end. Written with relaxed atomics by the calling threads.
struct CallStats {
  detail::DurationHistogram latency;
  std::atomic<std::uint64_t> failures{0};
};

class Connection {
 public:
  // Validates the options (endpoints, TLS files) and creates the channels; throws
  // Error(invalid_argument) naming a bad option. Does not contact etcd.
  explicit Connection(EtcdOptions options);

  const EtcdOptions& options() const { return options_; }
  std::size_t endpoint_count() const { return endpoints_.size(); }

  // Runs `attempt` (one RPC on one endpoint's stubs, with a prepared context) until it
  // succeeds, failing over to the next endpoint when one is unreachable, re-authenticating
  // once when the token has expired, and giving up at `deadline` (default: now +
  // call_timeout). Throws frodo::Error naming the endpoint(s) and the cause.
  using Attempt = std::function<grpc::Status(Endpoint&, grpc::ClientContext&)>;
  // Each call is timed into call_stats(rpc).
  void call(Rpc rpc, const std::string& what, const Attempt& attempt,
            std::optional<Clock::time_point> deadline = std::nullopt);
  const CallStats& call_stats(Rpc rpc) const { return calls_[static_cast<std::size_t>(rpc)]; }

  // Blocks until one endpoint's channel changes state (a member came up, or went down), or
  // `deadline` passes, or half a second (gRPC's longest reconnect step here), whichever is
  // first. (A READY channel that stays up waits the half second: the caller failed for
  // another reason and should not spin.) The caller learns whether etcd answers by trying.
  // What a caller retrying "until etcd answers" waits on instead of sleeping: a call that
  // failed because no member was reachable has nothing to do until a channel moves.
  void await_channel_change(Clock::time_point deadline);

  // For streams and single-member calls: the endpoint to use now, and the auth token added
  // to a context (authenticating first if needed, within `deadline`; may throw). Returns
  // the token used ("" without auth), for invalidate_token().
  std::size_t current_endpoint() const { return current_.load(); }
  Endpoint& endpoint(std::size_t i) { return *endpoints_[i]; }
  std::string authorize(grpc::ClientContext& context, Clock::time_point deadline);
  // A stream or call on endpoint i failed: later work starts on the next endpoint.
  void mark_failed(std::size_t i);
  // Forget the token after etcd said it is invalid; the next prepare() authenticates again.
  void invalidate_token(const std::string& token);
  // How many times this connection has authenticated (1 + renewals of an expired token).
  std::int64_t authentications() const { return authentications_.load(); }

 private:
  std::string token(Clock::time_point deadline);
  void call_once(const std::string& what, const Attempt& attempt, Clock::time_point started,
                 std::optional<Clock::time_point> deadline);

  EtcdOptions options_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  std::atomic<std::size_t> current_{0};
  std::mutex token_mutex_;
  std::string token_;
  std::atomic<std::int64_t> authentications_{0};
  std::array<CallStats, rpc_count> calls_;
};

bool is_invalid_token(const grpc::Status& status);

enum class Scheme { none, http, https };
struct ParsedEndpoint {
  Scheme scheme = Scheme::none;
  std::string address;  // host:port, valid
};
// "https://h:1" -> {https, "h:1"}; the scheme is matched without regard to case. Throws
// Error(invalid_argument) naming the entry for a scheme other than http or https, or a bad
// host:port.
ParsedEndpoint parse_endpoint(const std::string& entry);
// Whether `options` call for TLS: when `tls` is set or an endpoint is https://. Throws
// Error(invalid_argument) naming the entries for a bad entry, a list mixing http:// and
// https://, or an http:// endpoint with `tls` set.
bool uses_tls(const EtcdOptions& options);

}  // namespace frodo::etcd
