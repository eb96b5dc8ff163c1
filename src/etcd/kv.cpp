#include "kv.hpp"

#include <algorithm>

namespace frodo::etcd {

std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

KeyValue from_proto(const etcdserverpb::KeyValue& kv) {
  return {kv.key(), kv.value(), kv.create_revision(), kv.mod_revision(), kv.version(), kv.lease()};
}

RangeResult Kv::get(const std::string& key) {
  etcdserverpb::RangeRequest request;
  request.set_key(key);
  etcdserverpb::RangeResponse response;
  connection_->call(Rpc::range, "get " + key, [&](Endpoint& e, grpc::ClientContext& c) { return e.kv->Range(&c, request, &response); });
  RangeResult result;
  result.revision = response.header().revision();
  for (const auto& kv : response.kvs()) result.kvs.push_back(from_proto(kv));
  return result;
}

RangeFailure classify_range_failure(const grpc::Status& status) {
  // etcd answers OUT_OF_RANGE; its gRPC proxy passes the error on with the code lost
  // (UNKNOWN) and the message kept, so the message decides.
  const grpc::StatusCode code = status.error_code();
  if (code != grpc::StatusCode::OUT_OF_RANGE && code != grpc::StatusCode::UNKNOWN) return RangeFailure::other;
  const std::string& message = status.error_message();
  if (message.find("required revision is a future revision") != std::string::npos) {
    return RangeFailure::future_revision;
  }
  if (message.find("required revision has been compacted") != std::string::npos) return RangeFailure::compacted;
  return RangeFailure::other;
}

RangeResult Kv::get_prefix(const std::string& prefix, std::int64_t page_size) {
  const std::string what = "list " + prefix;
  RangeResult result;
  {
    // The snapshot's revision and the cluster that holds it, from one small linearizable read
    // (the count of one key: an index lookup, no value). Everything after reads at that revision.
    etcdserverpb::RangeRequest pin;
    pin.set_key(prefix);
    pin.set_count_only(true);
    etcdserverpb::RangeResponse response;
    connection_->call(Rpc::range, what, [&](Endpoint& e, grpc::ClientContext& c) { return e.kv->Range(&c, pin, &response); });
    result.revision = response.header().revision();
    result.cluster_id = response.header().cluster_id();
    // A serializable read at revision 0 is what a proxy may answer from an arbitrarily old
    // cache entry: a listing never sends one.
    if (result.revision <= 0) {
      throw Error(Errc::internal, "etcd: " + what + ": the answer carries no revision (" +
                                      std::to_string(result.revision) + ")");
    }
  }
  // Every page is a serializable read at the pinned revision: a member answers it from its
  // own store, and a gRPC proxy from its cache when another process asked the same page at
  // the same revision (the request's bytes are the cache key, so they depend only on the
  // prefix, the page size, the revision and the keys listed).
  etcdserverpb::RangeRequest request;
  request.set_key(prefix);
  request.set_range_end(prefix_end(prefix));
  request.set_revision(result.revision);
  request.set_serializable(true);
  std::int64_t limit = std::max<std::int64_t>(page_size, 1);
  enum class Outcome { read, too_large, future };
  auto attempt_page = [&](const etcdserverpb::RangeRequest& page, etcdserverpb::RangeResponse& response) {
    Outcome outcome = Outcome::read;
    response.Clear();
    connection_->call(Rpc::range, what, [&](Endpoint& e, grpc::ClientContext& c) {
      grpc::Status status = e.kv->Range(&c, page, &response);
      if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        outcome = Outcome::too_large;  // not the endpoint's fault: no failover, the caller shrinks the page
        return grpc::Status::OK;
      }
      if (page.serializable() && classify_range_failure(status) == RangeFailure::future_revision) {
        outcome = Outcome::future;  // a member behind the one that pinned the revision
        return grpc::Status::OK;
      }
      outcome = Outcome::read;
      return status;  // a compacted revision fails the listing, as before: the caller lists again
    });
    return outcome;
  };
  // One page, or false when the answer was too large to receive.
  auto read_page = [&](const etcdserverpb::RangeRequest& page, etcdserverpb::RangeResponse& response) {
    Outcome outcome = attempt_page(page, response);
    // A member that has not applied the revision yet (failover after the pin, a proxy's etcd
    // client on a lagging follower), or an answer from another cluster (a proxy's cache
    // entry from before etcd was replaced behind it): the same page read linearizably, which
    // waits until the member has applied everything committed and is never answered from a
    // proxy's cache.
    if (outcome == Outcome::future ||
        (outcome == Outcome::read && response.header().cluster_id() != result.cluster_id)) {
      etcdserverpb::RangeRequest linearizable = page;
      linearizable.set_serializable(false);
      outcome = attempt_page(linearizable, response);
      if (outcome == Outcome::read && response.header().cluster_id() != result.cluster_id) {
        throw Error(Errc::internal, "etcd: " + what + ": the cluster answering changed during the listing (id " +
                                        std::to_string(result.cluster_id) + ", then " +
                                        std::to_string(response.header().cluster_id()) + ")");
      }
    }
    return outcome == Outcome::read;
  };
  // The next page starts after `key`; a hostile answer that does not move forward must not
  // loop for ever.
  auto continue_after = [&](const std::string& key) {
    std::string next = key + '\0';
    if (next <= request.key()) {
      throw Error(Errc::internal, "etcd: " + what + ": a page did not move past its first key");
    }
    request.set_key(std::move(next));
  };
  while (true) {
    request.set_limit(limit);
    etcdserverpb::RangeResponse response;
    if (!read_page(request, response)) {
      if (limit > 1) {
        limit = std::max<std::int64_t>(limit / 4, 1);
        continue;
      }
      // One value alone is too large to receive: learn its key without its value, skip it.
      etcdserverpb::RangeRequest key_only = request;
      key_only.set_keys_only(true);
      etcdserverpb::RangeResponse key_response;
      if (!read_page(key_only, key_response) || key_response.kvs().empty()) {
        throw Error(Errc::internal, "etcd: " + what + ": a page of one key is too large to receive");
      }
      const std::string& key = key_response.kvs(0).key();
      result.unreadable.push_back(key);
      if (!key_response.more()) break;
      continue_after(key);
      continue;
    }
    for (const auto& kv : response.kvs()) result.kvs.push_back(from_proto(kv));
    if (!response.more() || response.kvs().empty()) break;
    continue_after(response.kvs().rbegin()->key());
    limit = std::min(limit * 2, std::max<std::int64_t>(page_size, 1));  // grow back after a large stretch
  }
  return result;
}

