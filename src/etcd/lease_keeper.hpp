// LeaseKeeper: holds one etcd lease alive over one keepalive stream, knows locally until
// when the lease is certainly alive, and reports its loss the moment it is known.
//
// Contract:
// - The constructor grants the lease (throws frodo::Error if etcd cannot be reached).
// - Keepalives go every TTL/3 over one LeaseKeepAlive stream; a broken stream is reopened on
//   the next endpoint.
// - deadline() is local and conservative: the send time of the newest answered keepalive
//   plus the TTL etcd answered. etcd keeps the lease at least that long, so while
//   Clock::now() < deadline() the lease (and every key attached to it) exists.
// - on_lost(id, reason) is called once per lease, from the keeper's threads and never under
//   its lock: `revoked` when etcd says the lease is gone before the local deadline,
//   `expired` when the local deadline passed (etcd said it is gone, or this process did
//   not send keepalives in time: it was frozen or starved), `unreachable` when the local
//   deadline passed while no etcd member answered.
// - With `regrant`, after a loss the keeper grants a new lease as soon as etcd answers and
//   calls on_granted(new_id); re-attaching keys to it is the caller's business.
// - close() stops the keeper and revokes the lease (within the call timeout; a failed revoke
//   is reported through on_warning: the lease then expires by itself within its TTL); it is
//   idempotent, and the destructor calls it.
// - alive() takes no lock (one atomic load and a clock read): safe on a lookup path.
// - Nothing escapes the keeper's threads: an exception from a callback or from a call is
//   reported through on_warning; if the keeper itself fails, the lease is reported lost.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>  // std::once_flag
#include <optional>
#include <thread>

#include "connection.hpp"
#include "core/mutex.hpp"

namespace frodo::etcd {

enum class LeaseLoss { expired, revoked, unreachable };
const char* to_string(LeaseLoss reason) noexcept;

struct LeaseKeeperOptions {
  std::chrono::seconds ttl{5};
  bool regrant = false;
};

class LeaseKeeper {
 public:
  using LostCallback = std::function<void(std::int64_t lease, LeaseLoss reason)>;
  using GrantedCallback = std::function<void(std::int64_t lease)>;
  using WarningCallback = std::function<void(const std::string& message)>;

  LeaseKeeper(std::shared_ptr<Connection> connection, LeaseKeeperOptions options, LostCallback on_lost,
              GrantedCallback on_granted = {}, WarningCallback on_warning = {});
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  std::int64_t id() const;                // 0 while lost (and not yet re-granted); takes no lock
  bool alive() const;                     // held, and the local deadline has not passed
  Clock::time_point deadline() const;     // see the contract above
  std::chrono::seconds granted_ttl() const;
  void close();

 private:
  struct Stream;
  void run();
  void keep();
  void read_loop(Stream* stream);
  void read_responses(Stream* stream);
  void warn(const std::string& message) noexcept;
  // The helpers below are called with mutex_ held and return with it held; those that call
  // out (gRPC, callbacks) release it meanwhile.
  void publish_alive() FRODO_REQUIRES(mutex_);  // alive_until_ from id_ and deadline_
  void lose(LeaseLoss reason) FRODO_REQUIRES(mutex_);
  bool open_stream() FRODO_REQUIRES(mutex_);
  void close_stream() FRODO_REQUIRES(mutex_);
  bool grant() FRODO_REQUIRES(mutex_);

  std::shared_ptr<Connection> connection_;
  LeaseKeeperOptions options_;
  LostCallback on_lost_;
  GrantedCallback on_granted_;
  WarningCallback on_warning_;
  std::atomic<Clock::rep> alive_until_{0};  // deadline_ while a lease is held, else 0
  std::atomic<std::int64_t> published_id_{0};  // id_, for readers without the lock

  mutable detail::Mutex mutex_;
  detail::CondVar wake_;
  bool closing_ FRODO_GUARDED_BY(mutex_) = false;
  std::int64_t id_ FRODO_GUARDED_BY(mutex_) = 0;
  std::chrono::seconds granted_ttl_ FRODO_GUARDED_BY(mutex_){0};
  Clock::time_point deadline_ FRODO_GUARDED_BY(mutex_){};
  // Send times of keepalives not yet answered (this stream).
  std::deque<Clock::time_point> unanswered_ FRODO_GUARDED_BY(mutex_);
  // A keepalive went out (on any stream) after the last answer.
  bool sent_since_answer_ FRODO_GUARDED_BY(mutex_) = false;
  std::unique_ptr<Stream> stream_ FRODO_GUARDED_BY(mutex_);
  bool stream_broken_ FRODO_GUARDED_BY(mutex_) = false;
  // etcd said the lease is gone; the keeper thread reports it.
  std::optional<LeaseLoss> gone_ FRODO_GUARDED_BY(mutex_);
  std::thread thread_;
  std::once_flag close_once_;
};

}  // namespace frodo::etcd
