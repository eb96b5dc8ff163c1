// The fault proxy on its own: real sockets on loopback, the test playing both the client
// and the upstream (it accepts the proxy's connections itself), so every byte and every
// reset can be watched from both ends.
#include "process/wait_until.hpp"
#include "process/free_port.hpp"
#include "fault_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace frodo::test {
namespace {

using namespace frodo::fault;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Generous safety deadline for anything awaited: only a broken proxy gets near it.
constexpr auto patience = 20s;

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout = patience) {
  return frodo::process::wait_until(condition, timeout, 5ms);
}

class Socket {
 public:
  explicit Socket(int fd = -1) : fd_(fd) {}
  Socket(Socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Socket& operator=(Socket&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

using process::loopback;

// A socket bound to 127.0.0.1 on a kernel-chosen port; listening unless told otherwise.
class Upstream {
 public:
  explicit Upstream(bool listening = true) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (fd_.get() < 0) throw std::runtime_error("socket");
    sockaddr_in a = loopback(0);
    socklen_t length = sizeof a;
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &length) != 0 ||
        (listening && ::listen(fd_.get(), 16) != 0)) {
      throw std::runtime_error(std::string("upstream: ") + std::strerror(errno));
    }
    port_ = ntohs(a.sin_port);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // The next connection the proxy made, or an invalid socket if none came in time.
  Socket accept(std::chrono::milliseconds timeout = patience) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return Socket();
    return Socket(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  }

 private:
  Socket fd_;
  int port_ = 0;
};

Socket connect_to(int port) {
  Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = loopback(port);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
  }
  return s;
}

void send_all(const Socket& s, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(s.get(), bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    sent += static_cast<std::size_t>(n);
  }
}

