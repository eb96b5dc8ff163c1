// Key-value calls on an etcd connection: range (paginated), put, delete, txn, compact,
// lease grant/revoke/time-to-live, and member status.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "connection.hpp"
#include "records.hpp"

namespace frodo::etcd {

struct MemberStatus {
  std::uint64_t member_id = 0;
  std::uint64_t leader_id = 0;
  std::int64_t revision = 0;
  std::string version;
};

struct LeaseInfo {
  std::int64_t ttl = -1;  // remaining seconds; -1 when the lease does not exist (any more)
  std::int64_t granted_ttl = 0;
  std::vector<std::string> keys;
};

// The smallest key greater than every key starting with `prefix` (etcd's range_end).
std::string prefix_end(const std::string& prefix);
KeyValue from_proto(const etcdserverpb::KeyValue& kv);

// Why a range read at an explicit revision failed, when etcd said why: the revision is newer
// than what the member that answered has applied (a follower behind), or older than what
// etcd still keeps. Recognises etcd's answer directly (OUT_OF_RANGE) and through its gRPC
// proxy (which loses the code and keeps the message).
enum class RangeFailure { other, future_revision, compacted };
RangeFailure classify_range_failure(const grpc::Status& status);

class Kv {
 public:
  explicit Kv(std::shared_ptr<Connection> connection) : connection_(std::move(connection)) {}

  RangeResult get(const std::string& key);
  // Every key under `prefix`, read in pages at one revision, so the result is a consistent
  // snapshot however large it is. Pages hold up to `page_size` keys and shrink when a page is
  // larger than a gRPC message may be; a single value that cannot be received at all is
  // named in `unreadable` instead of failing the listing.
  // The revision is pinned by one small linearizable read (so the snapshot is at least as new
  // as any write that finished before the call); every page is then a serializable read at
  // that revision, which an etcd gRPC proxy answers from its cache when another process listed
  // the same prefix at the same revision. A page that the member answering has not reached
  // yet, or that comes from another etcd cluster than the pin (a proxy's stale cache entry), is
  // read again linearizably. Throws frodo::Error as call() does; a revision compacted during
  // the listing fails it (Errc::internal, etcd's message), and the caller lists again.
  RangeResult get_prefix(const std::string& prefix, std::int64_t page_size = 1000);
  std::int64_t put(const std::string& key, const std::string& value, std::int64_t lease = 0);  // -> revision
  // -> number deleted; *revision (if given) is the revision of the delete.
  std::int64_t remove(const std::string& key, std::int64_t* revision = nullptr);
  std::int64_t remove_prefix(const std::string& prefix);
  etcdserverpb::TxnResponse txn(const etcdserverpb::TxnRequest& request);
  void compact(std::int64_t revision);

  std::int64_t grant_lease(std::int64_t ttl_seconds, std::int64_t* granted_ttl = nullptr);  // -> lease id
  void revoke_lease(std::int64_t id);  // a lease that no longer exists is not an error
  LeaseInfo lease_info(std::int64_t id, bool with_keys = false);

  // Status of one member (no failover: it is about that member).
  MemberStatus status(std::size_t endpoint);

  Connection& connection() { return *connection_; }

 private:
  std::shared_ptr<Connection> connection_;
};

}  // namespace frodo::etcd
