// The Prometheus text of ClusterStats and GuardStats, through prometheus-cpp's serializer (it
// escapes label values and writes +Inf and the number formats the format requires).
#include "frodo/metrics.hpp"

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <cinttypes>
#include <cstdio>
#include <limits>

namespace frodo {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

class Families {
 public:
  // Starts a family (a name, its help and type); the samples that follow belong to it.
  void begin(std::string name, std::string help, MetricType type) {
    families_.push_back(MetricFamily{std::move(name), std::move(help), type, {}});
  }

  void value(Labels labels, double v) {
    ClientMetric m;
    m.label = std::move(labels);
    switch (families_.back().type) {
      case MetricType::Counter: m.counter.value = v; break;
      case MetricType::Gauge: m.gauge.value = v; break;
      default: m.untyped.value = v; break;
    }
    families_.back().metric.push_back(std::move(m));
  }

  void histogram(Labels labels, const Histogram& h) {
    ClientMetric m;
    m.label = std::move(labels);
    m.histogram.sample_count = h.count;
    m.histogram.sample_sum = h.sum;
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < h.counts.size(); ++i) {
      cumulative += h.counts[i];
      double bound = i < h.bounds.size() ? h.bounds[i] : std::numeric_limits<double>::infinity();
      m.histogram.bucket.push_back({cumulative, bound});
    }
    if (h.counts.size() <= h.bounds.size()) {  // no +Inf bucket given: every observation is in it
      m.histogram.bucket.push_back({h.count, std::numeric_limits<double>::infinity()});
    }
    families_.back().metric.push_back(std::move(m));
  }

  std::string text() const { return prometheus::TextSerializer().Serialize(families_); }

 private:
  std::vector<MetricFamily> families_;
};

std::string hex(std::uint64_t v) {
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016" PRIx64, v);
  return buffer;
}

// Label values: one word each (to_string(LeaseLossReason) is a phrase for people).
const char* label_of(LeaseLossReason reason) {
  switch (reason) {
    case LeaseLossReason::expired: return "expired";
    case LeaseLossReason::revoked: return "revoked";
    case LeaseLossReason::unreachable: return "unreachable";
    case LeaseLossReason::closed: return "closed";
  }
  return "unknown";
}

void add_cluster(Families& f, const ClusterStats& c) {
  const Labels context{{"context", c.context}};
  auto with = [&](const char* name, std::string value) {
    Labels labels = context;
    labels.push_back({name, std::move(value)});
    return labels;
  };
  f.begin("frodo_view_info", "The current view: its ring's algorithm and checksum (value 1)", MetricType::Gauge);
  Labels info = with("algorithm", to_string(c.algorithm));
  info.push_back({"checksum", hex(c.checksum)});
  f.value(info, 1);
  f.begin("frodo_view_revision", "The etcd revision the current view reflects (0: no view yet)", MetricType::Gauge);
  f.value(context, static_cast<double>(c.revision));
  f.begin("frodo_view_servers", "Servers registered in the current view", MetricType::Gauge);
  f.value(context, static_cast<double>(c.servers));
  f.begin("frodo_ring_members", "Servers in the current ring (registered and not leaving)", MetricType::Gauge);
  f.value(context, static_cast<double>(c.ring_members));
  f.begin("frodo_view_changes_total", "Views published, the first one included", MetricType::Counter);
  f.value(context, static_cast<double>(c.view_changes));
  f.begin("frodo_registry_restarts_total", "Times etcd was seen replaced (a new cluster id, revisions restarted)",
          MetricType::Counter);
  f.value(context, static_cast<double>(c.restarts));
  f.begin("frodo_callback_errors_total", "on_change and on_lease_lost callbacks that threw", MetricType::Counter);
  f.value(context, static_cast<double>(c.callback_errors));
  f.begin("frodo_lease_alive", "1 while this process's lease is alive by its own clock (or no lease is needed)",
          MetricType::Gauge);
  f.value(context, c.lease_alive ? 1 : 0);
  f.begin("frodo_lease_losses_total", "Leases lost, by reason", MetricType::Counter);
  for (LeaseLossReason reason : {LeaseLossReason::expired, LeaseLossReason::revoked, LeaseLossReason::unreachable}) {
    auto it = c.lease_losses.find(reason);
    f.value(with("reason", label_of(reason)), it == c.lease_losses.end() ? 0 : static_cast<double>(it->second));
  }
  f.begin("frodo_view_publications_total", "Records written again to publish this process's view (publish_view)",
          MetricType::Counter);
  f.value(context, static_cast<double>(c.view_publications));
  f.begin("frodo_watch_restarts_total", "etcd watch streams that failed and were opened again", MetricType::Counter);
  f.value(context, static_cast<double>(c.registry.watch_restarts));
  f.begin("frodo_resyncs_total", "Re-listings of the context (a compacted revision, another etcd cluster)",
          MetricType::Counter);
  f.value(context, static_cast<double>(c.registry.resyncs));
  f.begin("frodo_skipped_values_total", "Values under the context's prefix skipped as not server records",
          MetricType::Counter);
  f.value(context, static_cast<double>(c.registry.skipped_values));
  f.begin("frodo_etcd_call_duration_seconds", "etcd calls by RPC, retries and failover included",
          MetricType::Histogram);
  for (const EtcdCallStats& call : c.registry.etcd_calls) f.histogram(with("method", call.method), call.latency);
  f.begin("frodo_etcd_call_failures_total", "etcd calls that failed after their retries, by RPC", MetricType::Counter);
  for (const EtcdCallStats& call : c.registry.etcd_calls) {
    f.value(with("method", call.method), static_cast<double>(call.failures));
  }
}

