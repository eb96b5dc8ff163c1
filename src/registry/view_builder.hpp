// ViewBuilder: the membership of one context, built from what etcd says about the keys under
// its servers/ prefix (a listing, then watch events and progress), one view per step.
//
// Pure: no I/O, no threads, no lock (its owner serialises the calls). Every stored value is
// decoded under the record limits (server_record.hpp); a value that is refused is left out
// of the view and reported once: again only when it is rewritten.
//
// Contract:
// - A view lists every key whose current value decodes, sorted by address; records that did
//   not change are shared with the view before (same pointers).
// - relist() replaces everything: the result is the same whatever came before it, except
//   that known bad values are not reported again and unchanged records are shared.
// - apply() is idempotent: applying the same events again yields the same view.
#pragma once

#include <cstdint>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "etcd/records.hpp"
#include "frodo/registry.hpp"

namespace frodo::detail {

class ViewBuilder {
 public:
  struct Step {
    RegistryView view;
    std::vector<std::string> warnings;  // one per value skipped in this step, printable
  };

  ViewBuilder(std::string prefix, std::size_t max_value_bytes);

  // A complete listing at `list.revision`. `restarted` is set when the listing comes from
  // another etcd cluster than the one before (cluster ids differ).
  Step relist(const etcd::RangeResult& list);
  // Watch events up to `revision`.
  Step apply(const std::vector<etcd::WatchEvent>& events, std::int64_t revision);
  // Nothing changed up to `revision`: a view if it is newer than the last one.
  std::optional<RegistryView> progress(std::int64_t revision);

  std::int64_t revision() const { return revision_; }
  std::size_t skipped() const { return skipped_.size(); }

 private:
  void put(std::map<std::string, ServerList::Record>& servers, const etcd::KeyValue& kv,
           std::map<std::string, std::int64_t>& skipped, std::vector<std::string>& warnings) const;
  ServerList current() const;

  std::string prefix_;
  std::size_t max_value_bytes_;
  std::map<std::string, ServerList::Record> servers_;  // by address
  std::map<std::string, std::int64_t> skipped_;        // key -> mod revision of the bad value reported
  std::int64_t revision_ = 0;
  std::uint64_t cluster_id_ = 0;
};

}  // namespace frodo::detail
