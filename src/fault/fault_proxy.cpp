// The fault-injecting proxy (fault_proxy.hpp). One thread runs a poll() loop over the
// listening socket, a wake-up pipe and both ends of every connection; everything it holds
// (sockets, buffers) is touched by that thread only. The rest of the object is the fault
// configuration and the counters, which any thread may set or read.
#include "fault_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace frodo::fault {
namespace {

using Clock = std::chrono::steady_clock;

// Bytes read per recv(); the buffer limit bounds what is held, this only how it is chunked.
constexpr std::size_t read_chunk = 64 * 1024;
// Connections accepted per loop iteration, so a flood of connects cannot starve the others.
constexpr int accepts_per_turn = 64;
// How long accepting pauses when the process is out of descriptors or memory.
constexpr std::chrono::milliseconds accept_backoff{100};

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::runtime_error("FaultProxy: " + what + ": " + std::strerror(errno));
}

// A file descriptor closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      close();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { close(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Closes with a reset (RST) instead of an orderly FIN: SO_LINGER with a zero timeout.
  void reset() noexcept {
    if (fd_ < 0) return;
    linger l{};
    l.l_onoff = 1;
    l.l_linger = 0;
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
  }

 private:
  int fd_;
};

// The upstream, as a socket address; throws std::invalid_argument unless it is host:port
// with a loopback host.
struct Upstream {
  sockaddr_storage address{};
  socklen_t length = 0;
};

Upstream parse_upstream(const std::string& text) {
  auto refuse = [&](const std::string& why) -> std::invalid_argument {
    return std::invalid_argument("FaultProxy: upstream '" + text + "' " + why);
  };
  std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) throw refuse("is not host:port");
  std::string host = text.substr(0, colon);
  std::string port_text = text.substr(colon + 1);
  int port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 ||
      port > 65535) {
    throw refuse("has no port in 1-65535");
  }
  const std::string not_loopback =
      "is not a loopback address (127.0.0.0/8, [::1] or localhost): the proxy keeps test traffic on this machine";
  Upstream u;
  if (host == "localhost") host = "127.0.0.1";
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a.sin6_addr) != 1) throw refuse("has a bad IPv6 address");
    if (!IN6_IS_ADDR_LOOPBACK(&a.sin6_addr)) throw refuse(not_loopback);
    std::memcpy(&u.address, &a, sizeof a);
    u.length = sizeof a;
    return u;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) throw refuse(not_loopback);
  if ((ntohl(a.sin_addr.s_addr) >> 24) != 127) throw refuse(not_loopback);
  std::memcpy(&u.address, &a, sizeof a);
  u.length = sizeof a;
  return u;
}

enum class Mode { pass, delay, black_hole, reset };

struct Config {
  Mode mode = Mode::pass;
  Direction direction = Direction::both;  // what black_hole holds
  std::chrono::milliseconds delay{0};
  std::uint64_t resets = 0;  // reset() calls: each one ends the connections open then
};

// Bytes read from one end, not yet written to the other.
struct Chunk {
  Clock::time_point read_at;
  std::vector<char> bytes;
  std::size_t offset = 0;  // written so far
};

// One direction of one connection.
struct Flow {
  std::deque<Chunk> chunks;
  std::size_t held = 0;  // unwritten bytes in chunks
  bool eof = false;      // the source shut its sending side
  Clock::time_point eof_at;
  bool shut = false;     // the end of stream was passed on (shutdown of the destination)
};

struct Connection {
  Fd client;
  Fd upstream;
  bool connecting = true;  // the upstream connect() is in progress
  Flow up;                 // client -> upstream
  Flow down;               // upstream -> client
  bool client_hup = false;    // poll said hang-up while nothing was asked of the socket
  bool upstream_hup = false;
  bool listed = false;        // counted in `open`
  bool ended = false;         // to be removed this turn
};

}  // namespace

struct FaultProxy::State {
  FaultProxyOptions options;
  Upstream upstream;
  Fd listener;  // closed by the loop when it ends
  Fd wake_read, wake_write;
  int port = 0;
  std::size_t max_chunks = 0;  // reads held per flow

