// Watcher: every change under a key prefix, in revision order, exactly once, from a given
// revision on — across broken streams, dead members and restarts.
//
// Contract:
// - on_events gets the events of one or more whole revisions, oldest first, never an event
//   twice and never with a gap: when a stream breaks, the watch resumes from the last
//   delivered revision + 1 on the next endpoint.
// - When that revision has been compacted away, on_resync(compact_revision) is called and
//   the watcher stops: the caller re-lists (which gives a new revision) and starts a new
//   Watcher from there. It never skips ahead silently.
// - Streams carry hasleader=true, so a member cut off from its cluster refuses them; a
//   stream that stays silent is probed with a progress request, and one that does not
//   answer within the call timeout is abandoned for the next endpoint, unless its endpoint
//   still answers a call (its status, within the call timeout): etcd's gRPC proxy ignores
//   progress requests (etcd issue 19710), so through it the stream is kept, and from then
//   on that endpoint's silent streams are probed with that call.
// - Progress notifications from etcd (nothing changed up to revision R) advance the known
//   revision and are passed to on_progress.
// - Responses larger than a gRPC message are asked of etcd in fragments and put back
//   together, so no revision is too large to deliver.
// - With WatcherOptions::cluster_id set, a response from another etcd cluster (etcd restored
//   or re-created under the same endpoints: revisions started over) stops the watcher with
//   on_resync(0): the caller re-lists. Through a proxy the stream stays open when etcd is
//   replaced behind it, so the status call that probes a silent stream is checked too.
// - A watch etcd refuses (it answers the create request with "created" and "canceled" at
//   once, "permission denied" when the stream's auth token has expired or was never good)
//   is reported to on_error and retried; the first refusal also drops the connection's
//   token, so the retry authenticates again (at most once per 10 s, as a user who really
//   lacks the permission would otherwise cost etcd a password check per retry).
// - Callbacks run on the watcher's thread, one at a time, never under its lock. An on_events
//   that throws is reported through on_error and its events are delivered again (the stream
//   is reopened from the first undelivered revision); nothing escapes the watcher's threads.
//   close() (and the destructor) stops the watcher; it must not be called from a callback.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "connection.hpp"
#include "core/mutex.hpp"
#include "kv.hpp"

namespace frodo::etcd {

struct WatcherCallbacks {
  std::function<void(const std::vector<WatchEvent>& events, std::int64_t revision)> on_events;
  std::function<void(std::int64_t revision)> on_progress;        // optional
  std::function<void(std::int64_t compact_revision)> on_resync;  // the watcher has stopped
  std::function<void(const Error& error)> on_error;             // optional: a stream failed; retrying
  // on_resync(0) means: re-list for another reason than a compaction (the answers come from
  // another etcd cluster than cluster_id, or one event is larger than a message may be); the
  // reason went to on_error first.
};

struct WatcherOptions {
  // A stream silent this long gets a progress request; silent for this plus the call
  // timeout, it is abandoned for the next endpoint.
  std::chrono::milliseconds idle_probe{1000};
  // The etcd cluster the watch belongs to (a listing's cluster id); 0: not checked.
  std::uint64_t cluster_id = 0;
  // Counts the streams that ended (failed, abandoned as silent) and were opened again; must
  // outlive the watcher. Optional.
  std::atomic<std::uint64_t>* restarts = nullptr;
};

class Watcher {
 public:
  // Watches every key starting with `prefix`, delivering events from `start_revision` on
  // (> 0; typically the revision of a listing + 1).
  Watcher(std::shared_ptr<Connection> connection, std::string prefix, std::int64_t start_revision,
          WatcherCallbacks callbacks, WatcherOptions options = {});
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // The next revision the watcher expects: every change before it has been delivered.
  std::int64_t next_revision() const { return next_revision_.load(); }
  // The number of streams opened so far (1 + reconnections).
  std::int64_t streams_opened() const { return streams_opened_.load(); }
  // The number of idle probes answered: progress requests, or calls where they go unanswered.
  std::int64_t probes_answered() const { return probes_answered_.load(); }
  void close();

 private:
  struct Stream;
  void run();
  void run_streams();
  void watchdog();
  void watch_streams();
  bool serve(Stream& stream);  // false when the watcher must stop (closing or resync)
  bool read_stream(Stream& stream, Endpoint& endpoint);  // the same, for one stream's responses
  void report(const Error& error) noexcept;
  // Whether the open stream's endpoint answers a call within the call timeout (any answer
  // but unavailable or a deadline: a refusal is an answer). Releases the lock meanwhile;
  // close() cancels the call.
  bool endpoint_answers() FRODO_REQUIRES(mutex_);

  std::shared_ptr<Connection> connection_;
  std::string prefix_;
  WatcherCallbacks callbacks_;
  WatcherOptions options_;
  std::atomic<std::int64_t> next_revision_;
  std::atomic<std::int64_t> streams_opened_{0};
  std::atomic<std::int64_t> probes_answered_{0};

  detail::Mutex mutex_;
  detail::CondVar wake_;
  bool closing_ FRODO_GUARDED_BY(mutex_) = false;
  Stream* stream_ FRODO_GUARDED_BY(mutex_) = nullptr;  // the open stream, for the watchdog and close()
  std::optional<Clock::time_point> last_reauthentication_;  // run()'s only: a refusal last dropped the token
  Clock::time_point last_heard_ FRODO_GUARDED_BY(mutex_){};  // when the open stream last said anything
  bool probe_sent_ FRODO_GUARDED_BY(mutex_) = false;
  std::uint64_t stream_serial_ FRODO_GUARDED_BY(mutex_) = 0;  // counts streams served, to tell them apart
  // Per endpoint: it answered calls but not a progress request (a gRPC proxy).
  std::vector<bool> ignores_progress_ FRODO_GUARDED_BY(mutex_);
  grpc::ClientContext* check_ FRODO_GUARDED_BY(mutex_) = nullptr;  // endpoint_answers()'s call, for close()
  // Not 0: endpoint_answers() found another etcd cluster (this id) behind foreign_endpoint_.
  std::uint64_t foreign_cluster_ FRODO_GUARDED_BY(mutex_) = 0;
  std::string foreign_endpoint_ FRODO_GUARDED_BY(mutex_);
  std::thread thread_;
  std::thread watchdog_thread_;
};

}  // namespace frodo::etcd
