#include "watcher.hpp"

#include <algorithm>

namespace frodo::etcd {

struct Watcher::Stream {
  std::size_t endpoint = 0;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>> rw;
  std::int64_t watch_id = -1;
  std::string token;     // the auth token the stream carries ("" without auth)
  bool refused = false;  // etcd refused the watch or the token
};

Watcher::Watcher(std::shared_ptr<Connection> connection, std::string prefix, std::int64_t start_revision,
                 WatcherCallbacks callbacks, WatcherOptions options)
    : connection_(std::move(connection)),
      prefix_(std::move(prefix)),
      callbacks_(std::move(callbacks)),
      options_(options),
      next_revision_(start_revision) {
  ignores_progress_.assign(connection_->endpoint_count(), false);
  if (start_revision <= 0) {
    throw Error(Errc::invalid_argument, "watch start revision must be > 0, got " + std::to_string(start_revision));
  }
  if (!callbacks_.on_events || !callbacks_.on_resync) {
    throw Error(Errc::invalid_argument, "a watcher needs on_events and on_resync callbacks");
  }
  thread_ = std::thread([this] { run(); });
  watchdog_thread_ = std::thread([this] { watchdog(); });
}

Watcher::~Watcher() { close(); }

void Watcher::close() {
  {
    detail::MutexLock lock(mutex_);
    closing_ = true;
    if (stream_) stream_->context.TryCancel();
    if (check_) check_->TryCancel();
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  if (watchdog_thread_.joinable()) watchdog_thread_.join();
}

void Watcher::report(const Error& error) noexcept {
  if (!callbacks_.on_error) return;
  try {
    callbacks_.on_error(error);
  } catch (...) {
    // Nothing to tell a reporter that fails.
  }
}

void Watcher::run() {
  while (true) {
    try {
      run_streams();  // returns when closing or when the caller must re-list
      return;
    } catch (const std::exception& e) {
      // serve() catches what callbacks throw; this is the rest (no memory, a bug): say so,
      // then go on from the first undelivered revision.
      report(Error(Errc::internal, std::string("watch ") + prefix_ + " failed, restarting: " + e.what()));
    } catch (...) {
      report(Error(Errc::internal, "watch " + prefix_ + " failed, restarting"));
    }
    const Clock::time_point retry_at = Clock::now() + std::chrono::seconds(1);
    detail::MutexLock lock(mutex_);
    while (!closing_ && wake_.wait_until(lock, retry_at)) {
    }
    if (closing_) return;
  }
}

void Watcher::run_streams() {
  auto backoff = std::chrono::milliseconds(50);
  while (true) {
    Stream stream;
    {
      detail::MutexLock lock(mutex_);
      if (closing_) return;
      stream.endpoint = connection_->current_endpoint();
    }
    stream.context.AddMetadata("hasleader", "true");
    // Wait for the channel to connect rather than fail fast on its last error; the watchdog
    // abandons a stream that stays silent, so a dead member still costs only a probe period.
    stream.context.set_wait_for_ready(true);
    bool keep_going = true;
    try {
      stream.token = connection_->authorize(stream.context, Clock::now() + connection_->options().call_timeout);
      keep_going = serve(stream);
    } catch (const Error& e) {
      report(e);
    }
    if (!keep_going) return;
    if (stream.refused &&
        (!last_reauthentication_ || Clock::now() - *last_reauthentication_ >= std::chrono::seconds(10))) {
      // Most likely the token expired (etcd forgets simple tokens after --auth-token-ttl
      // without use, and all of them when it restarts): the next stream gets a new one.
      connection_->invalidate_token(stream.token);
      last_reauthentication_ = Clock::now();
    }
    detail::MutexLock lock(mutex_);
    if (closing_) return;
    if (options_.restarts) options_.restarts->fetch_add(1, std::memory_order_relaxed);
    connection_->mark_failed(stream.endpoint);
    // Back off a little between attempts so a cluster that is down is not hammered.
    const Clock::time_point retry_at = Clock::now() + backoff;
    while (!closing_ && wake_.wait_until(lock, retry_at)) {
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    if (stream.watch_id >= 0) backoff = std::chrono::milliseconds(50);  // that stream had worked
  }
}

bool Watcher::serve(Stream& stream) {
  Endpoint& endpoint = connection_->endpoint(stream.endpoint);
  {
    // Visible to close() and the watchdog before the call starts: with wait-for-ready the
    // call itself blocks until the member accepts it, and a context cancelled early cancels
    // the call as soon as it starts.
    detail::MutexLock lock(mutex_);
    if (closing_) return false;
    stream_ = &stream;
    ++stream_serial_;
    last_heard_ = Clock::now();
    probe_sent_ = true;  // no progress probe before the create request has gone out
  }
  auto rw = endpoint.watch->Watch(&stream.context);
  ++streams_opened_;
  {
    detail::MutexLock lock(mutex_);
    stream.rw = std::move(rw);
    if (closing_ || stream_ != &stream) {  // closed, or abandoned by the watchdog meanwhile
      stream_ = nullptr;
      stream.context.TryCancel();
      stream.rw->Finish();
      return !closing_;
    }
    probe_sent_ = false;
    etcdserverpb::WatchRequest request;
    auto* create = request.mutable_create_request();
    create->set_key(prefix_);
    create->set_range_end(prefix_end(prefix_));
    create->set_start_revision(next_revision_.load());
    create->set_progress_notify(true);
    create->set_fragment(true);
    stream.rw->Write(request);  // a failure shows up as a failed Read below
  }

  bool keep_going = true;
  try {
    keep_going = read_stream(stream, endpoint);
  } catch (const std::exception& e) {
    // A callback threw: its events were not marked delivered; the next stream resumes there.
    report(Error(Errc::internal, std::string("watch ") + prefix_ + ": a callback threw, resuming from revision " +
                                     std::to_string(next_revision_.load()) + ": " + e.what()));
  } catch (...) {
    report(Error(Errc::internal, "watch " + prefix_ + ": a callback threw, resuming from revision " +
                                     std::to_string(next_revision_.load())));
  }

  std::uint64_t foreign_cluster = 0;
  std::string foreign_endpoint;
  {
    detail::MutexLock lock(mutex_);
    stream_ = nullptr;
    if (closing_) keep_going = false;
    foreign_cluster = foreign_cluster_;
    foreign_endpoint = foreign_endpoint_;
  }
  stream.context.TryCancel();
  grpc::Status status = stream.rw->Finish();
  if (keep_going && foreign_cluster != 0) {
    report(Error(Errc::unavailable, "etcd at " + foreign_endpoint + " belongs to another cluster (id " +
                                        std::to_string(foreign_cluster) + ", expected " +
                                        std::to_string(options_.cluster_id) + "): re-listing"));
    callbacks_.on_resync(0);
    return false;
  }
  if (is_invalid_token(status)) stream.refused = true;
  if (keep_going && !status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
    report(to_error(status, endpoint.address, "watch " + prefix_));
    if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      // One event larger than a message may be: no stream can get past it. A listing
      // can (it skips the value), so hand over to the caller.
      callbacks_.on_resync(0);
      return false;
    }
  }
  return keep_going;
}

bool Watcher::read_stream(Stream& stream, Endpoint& endpoint) {
  etcdserverpb::WatchResponse response;
  std::vector<WatchEvent> events;  // of the revision(s) being put together from fragments
  while (stream.rw->Read(&response)) {
    {
      detail::MutexLock lock(mutex_);
      last_heard_ = Clock::now();
      // The answer to a progress request (not the create request's: that is the only one
      // before the stream's first probe, and it says "created").
      if (probe_sent_ && response.events_size() == 0 && !response.created() && !response.canceled()) {
        probes_answered_.fetch_add(1, std::memory_order_relaxed);
      }
      probe_sent_ = false;
    }
    if (options_.cluster_id != 0 && response.header().cluster_id() != 0 &&
        response.header().cluster_id() != options_.cluster_id) {
      // Another etcd answers at these endpoints: its revisions mean nothing to this watch.
      report(Error(Errc::unavailable, "etcd at " + endpoint.address + " belongs to another cluster (id " +
                                          std::to_string(response.header().cluster_id()) + ", expected " +
                                          std::to_string(options_.cluster_id) + "): re-listing"));
      callbacks_.on_resync(0);
      return false;
    }
    if (response.compact_revision() > 0) {
      // The revision we must resume from is gone: the caller has to re-list.
      callbacks_.on_resync(response.compact_revision());
      return false;
    }
    if (response.canceled()) {
      // Before `created`: etcd refuses a watch by answering the create request with both.
      if (response.created() && stream.watch_id < 0) stream.refused = true;
      report(Error(Errc::unavailable, "etcd at " + endpoint.address + ": watch cancelled: " + response.cancel_reason()));
      return true;
    }
    if (response.created()) {
      stream.watch_id = response.watch_id();
      continue;
    }
    if (response.events_size() == 0 && events.empty()) {
      // A progress notification for this watch means every change up to the header's
      // revision has been delivered. (etcd 3.4 answers a progress *request* with watch id
      // -1 and the store's revision even when this watch is behind: that one only proves
      // the stream is alive.)
      if (response.watch_id() == stream.watch_id && response.watch_id() >= 0) {
        std::int64_t revision = response.header().revision();
        if (revision + 1 > next_revision_.load()) {
          next_revision_.store(revision + 1);
          if (callbacks_.on_progress) callbacks_.on_progress(revision);
        }
      }
      continue;
    }
    for (const auto& e : response.events()) {
      // Below next_revision_ means already delivered: either as an event, or covered by a
      // progress notification of this watch, which etcd sends only once every event up to
      // its revision has been sent on the stream. So this drops duplicates only.
      if (e.kv().mod_revision() < next_revision_.load()) continue;
      WatchEvent event;
      event.type = e.type() == etcdserverpb::Event::DELETE ? WatchEvent::Type::remove : WatchEvent::Type::put;
      event.kv = from_proto(e.kv());
      events.push_back(std::move(event));
    }
    if (response.fragment()) continue;  // more of the same revision follows
    if (events.empty()) continue;
    std::int64_t last = 0;
    for (const WatchEvent& event : events) last = std::max(last, event.kv.mod_revision);
    std::vector<WatchEvent> delivered = std::move(events);
    events.clear();
    callbacks_.on_events(delivered, last);  // may throw: then nothing below runs
    next_revision_.store(last + 1);
  }
  return true;
}

void Watcher::watchdog() {
  try {
    watch_streams();
  } catch (const std::exception& e) {
    report(Error(Errc::internal, std::string("watch ") + prefix_ + ": the watchdog stopped: " + e.what()));
  } catch (...) {
    report(Error(Errc::internal, "watch " + prefix_ + ": the watchdog stopped"));
  }
}

void Watcher::watch_streams() {
  detail::MutexLock lock(mutex_);
  while (!closing_) {
    wake_.wait_for(lock, std::max(options_.idle_probe / 4, std::chrono::milliseconds(10)));
    if (closing_ || !stream_) continue;
    Clock::time_point now = Clock::now();
    const std::uint64_t serial = stream_serial_;
    if (now - last_heard_ >= options_.idle_probe + connection_->options().call_timeout) {
      // Asked for progress and heard nothing. An endpoint that answers a call all the same
      // ignores progress requests (etcd's gRPC proxy): the stream is kept, and probed with
      // calls from now on. Otherwise the member is frozen or cut off.
      if (stream_->rw && !ignores_progress_[stream_->endpoint]) {
        const std::size_t endpoint = stream_->endpoint;
        const bool answers = endpoint_answers();
        if (answers) ignores_progress_[endpoint] = true;
        if (closing_ || !stream_ || stream_serial_ != serial) continue;  // that stream ended meanwhile
        if (answers && foreign_cluster_ == 0) {
          last_heard_ = Clock::now();
          probe_sent_ = false;
          continue;
        }
      }
      stream_->context.TryCancel();
      stream_ = nullptr;  // serve() finishes it; do not cancel twice
      continue;
    }
    if (!probe_sent_ && stream_->rw && now - last_heard_ >= options_.idle_probe) {
      if (!ignores_progress_[stream_->endpoint]) {
        etcdserverpb::WatchRequest request;
        request.mutable_progress_request();
        stream_->rw->Write(request);
        probe_sent_ = true;
        continue;
      }
      const bool answers = endpoint_answers();
      if (closing_ || !stream_ || stream_serial_ != serial) continue;
      if (answers && foreign_cluster_ == 0) {
        last_heard_ = Clock::now();
      } else {
        stream_->context.TryCancel();
        stream_ = nullptr;
      }
    }
  }
}

bool Watcher::endpoint_answers() {
  Endpoint& endpoint = connection_->endpoint(stream_->endpoint);
  const std::string token = stream_->token;
  // The member's status: answered by the member without asking the leader, and by a proxy
  // from the member it uses (a proxy answers reads from its cache), so the answer says
  // which etcd cluster is behind the endpoint now.
  etcdserverpb::StatusRequest request;
  etcdserverpb::StatusResponse response;
  grpc::ClientContext context;
  set_deadline(context, Clock::now() + connection_->options().call_timeout);
  if (!token.empty()) context.AddMetadata("token", token);
  check_ = &context;
  mutex_.unlock();
  const grpc::Status status = endpoint.maintenance->Status(&context, request, &response);
  mutex_.lock();
  check_ = nullptr;
  const std::uint64_t cluster_id = status.ok() ? response.header().cluster_id() : 0;
  if (options_.cluster_id != 0 && cluster_id != 0 && cluster_id != options_.cluster_id && stream_) {
    // etcd was replaced behind the endpoint (a proxy): its stream, still open, would stay
    // silent until the new etcd's revisions reach the watched one. serve() re-lists.
    foreign_cluster_ = cluster_id;
    foreign_endpoint_ = endpoint.address;
  }
  const bool answered = status.error_code() != grpc::StatusCode::UNAVAILABLE &&
                        status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED &&
                        status.error_code() != grpc::StatusCode::CANCELLED;
  if (answered) probes_answered_.fetch_add(1, std::memory_order_relaxed);
  return answered;
}

}  // namespace frodo::etcd
