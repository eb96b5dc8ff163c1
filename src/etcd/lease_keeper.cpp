#include "lease_keeper.hpp"

#include <algorithm>

#include "kv.hpp"

namespace frodo::etcd {

const char* to_string(LeaseLoss reason) noexcept {
  switch (reason) {
    case LeaseLoss::expired: return "expired";
    case LeaseLoss::revoked: return "revoked";
    case LeaseLoss::unreachable: return "etcd unreachable past the lease deadline";
  }
  return "unknown";
}

struct LeaseKeeper::Stream {
  std::size_t endpoint = 0;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>> rw;
  std::thread reader;
};

LeaseKeeper::LeaseKeeper(std::shared_ptr<Connection> connection, LeaseKeeperOptions options, LostCallback on_lost,
                         GrantedCallback on_granted, WarningCallback on_warning)
    : connection_(std::move(connection)),
      options_(options),
      on_lost_(std::move(on_lost)),
      on_granted_(std::move(on_granted)),
      on_warning_(std::move(on_warning)) {
  if (options_.ttl < std::chrono::seconds(1)) {
    throw Error(Errc::invalid_argument, "lease TTL must be at least 1 s, got " + std::to_string(options_.ttl.count()) + " s");
  }
  Clock::time_point sent = Clock::now();
  std::int64_t granted = 0;
  std::int64_t id = Kv(connection_).grant_lease(options_.ttl.count(), &granted);
  {
    detail::MutexLock lock(mutex_);
    id_ = id;
    granted_ttl_ = std::chrono::seconds(granted);
    deadline_ = sent + granted_ttl_;
    publish_alive();
  }
  thread_ = std::thread([this] { run(); });
}

void LeaseKeeper::publish_alive() {
  alive_until_.store(id_ != 0 ? deadline_.time_since_epoch().count() : 0, std::memory_order_release);
  published_id_.store(id_, std::memory_order_release);
}

void LeaseKeeper::warn(const std::string& message) noexcept {
  if (!on_warning_) return;
  try {
    on_warning_(message);
  } catch (...) {
    // Nothing to tell a reporter that fails.
  }
}

LeaseKeeper::~LeaseKeeper() { close(); }

std::int64_t LeaseKeeper::id() const { return published_id_.load(std::memory_order_acquire); }

bool LeaseKeeper::alive() const {
  Clock::rep until = alive_until_.load(std::memory_order_acquire);
  return until != 0 && Clock::now().time_since_epoch().count() < until;
}

Clock::time_point LeaseKeeper::deadline() const {
  detail::MutexLock lock(mutex_);
  return deadline_;
}

std::chrono::seconds LeaseKeeper::granted_ttl() const {
  detail::MutexLock lock(mutex_);
  return granted_ttl_;
}

void LeaseKeeper::close() {
  std::call_once(close_once_, [this] {
    {
      detail::MutexLock lock(mutex_);
      closing_ = true;
      if (stream_) stream_->context.TryCancel();
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::int64_t id;
    std::chrono::seconds ttl;
    {
      detail::MutexLock lock(mutex_);
      id = id_;
      ttl = granted_ttl_;
      id_ = 0;
      publish_alive();
    }
    if (id != 0) {
      try {
        Kv(connection_).revoke_lease(id);
      } catch (const std::exception& e) {
        warn("revoking lease " + std::to_string(id) + " failed (it expires by itself within its TTL of " +
             std::to_string(ttl.count()) + " s): " + e.what());
      }
    }
  });
}

void LeaseKeeper::lose(LeaseLoss reason) {
  std::int64_t id = id_;
  if (id == 0) return;
  id_ = 0;
  publish_alive();
  close_stream();
  unanswered_.clear();
  if (on_lost_) {
    mutex_.unlock();
    try {
      on_lost_(id, reason);
    } catch (const std::exception& e) {
      warn(std::string("a lease-lost callback threw: ") + e.what());
    } catch (...) {
      warn("a lease-lost callback threw");
    }
    mutex_.lock();
  }
}

void LeaseKeeper::close_stream() {
  std::unique_ptr<Stream> stream = std::move(stream_);
  stream_broken_ = false;
  if (!stream) return;
  stream->context.TryCancel();
  mutex_.unlock();
  if (stream->reader.joinable()) stream->reader.join();
  stream->rw->Finish();  // cancelled by us: nothing to learn from the status
  mutex_.lock();
}

bool LeaseKeeper::open_stream() {
  auto stream = std::make_unique<Stream>();
  stream->endpoint = connection_->current_endpoint();
  Endpoint& endpoint = connection_->endpoint(stream->endpoint);
  // A member cut off from its cluster must refuse the stream rather than answer alone.
  stream->context.AddMetadata("hasleader", "true");
  // Fail fast (no wait-for-ready): this thread must stay free to notice the lease deadline,
  // and a failed stream is simply reopened, on the next endpoint, a moment later.
  const Clock::duration authorize_within = granted_ttl_ / 3;
  mutex_.unlock();
  try {
    connection_->authorize(stream->context, Clock::now() + authorize_within);
  } catch (const Error&) {
    mutex_.lock();
    connection_->mark_failed(stream->endpoint);
    return false;
  }
  stream->rw = endpoint.lease->LeaseKeepAlive(&stream->context);
  mutex_.lock();
  Stream* raw = stream.get();
  stream_ = std::move(stream);
  stream_broken_ = false;
  unanswered_.clear();
  raw->reader = std::thread([this, raw] { read_loop(raw); });
  return true;
}

bool LeaseKeeper::grant() {
  mutex_.unlock();
  std::int64_t id = 0, granted = 0;
  Clock::time_point sent = Clock::now();
  try {
    id = Kv(connection_).grant_lease(options_.ttl.count(), &granted);
  } catch (const Error&) {
    mutex_.lock();
    return false;
  }
  mutex_.lock();
  id_ = id;
  granted_ttl_ = std::chrono::seconds(granted);
  deadline_ = sent + granted_ttl_;
  publish_alive();
  if (on_granted_) {
    mutex_.unlock();
    try {
      on_granted_(id);
    } catch (const std::exception& e) {
      warn(std::string("a lease-granted callback threw: ") + e.what());
    } catch (...) {
      warn("a lease-granted callback threw");
    }
    mutex_.lock();
  }
  return true;
}

void LeaseKeeper::read_loop(Stream* stream) {
  try {
    read_responses(stream);
  } catch (const std::exception& e) {
    warn(std::string("lease keepalive reader failed: ") + e.what());
  } catch (...) {
    warn("lease keepalive reader failed");
  }
  // Whatever ended the loop, the stream is of no more use: the keeper reopens one.
  detail::MutexLock lock(mutex_);
  if (stream_.get() == stream) stream_broken_ = true;
  wake_.notify_all();
}

void LeaseKeeper::read_responses(Stream* stream) {
  etcdserverpb::LeaseKeepAliveResponse response;
  while (stream->rw->Read(&response)) {
    detail::MutexLock lock(mutex_);
    if (stream_.get() != stream || response.id() != id_) continue;
    Clock::time_point sent = unanswered_.empty() ? Clock::now() : unanswered_.front();
    if (!unanswered_.empty()) unanswered_.pop_front();
    if (response.ttl() <= 0) {
      // etcd no longer knows the lease: before our deadline only a revoke explains that.
      gone_ = Clock::now() < deadline_ ? LeaseLoss::revoked : LeaseLoss::expired;
      wake_.notify_all();
      continue;
    }
    deadline_ = std::max(deadline_, sent + std::chrono::seconds(response.ttl()));
    publish_alive();
    sent_since_answer_ = false;
  }
}

void LeaseKeeper::run() {
  try {
    keep();
    return;
  } catch (const std::exception& e) {
    warn(std::string("lease keeper failed: ") + e.what());
  } catch (...) {
    warn("lease keeper failed");
  }
  // The keeper cannot go on: from now on nobody renews the lease, so say it is lost now
  // rather than let it lapse unnoticed.
  try {
    detail::MutexLock lock(mutex_);
    lose(LeaseLoss::expired);
  } catch (...) {
  }
}

void LeaseKeeper::keep() {
  detail::MutexLock lock(mutex_);
  Clock::time_point next_send = Clock::now();
  Clock::time_point reopen_at = Clock::now();
  while (!closing_) {
    Clock::time_point now = Clock::now();
    auto period = std::max<Clock::duration>(granted_ttl_ / 3, std::chrono::milliseconds(100));
    if (gone_) {
      LeaseLoss reason = *gone_;
      gone_.reset();
      lose(reason);
      continue;
    }
    if (id_ == 0) {
      if (!options_.regrant) {
        while (!closing_) wake_.wait(lock);
        continue;
      }
      if (!grant()) wake_.wait_for(lock, std::chrono::milliseconds(500));
      next_send = reopen_at = Clock::now();
      continue;
    }
    if (now >= deadline_) {
      // Keepalives that went unanswered (or a stream that broke) mean etcd was out of
      // reach; none sent means this process itself did not run in time (frozen, starved).
      bool unreachable = stream_broken_ || !stream_ || !unanswered_.empty() || sent_since_answer_;
      lose(unreachable ? LeaseLoss::unreachable : LeaseLoss::expired);
      continue;
    }
    if (stream_ && !stream_broken_ && !unanswered_.empty() && now - unanswered_.front() >= period) {
      // A keepalive unanswered for a whole period: the member is frozen or cut off. Try the
      // next one while the lease still has time.
      stream_broken_ = true;
    }
    if (stream_ && stream_broken_) {
      std::size_t failed = stream_->endpoint;
      close_stream();
      connection_->mark_failed(failed);
      reopen_at = Clock::now() + std::chrono::milliseconds(100);
      continue;
    }
    if (!stream_ && now >= reopen_at) {
      if (!open_stream()) reopen_at = Clock::now() + std::chrono::milliseconds(100);
      next_send = Clock::now();
      continue;
    }
    if (stream_ && now >= next_send) {
      etcdserverpb::LeaseKeepAliveRequest request;
      request.set_id(id_);
      unanswered_.push_back(now);
      sent_since_answer_ = true;
      Stream* stream = stream_.get();
      lock.unlock();
      bool written = stream->rw->Write(request);  // only this thread writes or replaces the stream
      lock.lock();
      if (!written && stream_.get() == stream) stream_broken_ = true;
      next_send = now + period;
      continue;
    }
    Clock::time_point wake_at = std::min(deadline_, stream_ ? next_send : reopen_at);
    while (!closing_ && !gone_ && !stream_broken_ && wake_.wait_until(lock, wake_at)) {
    }
  }
  close_stream();
}

}  // namespace frodo::etcd