bool readable_within(const Socket& s, std::chrono::milliseconds timeout) {
  pollfd p{s.get(), POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

// How a read ended.
struct Received {
  std::string bytes;
  bool eof = false;
  int error = 0;  // errno of a failed recv (ECONNRESET for a reset)
};

// Reads until `n` bytes came, the stream ended or failed, or the deadline passed.
Received receive(const Socket& s, std::size_t n, std::chrono::milliseconds timeout = patience) {
  Received r;
  auto deadline = Clock::now() + timeout;
  char buffer[65536];
  while (r.bytes.size() < n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{s.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) != 1) continue;
    ssize_t got = ::recv(s.get(), buffer, std::min(sizeof buffer, n - r.bytes.size()), 0);
    if (got < 0) {
      r.error = errno;
      break;
    }
    if (got == 0) {
      r.eof = true;
      break;
    }
    r.bytes.append(buffer, static_cast<std::size_t>(got));
  }
  return r;
}

// What the next read says: the bytes, the end, or the error.
Received receive_any(const Socket& s) { return receive(s, 1 << 20, patience); }

std::string pattern(std::size_t from, std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((from + i) % 251);
  return s;
}

// A client through the proxy and the upstream end of its connection.
struct Pair {
  Socket client;
  Socket server;
};

Pair open_pair(FaultProxy& proxy, Upstream& upstream) {
  Pair p{connect_to(proxy.port()), Socket()};
  p.server = upstream.accept();
  if (p.server.get() < 0) throw std::runtime_error("the proxy did not connect upstream");
  return p;
}

TEST(FaultProxy, ForwardsBothWaysFromItsOwnListeningSocketAndClosesInOrder) {
  Upstream upstream;
  FaultProxy proxy({.upstream = upstream.address()});
  EXPECT_GT(proxy.port(), 0);
  EXPECT_EQ(proxy.address(), "127.0.0.1:" + std::to_string(proxy.port()));
  // The port is held from construction on: nobody else can bind it.
  {
    Socket other(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a = loopback(proxy.port());
    EXPECT_NE(::bind(other.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  Pair p = open_pair(proxy, upstream);
  send_all(p.client, "ping");
  EXPECT_EQ(receive(p.server, 4).bytes, "ping");
  send_all(p.server, "pong!");
  EXPECT_EQ(receive(p.client, 5).bytes, "pong!");
  // Bytes are counted once written: the receiver may see them a moment before the count.
  EXPECT_TRUE(wait_until([&] { return proxy.counters().bytes_to_client == 5; }));
  FaultProxyCounters c = proxy.counters();
  EXPECT_EQ(c.accepted, 1u);
  EXPECT_EQ(c.open, 1u);
  EXPECT_EQ(c.bytes_to_upstream, 4u);
  EXPECT_EQ(c.resets, 0u);

  // Each end's close reaches the other after the bytes before it.
  send_all(p.client, "last");
  ::shutdown(p.client.get(), SHUT_WR);
  Received r = receive(p.server, 100);
  EXPECT_EQ(r.bytes, "last");
  EXPECT_TRUE(r.eof);
  send_all(p.server, "bye");
  ::shutdown(p.server.get(), SHUT_WR);
  r = receive(p.client, 100);
  EXPECT_EQ(r.bytes, "bye");
  EXPECT_TRUE(r.eof);
  EXPECT_TRUE(wait_until([&] { return proxy.counters().open == 0; }));
  EXPECT_EQ(proxy.counters().resets, 0u);
  EXPECT_EQ(proxy.error(), "");
}

TEST(FaultProxy, RefusesAnUpstreamOffThisMachineAndBadOptions) {
  for (const char* bad : {"10.0.0.1:2379", "192.168.1.10:2379", "[2001:db8::1]:2379", "example.com:2379",
                          "0.0.0.0:2379", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":2379"}) {
    try {
      FaultProxy proxy({.upstream = bad});
      ADD_FAILURE() << bad << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
  try {
    FaultProxy proxy({.upstream = "10.1.2.3:2379"});
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("not a loopback address"), std::string::npos) << e.what();
  }
  for (const char* good : {"127.0.0.1:2379", "127.3.2.1:1", "localhost:2379", "[::1]:2379"}) {
    EXPECT_NO_THROW(FaultProxy({.upstream = good})) << good;
  }
  EXPECT_THROW(FaultProxy({.upstream = "127.0.0.1:1", .max_connections = 0}), std::invalid_argument);
  EXPECT_THROW(FaultProxy({.upstream = "127.0.0.1:1", .max_buffered_bytes = 0}), std::invalid_argument);
  EXPECT_THROW(FaultProxy({.upstream = "127.0.0.1:1", .listen_port = 65536}), std::invalid_argument);
}

TEST(FaultProxy, BlackHoleHoldsEveryByteAndEveryNewConnectionUntilHealDeliversThemInOrder) {
  Upstream upstream;
  FaultProxy proxy({.upstream = upstream.address()});
  Pair p = open_pair(proxy, upstream);
  send_all(p.client, "before");
  ASSERT_EQ(receive(p.server, 6).bytes, "before");

  proxy.black_hole();
  send_all(p.client, "held-up");
  send_all(p.server, "held-down");
  // The proxy has read both (TCP is up, the bytes sit in its buffers)...
  ASSERT_TRUE(wait_until([&] { return proxy.counters().buffered_bytes == 16; }));
  // ...and a connection made now is accepted and connected upstream, but carries nothing.
  Socket late = connect_to(proxy.port());
  Socket late_server = upstream.accept();
  ASSERT_GE(late_server.get(), 0);
  send_all(late, "late");
  ASSERT_TRUE(wait_until([&] { return proxy.counters().buffered_bytes == 20; }));
  ::shutdown(late.get(), SHUT_WR);  // its end of stream is held too
  FaultProxyCounters held = proxy.counters();
  EXPECT_EQ(held.bytes_to_upstream, 6u);
  EXPECT_EQ(held.bytes_to_client, 0u);
  EXPECT_EQ(held.open, 2u);
  EXPECT_FALSE(readable_within(p.server, 200ms));
  EXPECT_FALSE(readable_within(p.client, 0ms));
  EXPECT_FALSE(readable_within(late_server, 0ms));
  EXPECT_EQ(proxy.counters().bytes_to_upstream, 6u);

  // Heal delivers what was held, in order, then traffic goes on as before.
  proxy.heal();
  EXPECT_EQ(receive(p.server, 7).bytes, "held-up");
  EXPECT_EQ(receive(p.client, 9).bytes, "held-down");
  Received r = receive(late_server, 100);
  EXPECT_EQ(r.bytes, "late");
  EXPECT_TRUE(r.eof);
  send_all(p.client, "after");
  EXPECT_EQ(receive(p.server, 5).bytes, "after");
  EXPECT_TRUE(wait_until([&] { return proxy.counters().buffered_bytes == 0; }));
  EXPECT_EQ(proxy.counters().resets, 0u);
}

TEST(FaultProxy, BlackHoleInOneDirectionLetsTheOtherFlow) {
  Upstream upstream;
  FaultProxy proxy({.upstream = upstream.address()});
  Pair p = open_pair(proxy, upstream);

  proxy.black_hole(Direction::to_upstream);
  send_all(p.client, "request");
  send_all(p.server, "push");
  EXPECT_EQ(receive(p.client, 4).bytes, "push");
  ASSERT_TRUE(wait_until([&] { return proxy.counters().buffered_bytes == 7; }));
  EXPECT_FALSE(readable_within(p.server, 100ms));

  proxy.black_hole(Direction::to_client);
  EXPECT_EQ(receive(p.server, 7).bytes, "request");
  send_all(p.server, "reply");
  send_all(p.client, "more");
  EXPECT_EQ(receive(p.server, 4).bytes, "more");
  ASSERT_TRUE(wait_until([&] { return proxy.counters().buffered_bytes == 5; }));
  EXPECT_FALSE(readable_within(p.client, 100ms));

  proxy.heal();
  EXPECT_EQ(receive(p.client, 5).bytes, "reply");
}

TEST(FaultProxy, ResetEndsEveryConnectionAtBothEndsAndResetsNewOnesUntilHealed) {
  Upstream upstream;
  FaultProxy proxy({.upstream = upstream.address()});
  Pair one = open_pair(proxy, upstream);
  Pair two = open_pair(proxy, upstream);
  proxy.black_hole();
  send_all(one.client, "dropped");  // held when the reset comes: it is never delivered
  ASSERT_TRUE(wait_until([&] { return proxy.counters().buffered_bytes == 7; }));

  proxy.reset();
  for (Pair* p : {&one, &two}) {
    EXPECT_EQ(receive_any(p->client).error, ECONNRESET);
    Received server_side = receive_any(p->server);
    EXPECT_EQ(server_side.error, ECONNRESET);
    EXPECT_EQ(server_side.bytes, "");
  }
  FaultProxyCounters c = proxy.counters();
  EXPECT_EQ(c.resets, 2u);
  EXPECT_EQ(c.open, 0u);
  EXPECT_EQ(c.buffered_bytes, 0u);

  // A new connection is reset as soon as it is accepted, and never reaches the upstream.
  Socket refused = connect_to(proxy.port());
  EXPECT_EQ(receive_any(refused).error, ECONNRESET);
  EXPECT_EQ(proxy.counters().refused, 1u);
  EXPECT_EQ(upstream.accept(0ms).get(), -1);

  proxy.heal();
  Pair three = open_pair(proxy, upstream);
  send_all(three.client, "again");
  EXPECT_EQ(receive(three.server, 5).bytes, "again");
}

TEST(FaultProxy, DelayHoldsEachDirectionsBytesAtLeastThatLong) {
  Upstream upstream;
  FaultProxy proxy({.upstream = upstream.address()});
  Pair p = open_pair(proxy, upstream);
  constexpr auto delay = 300ms;
  proxy.delay(delay);

  auto sent = Clock::now();
  send_all(p.client, "slow");
  ASSERT_EQ(receive(p.server, 4).bytes, "slow");
  EXPECT_GE(Clock::now() - sent, delay);
  sent = Clock::now();
  send_all(p.server, "reply");
  ASSERT_EQ(receive(p.client, 5).bytes, "reply");
  EXPECT_GE(Clock::now() - sent, delay);

  // Bytes held by a long delay go at once when it is healed.
  proxy.delay(1h);
  send_all(p.client, "stuck");
  ASSERT_TRUE(wait_until([&] { return proxy.counters().buffered_bytes == 5; }));
  EXPECT_FALSE(readable_within(p.server, 100ms));
  proxy.heal();
  EXPECT_EQ(receive(p.server, 5).bytes, "stuck");
}

TEST(FaultProxy, ConnectionLimitRefusesTheOneTooMany) {
  Upstream upstream;
  FaultProxy proxy({.upstream = upstream.address(), .max_connections = 2});
  Pair one = open_pair(proxy, upstream);
  Pair two = open_pair(proxy, upstream);
  Socket three = connect_to(proxy.port());
  EXPECT_EQ(receive_any(three).error, ECONNRESET);
  EXPECT_EQ(proxy.counters().refused, 1u);
  EXPECT_EQ(proxy.counters().accepted, 2u);

  // Room again once one ends.
  ::shutdown(one.client.get(), SHUT_WR);
  ::shutdown(one.server.get(), SHUT_WR);
  ASSERT_TRUE(wait_until([&] { return proxy.counters().open == 1; }));
  Pair four = open_pair(proxy, upstream);
  send_all(four.client, "in");
  EXPECT_EQ(receive(four.server, 2).bytes, "in");
}

TEST(FaultProxy, ABlackHoledConnectionHoldsNoMoreThanItsBufferLimit) {
  Upstream upstream;
  constexpr std::size_t limit = 64 * 1024;
  FaultProxy proxy({.upstream = upstream.address(), .max_buffered_bytes = limit});
  Pair p = open_pair(proxy, upstream);
  proxy.black_hole();

  // The client writes until the connection stops taking bytes: the proxy's buffer is full and
  // it no longer reads, so the kernel's buffers fill behind it. An unbounded proxy would take
  // all 256 MiB.
  ASSERT_EQ(::fcntl(p.client.get(), F_SETFL, O_NONBLOCK), 0);
  constexpr std::size_t most = 256u << 20;
  std::size_t written = 0;
  std::string block = pattern(0, 251 * 256);
  for (;;) {
    ssize_t n = ::send(p.client.get(), block.data() + written % 251, block.size() - 251, MSG_NOSIGNAL);
    if (n > 0) {
      written += static_cast<std::size_t>(n);
      ASSERT_LT(written, most) << "the proxy kept taking bytes it cannot forward";
      continue;
    }
    ASSERT_TRUE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) << std::strerror(errno);
    pollfd out{p.client.get(), POLLOUT, 0};
    if (::poll(&out, 1, 1000) == 0) break;  // no room for a second: the connection is full
  }
  ASSERT_TRUE(wait_until([&] { return proxy.counters().buffered_bytes == limit; }));
  EXPECT_EQ(proxy.counters().peak_buffered, limit);
  EXPECT_GT(written, limit);

  // Healed, every byte arrives, in order.
  proxy.heal();
  Received r = receive(p.server, written);
  ASSERT_EQ(r.bytes.size(), written);
  EXPECT_TRUE(r.bytes == pattern(0, written)) << "bytes reordered or corrupted";
  EXPECT_LE(proxy.counters().peak_buffered, limit);
}

TEST(FaultProxy, ManyTinyReadsAreBoundedToo) {
  Upstream upstream;
  // 64 KiB of bytes, but at most 128 reads held: a trickle of single bytes stops at 128.
  FaultProxy proxy({.upstream = upstream.address(), .max_buffered_bytes = 64 * 1024});
  Pair p = open_pair(proxy, upstream);
  int one = 1;
  ::setsockopt(p.client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  proxy.black_hole();
  std::string sent;
  for (std::size_t i = 0; i < 128; ++i) {
    sent += static_cast<char>('a' + i % 26);
    send_all(p.client, sent.substr(i));
    ASSERT_TRUE(wait_until([&] { return proxy.counters().buffered_bytes == i + 1; })) << i;  // one read each
  }
  for (std::size_t i = 128; i < 200; ++i) sent += static_cast<char>('a' + i % 26);
  send_all(p.client, sent.substr(128));
  EXPECT_FALSE(readable_within(p.server, 200ms));
  EXPECT_EQ(proxy.counters().buffered_bytes, 128u);  // the rest waits in the kernel, unread

  proxy.heal();
  EXPECT_EQ(receive(p.server, sent.size()).bytes, sent);
}

TEST(FaultProxy, LongStreamsPassIntactBothWaysThroughSmallBuffers) {
  Upstream upstream;
  FaultProxy proxy({.upstream = upstream.address(), .max_buffered_bytes = 4096});
  Pair p = open_pair(proxy, upstream);
  constexpr std::size_t total = 8u << 20;
  // The upstream echoes everything back until the client's end of stream.
  std::atomic<bool> echo_ok{false};
  std::thread echo([&] {
    try {
      char buffer[32768];
      for (;;) {
        ssize_t n = ::recv(p.server.get(), buffer, sizeof buffer, 0);
        if (n <= 0) break;
        send_all(p.server, std::string(buffer, static_cast<std::size_t>(n)));
      }
      ::shutdown(p.server.get(), SHUT_WR);
      echo_ok = true;
    } catch (...) {
    }
  });
  std::atomic<bool> writer_ok{false};
  std::thread writer([&] {
    try {
      for (std::size_t sent = 0; sent < total; sent += 100'000) {
        send_all(p.client, pattern(sent, std::min<std::size_t>(100'000, total - sent)));
      }
      ::shutdown(p.client.get(), SHUT_WR);
      writer_ok = true;
    } catch (...) {
    }
  });
  Received r = receive(p.client, total + 1);
  writer.join();
  echo.join();
  EXPECT_TRUE(writer_ok);
  EXPECT_TRUE(echo_ok);
  ASSERT_EQ(r.bytes.size(), total);
  EXPECT_TRUE(r.eof);
  EXPECT_TRUE(r.bytes == pattern(0, total)) << "bytes reordered or corrupted";
  EXPECT_TRUE(wait_until([&] { return proxy.counters().bytes_to_client == total; }));
  EXPECT_EQ(proxy.counters().bytes_to_upstream, total);
  EXPECT_LE(proxy.counters().peak_buffered, 4096u);
}

TEST(FaultProxy, AnUnreachableUpstreamResetsTheClient) {
  Upstream nobody(/*listening=*/false);  // bound, so the port stays ours, but refusing
  FaultProxy proxy({.upstream = nobody.address()});
  Socket client = connect_to(proxy.port());
  EXPECT_EQ(receive_any(client).error, ECONNRESET);
  EXPECT_TRUE(wait_until([&] { return proxy.counters().upstream_failures == 1; }));
  EXPECT_EQ(proxy.counters().open, 0u);
}

TEST(FaultProxy, StopResetsOpenConnectionsFreesThePortAndLeavesSettersHarmless) {
  Upstream upstream;
  FaultProxy proxy({.upstream = upstream.address()});
  Pair flowing = open_pair(proxy, upstream);
  Pair held = open_pair(proxy, upstream);
  proxy.black_hole(Direction::to_upstream);
  send_all(held.client, "in the hole");
  ASSERT_TRUE(wait_until([&] { return proxy.counters().buffered_bytes == 11; }));

  int port = proxy.port();
  proxy.stop();
  for (Pair* p : {&flowing, &held}) {
    EXPECT_EQ(receive_any(p->client).error, ECONNRESET);
    EXPECT_EQ(receive_any(p->server).error, ECONNRESET);
  }
  EXPECT_EQ(proxy.counters().open, 0u);
  EXPECT_EQ(proxy.counters().buffered_bytes, 0u);
  Socket late(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = loopback(port);
  EXPECT_NE(::connect(late.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  proxy.heal();
  proxy.reset();
  proxy.delay(1s);
  proxy.stop();
  EXPECT_EQ(proxy.error(), "");
}

TEST(FaultProxy, FaultsChangeFromManyThreadsWhileBytesFlow) {
  Upstream upstream;
  FaultProxy proxy({.upstream = upstream.address()});
  Pair p = open_pair(proxy, upstream);
  std::vector<std::thread> flippers;
  for (int t = 0; t < 3; ++t) {
    flippers.emplace_back([&, t] {
      try {
        for (int i = 0; i < 300; ++i) {
          switch ((i + t) % 4) {
            case 0: proxy.black_hole(); break;
            case 1: proxy.delay(1ms); break;
            case 2: proxy.black_hole(Direction::to_client); break;
            default: proxy.heal(); break;
          }
          (void)proxy.counters();
        }
      } catch (...) {
        ADD_FAILURE() << "a setter threw";
      }
    });
  }
  // Nothing is lost or reordered however the faults change (no reset among them).
  constexpr std::size_t total = 256 * 1024;
  std::thread writer([&] {
    try {
      send_all(p.client, pattern(0, total));
    } catch (...) {
    }
  });
  for (auto& f : flippers) f.join();
  proxy.heal();
  Received r = receive(p.server, total);
  writer.join();
  ASSERT_EQ(r.bytes.size(), total);
  EXPECT_TRUE(r.bytes == pattern(0, total));
}

}  // namespace
}  // namespace frodo::test