std::int64_t Kv::put(const std::string& key, const std::string& value, std::int64_t lease) {
  etcdserverpb::PutRequest request;
  request.set_key(key);
  request.set_value(value);
  request.set_lease(lease);
  etcdserverpb::PutResponse response;
  connection_->call(Rpc::put, "put " + key, [&](Endpoint& e, grpc::ClientContext& c) { return e.kv->Put(&c, request, &response); });
  return response.header().revision();
}

std::int64_t Kv::remove(const std::string& key, std::int64_t* revision) {
  etcdserverpb::DeleteRangeRequest request;
  request.set_key(key);
  etcdserverpb::DeleteRangeResponse response;
  connection_->call(Rpc::delete_range, "delete " + key,
                    [&](Endpoint& e, grpc::ClientContext& c) { return e.kv->DeleteRange(&c, request, &response); });
  if (revision) *revision = response.header().revision();
  return response.deleted();
}

std::int64_t Kv::remove_prefix(const std::string& prefix) {
  etcdserverpb::DeleteRangeRequest request;
  request.set_key(prefix);
  request.set_range_end(prefix_end(prefix));
  etcdserverpb::DeleteRangeResponse response;
  connection_->call(Rpc::delete_range, "delete prefix " + prefix,
                    [&](Endpoint& e, grpc::ClientContext& c) { return e.kv->DeleteRange(&c, request, &response); });
  return response.deleted();
}

etcdserverpb::TxnResponse Kv::txn(const etcdserverpb::TxnRequest& request) {
  etcdserverpb::TxnResponse response;
  connection_->call(Rpc::txn, "txn", [&](Endpoint& e, grpc::ClientContext& c) { return e.kv->Txn(&c, request, &response); });
  return response;
}

void Kv::compact(std::int64_t revision) {
  etcdserverpb::CompactionRequest request;
  request.set_revision(revision);
  request.set_physical(true);
  etcdserverpb::CompactionResponse response;
  connection_->call(Rpc::compact, "compact to " + std::to_string(revision),
                    [&](Endpoint& e, grpc::ClientContext& c) { return e.kv->Compact(&c, request, &response); });
}

std::int64_t Kv::grant_lease(std::int64_t ttl_seconds, std::int64_t* granted_ttl) {
  etcdserverpb::LeaseGrantRequest request;
  request.set_ttl(ttl_seconds);
  etcdserverpb::LeaseGrantResponse response;
  connection_->call(Rpc::lease_grant, "grant lease", [&](Endpoint& e, grpc::ClientContext& c) {
    return e.lease->LeaseGrant(&c, request, &response);
  });
  if (!response.error().empty()) throw Error(Errc::internal, "etcd: grant lease: " + response.error());
  if (granted_ttl) *granted_ttl = response.ttl();
  return response.id();
}

void Kv::revoke_lease(std::int64_t id) {
  etcdserverpb::LeaseRevokeRequest request;
  request.set_id(id);
  etcdserverpb::LeaseRevokeResponse response;
  try {
    connection_->call(Rpc::lease_revoke, "revoke lease", [&](Endpoint& e, grpc::ClientContext& c) {
      return e.lease->LeaseRevoke(&c, request, &response);
    });
  } catch (const Error& e) {
    if (e.code() != Errc::lease_lost) throw;  // already gone: revoked is what we wanted
  }
}

LeaseInfo Kv::lease_info(std::int64_t id, bool with_keys) {
  etcdserverpb::LeaseTimeToLiveRequest request;
  request.set_id(id);
  request.set_keys(with_keys);
  etcdserverpb::LeaseTimeToLiveResponse response;
  connection_->call(Rpc::lease_time_to_live, "lease time-to-live", [&](Endpoint& e, grpc::ClientContext& c) {
    return e.lease->LeaseTimeToLive(&c, request, &response);
  });
  LeaseInfo info;
  info.ttl = response.ttl();
  info.granted_ttl = response.grantedttl();
  for (const auto& k : response.keys()) info.keys.push_back(k);
  return info;
}

MemberStatus Kv::status(std::size_t endpoint) {
  Endpoint& e = connection_->endpoint(endpoint);
  grpc::ClientContext context;
  Clock::time_point deadline = Clock::now() + connection_->options().call_timeout;
  set_deadline(context, deadline);
  connection_->authorize(context, deadline);
  etcdserverpb::StatusRequest request;
  etcdserverpb::StatusResponse response;
  grpc::Status s = e.maintenance->Status(&context, request, &response);
  if (!s.ok()) throw to_error(s, e.address, "status");
  return {response.header().member_id(), response.leader(), response.header().revision(), response.version()};
}

}  // namespace frodo::etcd