  mutable std::mutex mutex;
  std::condition_variable applied_cv;
  Config config;
  std::uint64_t generation = 0;  // changes of config
  std::uint64_t applied = 0;     // the generation the loop works with
  bool stopping = false;
  bool loop_done = false;
  std::string failure;

  std::mutex stop_mutex;  // one stop() joins at a time
  std::thread thread;

  std::atomic<std::uint64_t> accepted{0}, refused{0}, upstream_failures{0}, resets{0}, open{0}, to_upstream{0},
      to_client{0}, buffered{0}, peak{0};

  // The loop's own: touched by its thread only.
  std::vector<std::unique_ptr<Connection>> connections;
  std::vector<char> scratch = std::vector<char>(read_chunk);

  void wake() noexcept {
    char byte = 1;
    // A full pipe already holds a wake-up: nothing more to do.
    [[maybe_unused]] ssize_t n = ::write(wake_write.get(), &byte, 1);
  }

  // Changes the configuration and waits until the loop works with it.
  template <typename Change>
  void set(Change change) {
    std::unique_lock lock(mutex);
    if (stopping || loop_done) return;
    change(config);
    std::uint64_t mine = ++generation;
    wake();
    applied_cv.wait(lock, [&] { return applied >= mine || loop_done; });
  }

  void run() noexcept {
    try {
      loop();
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex);
      failure = e.what();
    } catch (...) {
      std::lock_guard lock(mutex);
      failure = "the proxy's thread failed with a non-standard exception";
    }
    // Nothing is forwarded any more: every connection is reset and no new one accepted.
    end_all();
    listener.close();
    std::lock_guard lock(mutex);
    loop_done = true;
    applied_cv.notify_all();
  }

  void end_all() noexcept {
    for (auto& c : connections) end(*c);
    connections.clear();
  }

  // Resets both ends and forgets what was held.
  void end(Connection& c) noexcept {
    if (c.ended) return;
    c.ended = true;
    // Counted before the ends see the reset, so a test that saw it sees it counted.
    resets.fetch_add(1);
    if (c.listed) open.fetch_sub(1);
    buffered.fetch_sub(c.up.held + c.down.held);
    c.up.held = c.down.held = 0;
    c.up.chunks.clear();
    c.down.chunks.clear();
    c.client.reset();
    c.upstream.reset();
  }

  static bool forwards(const Config& cfg, bool upward) {
    if (cfg.mode != Mode::black_hole) return true;
    if (cfg.direction == Direction::both) return false;
    return upward ? cfg.direction == Direction::to_client : cfg.direction == Direction::to_upstream;
  }

  static std::chrono::milliseconds delay_of(const Config& cfg) {
    return cfg.mode == Mode::delay ? cfg.delay : std::chrono::milliseconds(0);
  }

  // When the flow's next byte (or its end of stream) may go, if it may go at all.
  static std::optional<Clock::time_point> next_due(const Flow& f, const Config& cfg, bool upward) {
    if (!forwards(cfg, upward)) return std::nullopt;
    if (!f.chunks.empty()) return f.chunks.front().read_at + delay_of(cfg);
    if (f.eof && !f.shut) return f.eof_at + delay_of(cfg);
    return std::nullopt;
  }

  void loop() {
    std::vector<pollfd> fds;
    Config cfg;
    std::uint64_t resets_handled = 0;
    {
      std::lock_guard lock(mutex);
      resets_handled = config.resets;
    }
    Clock::time_point accept_paused_until{};
    for (;;) {
      std::uint64_t taken = 0;
      {
        std::lock_guard lock(mutex);
        if (stopping) return;
        cfg = config;
        taken = generation;
      }
      if (cfg.resets != resets_handled) {
        resets_handled = cfg.resets;
        end_all();
      }
      {
        // Applied: reset() returns with its connections ended, the others before any byte
        // moves under the new configuration.
        std::lock_guard lock(mutex);
        applied = taken;
        applied_cv.notify_all();
      }

      // Write what is due, pass ends of stream on, drop finished connections.
      Clock::time_point now = Clock::now();
      for (auto& c : connections) pump(*c, cfg, now);
      sweep();

      // What to wait for: fds[0] the wake-up pipe, fds[1] the listener, then the client
      // and the upstream end of each connection.
      fds.clear();
      fds.push_back({wake_read.get(), POLLIN, 0});
      bool accepting = now >= accept_paused_until;
      fds.push_back({accepting ? listener.get() : -1, POLLIN, 0});
      std::optional<Clock::time_point> wake_at;
      if (!accepting) wake_at = accept_paused_until;
      for (auto& c : connections) {
        short client_events = 0, upstream_events = 0;
        if (has_room(c->up)) client_events |= POLLIN;
        if (due_now(c->down, cfg, false, now)) client_events |= POLLOUT;  // the pump met a full socket
        if (c->connecting) {
          upstream_events = POLLOUT;
        } else {
          if (has_room(c->down)) upstream_events |= POLLIN;
          if (due_now(c->up, cfg, true, now)) upstream_events |= POLLOUT;
        }
        // A socket that hung up is polled again only when something is asked of it, or poll
        // would report the hang-up on every turn.
        fds.push_back({client_events == 0 && c->client_hup ? -1 : c->client.get(), client_events, 0});
        fds.push_back({upstream_events == 0 && c->upstream_hup ? -1 : c->upstream.get(), upstream_events, 0});
        for (bool upward : {true, false}) {
          std::optional<Clock::time_point> t = next_due(upward ? c->up : c->down, cfg, upward);
          if (t && *t > now && (!wake_at || *t < *wake_at)) wake_at = t;
        }
      }
      int timeout = -1;
      if (wake_at) {
        auto wait = std::chrono::ceil<std::chrono::milliseconds>(*wake_at - now).count();
        timeout = static_cast<int>(std::clamp<long long>(wait, 0, 60'000));
      }
      if (::poll(fds.data(), fds.size(), timeout) < 0) {
        if (errno == EINTR) continue;
        throw_errno("poll");
      }

      if (fds[0].revents != 0) {
        char drain[64];
        while (::read(wake_read.get(), drain, sizeof drain) > 0) {
        }
      }
      now = Clock::now();
      for (std::size_t i = 0; i < connections.size(); ++i) {
        Connection& c = *connections[i];
        handle_client(c, fds[2 + 2 * i], now);
        handle_upstream(c, fds[3 + 2 * i], now);
      }
      sweep();
      if (fds[1].revents != 0 && !accept_some(cfg)) accept_paused_until = Clock::now() + accept_backoff;
    }
  }

  static bool due_now(const Flow& f, const Config& cfg, bool upward, Clock::time_point now) {
    if (f.chunks.empty() || !forwards(cfg, upward)) return false;
    return f.chunks.front().read_at + delay_of(cfg) <= now;
  }

  void handle_client(Connection& c, const pollfd& p, Clock::time_point now) {
    if (c.ended || p.fd < 0 || p.revents == 0) return;
    if (p.revents & (POLLERR | POLLNVAL)) return end(c);
    if ((p.events & POLLIN) && (p.revents & (POLLIN | POLLHUP))) {
      if (!read_into(c.client, c.up, now)) end(c);
    } else if (p.revents & POLLHUP) {
      c.client_hup = true;
    }
  }

  void handle_upstream(Connection& c, const pollfd& p, Clock::time_point now) {
    if (c.ended || p.fd < 0 || p.revents == 0) return;
    if (c.connecting) {
      int error = 0;
      socklen_t length = sizeof error;
      if (::getsockopt(c.upstream.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
      if (error != 0) {
        upstream_failures.fetch_add(1);
        return end(c);
      }
      c.connecting = false;
      return;
    }
    if (p.revents & (POLLERR | POLLNVAL)) return end(c);
    if ((p.events & POLLIN) && (p.revents & (POLLIN | POLLHUP))) {
      if (!read_into(c.upstream, c.down, now)) end(c);
    } else if (p.revents & POLLHUP) {
      c.upstream_hup = true;
    }
  }

  // Whether the flow may take more bytes: below its byte limit, and below its limit on reads
  // held (each read keeps its own time stamp, so many tiny reads would otherwise cost far
  // more memory than their bytes).
  bool has_room(const Flow& f) const {
    return !f.eof && f.held < options.max_buffered_bytes && f.chunks.size() < max_chunks;
  }

  // One recv() into the flow, at most up to its limit; false when the socket failed.
  bool read_into(const Fd& from, Flow& f, Clock::time_point now) {
    if (!has_room(f)) return true;
    std::size_t room = options.max_buffered_bytes - f.held;
    ssize_t n = ::recv(from.get(), scratch.data(), std::min(room, scratch.size()), MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    if (n == 0) {
      f.eof = true;
      f.eof_at = now;
      return true;
    }
    auto size = static_cast<std::size_t>(n);
    f.chunks.push_back(Chunk{now, std::vector<char>(scratch.begin(), scratch.begin() + n), 0});
    f.held += size;
    buffered.fetch_add(size);
    if (f.held > peak.load(std::memory_order_relaxed)) peak.store(f.held);
    return true;
  }

  // Writes what is due of the flow to `to`, then its end of stream; false when `to` failed.
  bool write_flow(Flow& f, const Fd& to, const Config& cfg, bool upward, Clock::time_point now,
                  std::atomic<std::uint64_t>& written) {
    if (!forwards(cfg, upward)) return true;
    std::chrono::milliseconds d = delay_of(cfg);
    while (!f.chunks.empty()) {
      Chunk& head = f.chunks.front();
      if (head.read_at + d > now) return true;
      ssize_t n = ::send(to.get(), head.bytes.data() + head.offset, head.bytes.size() - head.offset,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      auto size = static_cast<std::size_t>(n);
      head.offset += size;
      f.held -= size;
      buffered.fetch_sub(size);
      written.fetch_add(size);
      if (head.offset == head.bytes.size()) f.chunks.pop_front();
    }
    if (f.eof && !f.shut && f.eof_at + d <= now) {
      if (::shutdown(to.get(), SHUT_WR) != 0) return false;
      f.shut = true;
    }
    return true;
  }

  void pump(Connection& c, const Config& cfg, Clock::time_point now) {
    if (c.ended) return;
    if (!c.connecting && !write_flow(c.up, c.upstream, cfg, true, now, to_upstream)) return end(c);
    if (!write_flow(c.down, c.client, cfg, false, now, to_client)) return end(c);
    if (c.up.shut && c.down.shut) {  // both ends closed their side, everything delivered
      c.ended = true;
      open.fetch_sub(1);
      c.client.close();
      c.upstream.close();
    }
  }

  void sweep() {
    std::erase_if(connections, [](const std::unique_ptr<Connection>& c) { return c->ended; });
  }

  // Accepts what is waiting; false when the process is out of descriptors or memory (then
  // accepting pauses for a moment instead of spinning).
  bool accept_some(const Config& cfg) {
    for (int i = 0; i < accepts_per_turn; ++i) {
      Fd client(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!client) {
        switch (errno) {
          case EAGAIN:
#if EAGAIN != EWOULDBLOCK
          case EWOULDBLOCK:
#endif
            return true;
          case EINTR:
          case ECONNABORTED:
          case EPROTO:
            continue;
          case EMFILE:
          case ENFILE:
          case ENOBUFS:
          case ENOMEM:
            return false;
          default:
            throw_errno("accept");
        }
      }
      if (cfg.mode == Mode::reset || connections.size() >= options.max_connections) {
        refused.fetch_add(1);
        client.reset();
        continue;
      }
      no_delay(client);
      auto c = std::make_unique<Connection>();
      c->client = std::move(client);
      accepted.fetch_add(1);
      c->upstream = Fd(::socket(upstream.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!c->upstream) {
        upstream_failures.fetch_add(1);
        end(*c);
        continue;
      }
      no_delay(c->upstream);
      if (::connect(c->upstream.get(), reinterpret_cast<const sockaddr*>(&upstream.address), upstream.length) == 0) {
        c->connecting = false;
      } else if (errno != EINPROGRESS) {
        upstream_failures.fetch_add(1);
        end(*c);
        continue;
      }
      c->listed = true;
      open.fetch_add(1);
      connections.push_back(std::move(c));
    }
    return true;
  }

  // Bytes go out as soon as they are due (a delay fault must not be stretched by Nagle).
  static void no_delay(const Fd& fd) {
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
};

FaultProxy::FaultProxy(FaultProxyOptions options) : state_(std::make_shared<State>()) {
  State& s = *state_;
  if (options.max_connections < 1) throw std::invalid_argument("FaultProxy: max_connections must be at least 1");
  if (options.max_buffered_bytes < 1) throw std::invalid_argument("FaultProxy: max_buffered_bytes must be at least 1");
  if (options.listen_port < 0 || options.listen_port > 65535) {
    throw std::invalid_argument("FaultProxy: listen_port " + std::to_string(options.listen_port) +
                                " is out of range 0-65535");
  }
  s.upstream = parse_upstream(options.upstream);
  s.options = std::move(options);
  s.max_chunks = std::max<std::size_t>(64, s.options.max_buffered_bytes / 512);

  Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listener) throw_errno("socket");
  int one = 1;
  ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(s.options.listen_port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    throw_errno("bind 127.0.0.1:" + std::to_string(s.options.listen_port));
  }
  if (::listen(listener.get(), 128) != 0) throw_errno("listen");
  socklen_t length = sizeof address;
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) throw_errno("getsockname");
  s.port = ntohs(address.sin_port);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) != 0) throw_errno("pipe");
  s.wake_read = Fd(pipe_fds[0]);
  s.wake_write = Fd(pipe_fds[1]);
  s.listener = std::move(listener);
  s.thread = std::thread([&s] { s.run(); });
}

FaultProxy::~FaultProxy() { stop(); }

int FaultProxy::port() const { return state_->port; }

std::string FaultProxy::address() const { return "127.0.0.1:" + std::to_string(state_->port); }

void FaultProxy::pass() {
  state_->set([](Config& c) { c.mode = Mode::pass; });
}

void FaultProxy::delay(std::chrono::milliseconds per_direction) {
  if (per_direction.count() < 0) throw std::invalid_argument("FaultProxy: a delay cannot be negative");
  state_->set([&](Config& c) {
    c.mode = Mode::delay;
    c.delay = per_direction;
  });
}

void FaultProxy::black_hole(Direction direction) {
  state_->set([&](Config& c) {
    c.mode = Mode::black_hole;
    c.direction = direction;
  });
}

void FaultProxy::reset() {
  state_->set([](Config& c) {
    c.mode = Mode::reset;
    ++c.resets;
  });
}

void FaultProxy::heal() { pass(); }

FaultProxyCounters FaultProxy::counters() const {
  const State& s = *state_;
  FaultProxyCounters c;
  c.accepted = s.accepted.load();
  c.refused = s.refused.load();
  c.upstream_failures = s.upstream_failures.load();
  c.resets = s.resets.load();
  c.open = s.open.load();
  c.bytes_to_upstream = s.to_upstream.load();
  c.bytes_to_client = s.to_client.load();
  c.buffered_bytes = s.buffered.load();
  c.peak_buffered = s.peak.load();
  return c;
}

std::string FaultProxy::error() const {
  std::lock_guard lock(state_->mutex);
  return state_->failure;
}

void FaultProxy::stop() {
  State& s = *state_;
  std::lock_guard stop_lock(s.stop_mutex);
  {
    std::lock_guard lock(s.mutex);
    s.stopping = true;
    s.wake();
  }
  if (s.thread.joinable()) s.thread.join();
}

}  // namespace frodo::fault
