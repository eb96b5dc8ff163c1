// ServerInfo (one registered server) and ServerList (the servers of one view).
//
// A ServerList is immutable and holds its records by shared pointer: a new view shares every
// record that did not change with the view before it, so the memory a process holds is
// proportional to the current membership, not to the number of changes it has seen.
// Copying a ServerList copies pointers, never records. Any number of threads may read one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace frodo {

// One registered server, as stored under <prefix>/<context>/servers/<address>.
struct ServerInfo {
  std::string address;  // host:port, see address.hpp
  double weight = 1;    // in [Ring::min_weight, Ring::max_weight]
  std::string zone;     // valid UTF-8 without control characters, at most 256 bytes
  std::map<std::string, std::string> meta;  // string values only (see docs/etcd-schema.md)
  // The record's identity, filled in by the registry on the servers of a view (not stored in
  // the value; what is put ignores them): the revision that created the key, and the lease
  // it hangs on (0: persistent). A server that is deleted and registered again is a new
  // record (a new `created`) even at the same address; one re-attached to a re-granted
  // lease keeps `created` and changes `lease`.
  std::int64_t created = 0;
  std::int64_t lease = 0;

  friend bool operator==(const ServerInfo&, const ServerInfo&) = default;
};

class ServerList {
 public:
  using Record = std::shared_ptr<const ServerInfo>;

  // Iterates the servers as `const ServerInfo&`.
  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = ServerInfo;
    using difference_type = std::ptrdiff_t;
    using pointer = const ServerInfo*;
    using reference = const ServerInfo&;

    const_iterator() = default;
    explicit const_iterator(std::vector<Record>::const_iterator it) : it_(it) {}
    reference operator*() const { return **it_; }
    pointer operator->() const { return it_->get(); }
    reference operator[](difference_type n) const { return *it_[n]; }
    const_iterator& operator++() { ++it_; return *this; }
    const_iterator operator++(int) { return const_iterator(it_++); }
    const_iterator& operator--() { --it_; return *this; }
    const_iterator operator--(int) { return const_iterator(it_--); }
    const_iterator& operator+=(difference_type n) { it_ += n; return *this; }
    const_iterator& operator-=(difference_type n) { it_ -= n; return *this; }
    friend const_iterator operator+(const_iterator a, difference_type n) { return a += n; }
    friend const_iterator operator+(difference_type n, const_iterator a) { return a += n; }
    friend const_iterator operator-(const_iterator a, difference_type n) { return a -= n; }
    friend difference_type operator-(const const_iterator& a, const const_iterator& b) { return a.it_ - b.it_; }
    friend bool operator==(const const_iterator& a, const const_iterator& b) { return a.it_ == b.it_; }
    friend auto operator<=>(const const_iterator& a, const const_iterator& b) { return a.it_ <=> b.it_; }

   private:
    std::vector<Record>::const_iterator it_;
  };
  using iterator = const_iterator;
  using value_type = ServerInfo;
  using size_type = std::size_t;

  ServerList() = default;
  // Takes the records as given; none may be null. Views keep them sorted by address.
  explicit ServerList(std::vector<Record> records) : records_(std::move(records)) {}

  const_iterator begin() const { return const_iterator(records_.begin()); }
  const_iterator end() const { return const_iterator(records_.end()); }
  std::size_t size() const { return records_.size(); }
  bool empty() const { return records_.empty(); }
  const ServerInfo& operator[](std::size_t i) const { return *records_[i]; }
  const ServerInfo& at(std::size_t i) const { return *records_.at(i); }
  const std::vector<Record>& records() const { return records_; }

  // Equal when the servers are equal, record by record (shared records compare at once).
  friend bool operator==(const ServerList& a, const ServerList& b) {
    if (a.records_.size() != b.records_.size()) return false;
    for (std::size_t i = 0; i < a.records_.size(); ++i) {
      if (a.records_[i] != b.records_[i] && *a.records_[i] != *b.records_[i]) return false;
    }
    return true;
  }

 private:
  std::vector<Record> records_;
};

}  // namespace frodo
