// Fuzzes the registry's view builder (src/registry/view_builder.cpp) against a model: the
// input is a program of etcd changes and deliveries; after every step the builder's view must
// equal the view decoded from scratch from what etcd holds.
//
// Input, one step per chunk: OP SLOT [LEN VALUE...]. OP % 6: 0-1 put VALUE at SLOT (delivered
// as one event), 2 put and deliver the last two changes together (a collapsed delivery),
// 3 delete SLOT, 4 re-list, 5 progress. SLOT % 8 picks one of eight keys (one a key with
// control characters, one nested). A put's value is LEN % 64 bytes of input, or, when LEN
// is 255, one of a few well-formed records. A redelivery of the last events follows every
// step whose OP is odd.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "check.hpp"
#include "registry/server_record.hpp"
#include "registry/view_builder.hpp"

namespace {

using frodo::ServerInfo;
using frodo::etcd::KeyValue;
using frodo::etcd::WatchEvent;

const std::string prefix = "/frodo/f/servers/";
const char* const addresses[8] = {"a:1", "b:2", "c:3", "d:4", "e:5", "[::1]:6", "\x1b[2Jx:7", "g:8/nested"};

std::string record(const std::string& address, std::uint8_t variant) {
  switch (variant % 4) {
    case 0: return "{\"address\":\"" + address + "\"}";
    case 1: return "{\"address\":\"" + address + "\",\"weight\":2,\"zone\":\"z\"}";
    case 2: return "{\"address\":\"" + address + "\",\"meta\":{\"k\":\"v" + std::to_string(variant) + "\"}}";
    default: return "{\"address\":\"" + address + "\",\"weight\":1e308}";
  }
}

std::vector<ServerInfo> expected(const std::map<std::string, std::pair<std::string, std::int64_t>>& kvs) {
  std::vector<ServerInfo> out;
  for (const auto& [key, value] : kvs) {
    std::string problem;
    if (auto s = frodo::detail::decode_server(key.substr(prefix.size()), value.first, &problem)) out.push_back(*s);
  }
  return out;  // keys sort as their addresses do: the prefix is common
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using frodo::fuzz::check;
  frodo::detail::ViewBuilder builder(prefix, frodo::detail::default_max_value_bytes);
  std::map<std::string, std::pair<std::string, std::int64_t>> kvs;
  std::int64_t revision = 1;
  std::vector<WatchEvent> last_events;
  auto list = [&] {
    frodo::etcd::RangeResult r;
    r.revision = revision;
    r.cluster_id = 1;
    for (const auto& [key, value] : kvs) r.kvs.push_back(KeyValue{key, value.first, 0, value.second, 1, 0});
    return r;
  };
  frodo::RegistryView view = builder.relist(list()).view;
  std::size_t i = 0;
  auto next = [&]() -> std::uint8_t { return i < size ? data[i++] : 0; };
  while (i < size) {
    std::uint8_t op = next() % 6;
    std::string key = prefix + addresses[next() % 8];
    auto put = [&] {
      std::uint8_t len = next();
      std::string value;
      if (len == 255) {
        value = record(key.substr(prefix.size()), next());
      } else {
        for (int k = 0; k < len % 64 && i < size; ++k) value += static_cast<char>(next());
      }
      kvs[key] = {value, ++revision};
      return WatchEvent{WatchEvent::Type::put, KeyValue{key, value, 0, revision, 1, 0}};
    };
    if (op <= 1) {
      last_events = {put()};
      view = builder.apply(last_events, revision).view;
    } else if (op == 2) {
      WatchEvent first = put();
      std::string other = prefix + addresses[next() % 8];
      key = other;
      last_events = {first, put()};
      view = builder.apply(last_events, revision).view;
    } else if (op == 3) {
      if (kvs.erase(key)) ++revision;
      last_events = {WatchEvent{WatchEvent::Type::remove, KeyValue{key, "", 0, revision, 0, 0}}};
      view = builder.apply(last_events, revision).view;
    } else if (op == 4) {
      view = builder.relist(list()).view;
    } else {
      ++revision;
      auto progressed = builder.progress(revision);
      check(progressed.has_value(), "a newer revision gives a view");
      view = *progressed;
    }
    if ((op & 1) && !last_events.empty()) view = builder.apply(last_events, revision).view;  // redelivered
    std::vector<ServerInfo> want = expected(kvs);
    check(std::vector<ServerInfo>(view.servers.begin(), view.servers.end()) == want,
          "the view equals a from-scratch decode of what etcd holds");
    check(view.revision == revision, "the view is at etcd's revision");
    check(!view.restarted, "one cluster is never a restart");
  }
  return 0;
}
