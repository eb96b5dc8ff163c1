// What etcd answers, as plain values: keys with their values and revisions, listings and
// watch events. No gRPC here, so code that only interprets them (the registry's ViewBuilder,
// its fuzz harness) builds without the client.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace frodo::etcd {

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t version = 0;
  std::int64_t lease = 0;
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  std::int64_t revision = 0;     // the store revision the result reflects
  std::uint64_t cluster_id = 0;  // the etcd cluster that answered
  // Keys whose value alone is larger than a gRPC message this client accepts: listed, not
  // read (get_prefix only).
  std::vector<std::string> unreadable;
};

struct WatchEvent {
  enum class Type { put, remove };
  Type type = Type::put;
  KeyValue kv;  // kv.mod_revision is the event's revision; for a remove only the key is set
};

}  // namespace frodo::etcd
