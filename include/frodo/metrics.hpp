// Metrics: a Cluster's and its Guards' stats in the Prometheus text exposition format
// (version 0.0.4), to serve at /metrics. docs/metrics.md lists every metric.
//
//   std::string body = frodo::prometheus_text(cluster, {&guard});
//   // reply with Content-Type: frodo::prometheus_content_type
//
// Reading the stats takes each object's lock briefly (Cluster::stats, Guard::stats); the
// lookup and admit paths are never slowed by a scrape. Thread-safety: as those stats() calls.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "frodo/cluster.hpp"
#include "frodo/guard.hpp"

namespace frodo {

inline constexpr const char* prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

// The metrics of `cluster` and of `guards` (each a Guard on it; labelled with its address).
std::string prometheus_text(const Cluster& cluster, const std::vector<const Guard*>& guards = {});

// The same from stats read earlier: a guard's entry is (its address, its stats).
std::string prometheus_text(const ClusterStats& cluster,
                            const std::vector<std::pair<std::string, GuardStats>>& guards = {});

}  // namespace frodo
