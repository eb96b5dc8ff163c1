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

RangeResult Kv::get_prefix(const std::string& prefix, std::int64_t page_size) {
  RangeResult result;
  etcdserverpb::RangeRequest request;
  request.set_key(prefix);
  request.set_range_end(prefix_end(prefix));
  std::int64_t limit = std::max<std::int64_t>(page_size, 1);
  // One attempt on one page; false when the answer was too large to receive.
  auto read_page = [&](etcdserverpb::RangeRequest& page, etcdserverpb::RangeResponse& response) {
    bool too_large = false;
    connection_->call(Rpc::range, "list " + prefix, [&](Endpoint& e, grpc::ClientContext& c) {
      grpc::Status status = e.kv->Range(&c, page, &response);
      if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        too_large = true;  // not the endpoint's fault: no failover, the caller shrinks the page
        return grpc::Status::OK;
      }
      return status;
    });
    if (too_large) return false;
    if (result.revision == 0) {
      result.revision = response.header().revision();
      result.cluster_id = response.header().cluster_id();
      request.set_revision(result.revision);  // later pages read the same snapshot
    }
    return true;
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
        throw Error(Errc::internal, "etcd: list " + prefix + ": a page of one key is too large to receive");
      }
      const std::string& key = key_response.kvs(0).key();
      result.unreadable.push_back(key);
      if (!key_response.more()) break;
      request.set_key(key + '\0');
      continue;
    }
    for (const auto& kv : response.kvs()) result.kvs.push_back(from_proto(kv));
    if (!response.more() || response.kvs().empty()) break;
    request.set_key(response.kvs().rbegin()->key() + '\0');
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
