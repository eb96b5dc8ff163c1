#include "view_builder.hpp"

#include "core/text.hpp"
#include "server_record.hpp"

namespace frodo::detail {

ViewBuilder::ViewBuilder(std::string prefix, std::size_t max_value_bytes)
    : prefix_(std::move(prefix)), max_value_bytes_(max_value_bytes) {}

void ViewBuilder::put(std::map<std::string, ServerList::Record>& servers, const etcd::KeyValue& kv,
                      std::map<std::string, std::int64_t>& skipped, std::vector<std::string>& warnings) const {
  std::string address = kv.key.substr(std::min(prefix_.size(), kv.key.size()));
  std::string problem;
  std::optional<ServerInfo> server = decode_server(address, kv.value, &problem, max_value_bytes_);
  if (!server) {
    servers.erase(address);
    auto [it, inserted] = skipped.try_emplace(kv.key, kv.mod_revision);
    if (inserted || it->second != kv.mod_revision) {
      it->second = kv.mod_revision;
      warnings.push_back("skipping " + printable(kv.key) + ": " + problem);
    }
    return;
  }
  skipped.erase(kv.key);
  server->created = kv.create_revision;
  server->lease = kv.lease;
  auto known = servers_.find(address);
  if (known != servers_.end() && *known->second == *server) {
    servers[address] = known->second;  // unchanged: share the record
  } else {
    servers[address] = std::make_shared<const ServerInfo>(std::move(*server));
  }
}

ServerList ViewBuilder::current() const {
  std::vector<ServerList::Record> records;
  records.reserve(servers_.size());
  for (const auto& [address, record] : servers_) records.push_back(record);
  return ServerList(std::move(records));
}

ViewBuilder::Step ViewBuilder::relist(const etcd::RangeResult& list) {
  Step step;
  std::map<std::string, ServerList::Record> servers;
  std::map<std::string, std::int64_t> skipped;
  for (const etcd::KeyValue& kv : list.kvs) {
    // A bad value already reported is not reported again by a re-list.
    if (auto it = skipped_.find(kv.key); it != skipped_.end()) skipped.insert(*it);
    put(servers, kv, skipped, step.warnings);
  }
  for (const std::string& key : list.unreadable) {
    if (!skipped_.contains(key)) {
      step.warnings.push_back("skipping " + printable(key) + ": its value is larger than a gRPC message may be");
    }
    skipped[key] = 0;
  }
  step.view.restarted = cluster_id_ != 0 && list.cluster_id != 0 && list.cluster_id != cluster_id_;
  if (list.cluster_id != 0) cluster_id_ = list.cluster_id;
  servers_ = std::move(servers);
  skipped_ = std::move(skipped);
  revision_ = list.revision;
  step.view.servers = current();
  step.view.revision = revision_;
  return step;
}

ViewBuilder::Step ViewBuilder::apply(const std::vector<etcd::WatchEvent>& events, std::int64_t revision) {
  Step step;
  // In place: put() compares with the current record before it replaces it.
  for (const etcd::WatchEvent& e : events) {
    if (e.type == etcd::WatchEvent::Type::remove) {
      servers_.erase(e.kv.key.substr(std::min(prefix_.size(), e.kv.key.size())));
      skipped_.erase(e.kv.key);
    } else {
      put(servers_, e.kv, skipped_, step.warnings);
    }
  }
  revision_ = std::max(revision_, revision);
  step.view.servers = current();
  step.view.revision = revision_;
  return step;
}

std::optional<RegistryView> ViewBuilder::progress(std::int64_t revision) {
  if (revision <= revision_) return std::nullopt;
  revision_ = revision;
  return RegistryView{current(), revision_};
}

}  // namespace frodo::detail
