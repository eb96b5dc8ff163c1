// ViewBuilder against a model: random puts (good and bad values), deletes, re-listings and
// progress, compared after every step with the view decoded from scratch.
#include "registry/view_builder.hpp"

#include <gtest/gtest.h>

#include <random>

#include "registry/server_record.hpp"

namespace frodo::detail {
namespace {

const std::string prefix = "/frodo/app/servers/";

// What etcd holds: key -> (value, mod revision).
struct Model {
  std::map<std::string, std::pair<std::string, std::int64_t>> kvs;
  std::int64_t revision = 1;

  etcd::RangeResult list() const {
    etcd::RangeResult r;
    r.revision = revision;
    r.cluster_id = 7;
    for (const auto& [key, value] : kvs) r.kvs.push_back({key, value.first, 0, value.second, 1, 0});
    return r;
  }
  // The view a from-scratch decode gives.
  std::vector<ServerInfo> expected() const {
    std::vector<ServerInfo> out;
    for (const auto& [key, value] : kvs) {
      std::string problem;
      if (auto s = decode_server(key.substr(prefix.size()), value.first, &problem)) out.push_back(*s);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.address < b.address; });
    return out;
  }
};

std::vector<ServerInfo> servers_of(const RegistryView& view) { return {view.servers.begin(), view.servers.end()}; }

std::string random_value(std::mt19937& rng, const std::string& address) {
  switch (rng() % 8) {
    case 0: return "{\"address\":\"" + address + "\",\"weight\":1e308}";
    case 1: return "{\"address\":\"" + address + "\",\"meta\":{\"x\":" + std::string(50, '[') + std::string(50, ']') + "}}";
    case 2: return "not json";
    case 3: return "{\"address\":\"" + address + "\",\"zone\":\"z" + std::to_string(rng() % 3) + "\"}";
    case 4: return "{\"address\":\"" + address + "\",\"meta\":{\"v\":\"" + std::to_string(rng() % 4) + "\"}}";
    default: return "{\"address\":\"" + address + "\",\"weight\":" + std::to_string(1 + rng() % 3) + "}";
  }
}

TEST(ViewBuilder, AgreesWithAFromScratchDecodeOverRandomHistories) {
  for (unsigned seed = 1; seed <= 40; ++seed) {
    std::mt19937 rng(seed);
    Model model;
    ViewBuilder builder(prefix, default_max_value_bytes);
    auto step = builder.relist(model.list());
    for (int i = 0; i < 300; ++i) {
      std::string address = "10.0.0." + std::to_string(rng() % 12) + ":1";
      std::string key = prefix + address;
      int action = static_cast<int>(rng() % 10);
      if (action < 6) {
        std::vector<etcd::WatchEvent> events;
        int n = 1 + static_cast<int>(rng() % 3);  // collapsed: several changes in one delivery
        for (int k = 0; k < n; ++k) {
          std::string a = "10.0.0." + std::to_string(rng() % 12) + ":1";
          std::string value = random_value(rng, a);
          model.kvs[prefix + a] = {value, ++model.revision};
          events.push_back({etcd::WatchEvent::Type::put, {prefix + a, value, 0, model.revision, 1, 0}});
        }
        step = builder.apply(events, model.revision);
        if (rng() % 4 == 0) step = builder.apply(events, model.revision);  // delivered twice
      } else if (action < 8) {
        if (model.kvs.erase(key)) ++model.revision;
        etcd::WatchEvent e{etcd::WatchEvent::Type::remove, {key, "", 0, model.revision, 0, 0}};
        step = builder.apply({e}, model.revision);
      } else if (action < 9) {
        step = builder.relist(model.list());
      } else {
        ++model.revision;  // a change elsewhere: progress only
        auto view = builder.progress(model.revision);
        ASSERT_TRUE(view);
        step.view = *view;
      }
      ASSERT_EQ(servers_of(step.view), model.expected()) << "seed " << seed << " step " << i;
      ASSERT_EQ(step.view.revision, model.revision);
      ASSERT_FALSE(step.view.restarted);
    }
  }
}

TEST(ViewBuilder, ABadValueIsReportedOncePerWrite) {
  ViewBuilder builder(prefix, default_max_value_bytes);
  etcd::RangeResult list;
  list.revision = 5;
  list.kvs.push_back({prefix + "a:1", "junk", 0, 4, 1, 0});
  EXPECT_EQ(builder.relist(list).warnings.size(), 1u);
  EXPECT_EQ(builder.relist(list).warnings.size(), 0u) << "a re-list reported it again";
  std::vector<etcd::WatchEvent> same = {{etcd::WatchEvent::Type::put, {prefix + "a:1", "junk", 0, 6, 2, 0}}};
  EXPECT_EQ(builder.apply(same, 6).warnings.size(), 1u) << "a rewrite is a new value";
  EXPECT_EQ(builder.apply(same, 6).warnings.size(), 0u) << "a redelivery is not";
  builder.apply({{etcd::WatchEvent::Type::remove, {prefix + "a:1", "", 0, 7, 0, 0}}}, 7);
  EXPECT_EQ(builder.skipped(), 0u);
}

TEST(ViewBuilder, UnchangedRecordsAreSharedAndAnotherClusterIsARestart) {
  ViewBuilder builder(prefix, default_max_value_bytes);
  etcd::RangeResult list;
  list.revision = 9;
  list.cluster_id = 1;
  list.kvs.push_back({prefix + "a:1", R"({"address":"a:1"})", 0, 3, 1, 0});
  list.kvs.push_back({prefix + "b:1", R"({"address":"b:1"})", 0, 4, 1, 0});
  RegistryView first = builder.relist(list).view;
  RegistryView second =
      builder.apply({{etcd::WatchEvent::Type::put, {prefix + "b:1", R"({"address":"b:1","zone":"z"})", 0, 10, 2, 0}}}, 10)
          .view;
  EXPECT_EQ(first.servers.records()[0], second.servers.records()[0]);
  EXPECT_NE(first.servers.records()[1], second.servers.records()[1]);
  RegistryView again = builder.relist(list).view;  // same values as the first listing: a, b
  EXPECT_EQ(again.servers.records()[0], first.servers.records()[0]);
  EXPECT_FALSE(again.restarted);
  list.cluster_id = 2;
  list.revision = 3;
  EXPECT_TRUE(builder.relist(list).view.restarted);
}

}  // namespace
}  // namespace frodo::detail
