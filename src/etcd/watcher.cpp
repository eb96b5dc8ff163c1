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
    std::lock_guard lock(mutex_);
    closing_ = true;
    if (stream_) stream_->context.TryCancel();
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  if (watchdog_thread_.joinable()) watchdog_thread_.join();
}

void Watcher::run() {
  auto backoff = std::chrono::milliseconds(50);
  while (true) {
    Stream stream;
    {
      std::lock_guard lock(mutex_);
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
      if (callbacks_.on_error) callbacks_.on_error(e);
    }
    if (!keep_going) return;
    if (stream.refused &&
        (!last_reauthentication_ || Clock::now() - *last_reauthentication_ >= std::chrono::seconds(10))) {
      // Most likely the token expired (etcd forgets simple tokens after --auth-token-ttl
      // without use, and all of them when it restarts): the next stream gets a new one.
      connection_->invalidate_token(stream.token);
      last_reauthentication_ = Clock::now();
    }
    std::unique_lock lock(mutex_);
    if (closing_) return;
    connection_->mark_failed(stream.endpoint);
    // Back off a little between attempts so a cluster that is down is not hammered.
    wake_.wait_for(lock, backoff, [this] { return closing_; });
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
    std::lock_guard lock(mutex_);
    if (closing_) return false;
    stream_ = &stream;
    last_heard_ = Clock::now();
    probe_sent_ = true;  // no progress probe before the create request has gone out
  }
  auto rw = endpoint.watch->Watch(&stream.context);
  ++streams_opened_;
  {
    std::lock_guard lock(mutex_);
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
    stream.rw->Write(request);  // a failure shows up as a failed Read below
  }

  bool keep_going = true;
  etcdserverpb::WatchResponse response;
  std::vector<WatchEvent> events;
  while (stream.rw->Read(&response)) {
    {
      std::lock_guard lock(mutex_);
      last_heard_ = Clock::now();
      probe_sent_ = false;
    }
    if (response.compact_revision() > 0) {
      // The revision we must resume from is gone: the caller has to re-list.
      callbacks_.on_resync(response.compact_revision());
      keep_going = false;
      break;
    }
    if (response.canceled()) {
      // Before `created`: etcd refuses a watch by answering the create request with both.
      if (response.created() && stream.watch_id < 0) stream.refused = true;
      if (callbacks_.on_error) {
        callbacks_.on_error(Error(Errc::unavailable, "etcd at " + endpoint.address +
                                                         ": watch cancelled: " + response.cancel_reason()));
      }
      break;
    }
    if (response.created()) {
      stream.watch_id = response.watch_id();
      continue;
    }
    if (response.events_size() == 0) {
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
    events.clear();
    std::int64_t last = 0;
    for (const auto& e : response.events()) {
      if (e.kv().mod_revision() < next_revision_.load()) continue;  // already delivered
      WatchEvent event;
      event.type = e.type() == etcdserverpb::Event::DELETE ? WatchEvent::Type::remove : WatchEvent::Type::put;
      event.kv = from_proto(e.kv());
      last = std::max(last, event.kv.mod_revision);
      events.push_back(std::move(event));
    }
    if (events.empty()) continue;
    next_revision_.store(last + 1);
    callbacks_.on_events(events, last);
  }

  {
    std::lock_guard lock(mutex_);
    stream_ = nullptr;
    if (closing_) keep_going = false;
  }
  stream.context.TryCancel();
  grpc::Status status = stream.rw->Finish();
  if (is_invalid_token(status)) stream.refused = true;
  if (keep_going && !status.ok() && status.error_code() != grpc::StatusCode::CANCELLED && callbacks_.on_error) {
    callbacks_.on_error(to_error(status, endpoint.address, "watch " + prefix_));
  }
  return keep_going;
}

void Watcher::watchdog() {
  std::unique_lock lock(mutex_);
  while (!closing_) {
    wake_.wait_for(lock, std::max(options_.idle_probe / 4, std::chrono::milliseconds(10)));
    if (closing_ || !stream_) continue;
    Clock::time_point now = Clock::now();
    if (now - last_heard_ >= options_.idle_probe + connection_->options().call_timeout) {
      // Asked for progress and heard nothing: the member is frozen or cut off.
      stream_->context.TryCancel();
      stream_ = nullptr;  // serve() finishes it; do not cancel twice
      continue;
    }
    if (!probe_sent_ && stream_->rw && now - last_heard_ >= options_.idle_probe) {
      etcdserverpb::WatchRequest request;
      request.mutable_progress_request();
      stream_->rw->Write(request);
      probe_sent_ = true;
    }
  }
}

}  // namespace frodo::etcd