void add_guards(Families& f, const std::string& context,
                const std::vector<std::pair<std::string, GuardStats>>& guards) {
  if (guards.empty()) return;
  auto labels = [&](const std::string& server) { return Labels{{"context", context}, {"server", server}}; };
  f.begin("frodo_guard_verdicts_total", "admit() verdicts, by verdict and (for wait) reason", MetricType::Counter);
  for (const auto& entry : guards) {
    const std::string& server = entry.first;  // named, not bound: clang 14 cannot capture a binding
    const GuardStats& g = entry.second;
    auto verdict = [&](const char* v, const std::string& reason, std::uint64_t n) {
      Labels l = labels(server);
      l.push_back({"verdict", v});
      l.push_back({"reason", reason});
      f.value(l, static_cast<double>(n));
    };
    verdict("admit", "", g.admitted);
    verdict("redirect", "", g.redirected);
    for (const auto& [reason, n] : g.waits) verdict("wait", reason, n);
  }
  f.begin("frodo_guard_handoff_duration_seconds", "From a change of the ring until every guarded server released it",
          MetricType::Histogram);
  for (const auto& [server, g] : guards) f.histogram(labels(server), g.handoff);
  f.begin("frodo_guard_releases_total", "Epochs this server published as released", MetricType::Counter);
  for (const auto& [server, g] : guards) f.value(labels(server), static_cast<double>(g.releases));
  f.begin("frodo_guard_peers_given_up_total", "Times a peer that did not release within release_timeout was given up on",
          MetricType::Counter);
  for (const auto& [server, g] : guards) f.value(labels(server), static_cast<double>(g.given_up));
  f.begin("frodo_guard_epoch", "The current epoch (the revision of the last change of the ring)", MetricType::Gauge);
  for (const auto& [server, g] : guards) f.value(labels(server), static_cast<double>(g.epoch));
  f.begin("frodo_guard_released_epoch", "The epoch this server last published as released", MetricType::Gauge);
  for (const auto& [server, g] : guards) f.value(labels(server), static_cast<double>(g.released));
  f.begin("frodo_guard_settled", "1 when every guarded server has released the current epoch", MetricType::Gauge);
  for (const auto& [server, g] : guards) f.value(labels(server), g.settled ? 1 : 0);
  f.begin("frodo_guard_unsettled_rings", "Rings kept since the last settled epoch", MetricType::Gauge);
  for (const auto& [server, g] : guards) f.value(labels(server), static_cast<double>(g.unsettled));
}

}  // namespace

std::string prometheus_text(const ClusterStats& cluster,
                            const std::vector<std::pair<std::string, GuardStats>>& guards) {
  Families f;
  add_cluster(f, cluster);
  add_guards(f, cluster.context, guards);
  return f.text();
}

std::string prometheus_text(const Cluster& cluster, const std::vector<const Guard*>& guards) {
  std::vector<std::pair<std::string, GuardStats>> stats;
  for (const Guard* g : guards) {
    if (g != nullptr) stats.emplace_back(g->address(), g->stats());
  }
  return prometheus_text(cluster.stats(), stats);
}

}  // namespace frodo
