// `frodo serve` throughput over loopback, side by side in one run with the same ids:
//  - the anchor: the same ring in this process, Ring::owner over every id;
//  - POST /v1/owners in batches (ids per second, every answer checked against the anchor);
//  - GET /v1/owner one id per request on keep-alive connections (requests per second), from
//    1 and from 4 client threads.
// A real etcd (tests/support's harness) holds 1,000 servers on loopback addresses; a real
// `frodo serve` process answers. Client and server share this machine's cores.
// Usage: frodo_serve_bench [IDS] [BATCH] [SECONDS]   (defaults 1000000 10000 3)
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "percent_encoding.hpp"
#include "etcd_cluster.hpp"
#include "frodo/cluster.hpp"
#include "subprocess.hpp"
#include "temp_dir.hpp"

using namespace std::chrono;
using Clock = steady_clock;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A lean HTTP/1.1 keep-alive client on a plain socket: one write per request, reads until
// the answer's Content-Length is in. The bench measures the sidecar, so its client should
// cost little of the two cores they share (httplib's client costs about as much CPU per
// request as the server).
class LeanClient {
 public:
  explicit LeanClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("cannot connect to the sidecar");
    }
    int yes = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  }
  ~LeanClient() { ::close(fd_); }

  // The body of the answer to GET `target`; throws unless it is a 200.
  std::string get(const std::string& target) {
    std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
      throw std::runtime_error("send failed");
    }
    while (true) {
      std::size_t end = buffer_.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::size_t at = buffer_.find("Content-Length: ");
        if (at == std::string::npos || at > end) throw std::runtime_error("an answer without Content-Length");
        std::size_t length = std::strtoul(buffer_.c_str() + at + 16, nullptr, 10);
        if (buffer_.size() >= end + 4 + length) {
          if (buffer_.compare(0, 12, "HTTP/1.1 200") != 0) throw std::runtime_error("not a 200: " + buffer_.substr(0, 40));
          std::string body = buffer_.substr(end + 4, length);
          buffer_.erase(0, end + 4 + length);
          return body;
        }
      }
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) throw std::runtime_error("the sidecar closed the connection");
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string buffer_;
};

// GET /v1/owner over `threads` keep-alive connections for `seconds`, the ids taken in turn;
// returns requests per second. Every answer is checked (outside nothing: the check is cheap
// next to a round trip, and it keeps the bench honest).
double owner_requests_per_second(int port, const std::vector<std::string>& ids, const std::vector<std::string>& want,
                                 int threads, double seconds) {
  std::vector<std::string> targets;
  targets.reserve(ids.size());
  for (const std::string& id : ids) targets.push_back("/v1/owner?id=" + frodo::test::percent_encoded(id));
  std::atomic<long> done{0}, wrong{0};
  std::vector<std::thread> workers;
  const auto until = Clock::now() + duration_cast<Clock::duration>(duration<double>(seconds));
  Clock::time_point start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      try {
        LeanClient c(port);
        long n = 0;
        for (std::size_t i = static_cast<std::size_t>(t); Clock::now() < until; i = (i + threads) % ids.size()) {
          std::string body = c.get(targets[i]);
          if (body.compare(0, 10, "{\"owner\":\"") != 0 || body.compare(10, want[i].size(), want[i]) != 0 ||
              body[10 + want[i].size()] != '"') {
            ++wrong;
          }
          ++n;
        }
        done += n;
      } catch (...) {
        ++wrong;
      }
    });
  }
  for (auto& w : workers) w.join();
  double elapsed = duration<double>(Clock::now() - start).count();
  if (wrong) throw std::runtime_error(std::to_string(wrong.load()) + " wrong answers from GET /v1/owner");
  return static_cast<double>(done.load()) / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::size_t id_count = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1'000'000;
    const std::size_t batch = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 10'000;
    const double seconds = argc > 3 ? std::atof(argv[3]) : 3;
    if (id_count == 0 || batch == 0 || seconds <= 0) {
      std::fprintf(stderr, "usage: frodo_serve_bench [IDS] [BATCH] [SECONDS]\n");
      return 2;
    }

    frodo::test::EtcdCluster etcd;
    frodo::ClusterOptions options;
    options.context = "bench";
    options.etcd.endpoints = etcd.endpoints();
    options.logger = [](const std::string&) {};
    frodo::Cluster writer(options);
    std::vector<frodo::Member> members;
    for (int i = 0; i < 1000; ++i) {
      std::string address = "127.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + ":7000";
      writer.add_server(address, {.persistent = true});
      members.push_back({address});
    }
    const frodo::Ring ring(members);

    frodo::test::TempDir dir("frodo-serve-bench");
    const std::string log = (dir.path() / "serve.log").string();
    frodo::process::ChildProcess serve = frodo::test::spawn_daemon(
        {FRODO_BINARY, "--etcd", etcd.endpoint(0), "--context", "bench", "serve", "--listen", "127.0.0.1:0"}, log);
    int port = 0;
    const std::regex listening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
    for (auto deadline = Clock::now() + 30s; Clock::now() < deadline && port == 0;) {
      std::smatch m;
      std::string text = slurp(log);
      if (std::regex_search(text, m, listening)) {
        port = std::stoi(m[1]);
      } else {
        std::this_thread::sleep_for(20ms);
      }
    }
    if (port == 0) throw std::runtime_error("frodo serve did not start: " + slurp(log));
    httplib::Client probe("127.0.0.1", port);
    auto view = probe.Get("/v1/servers");
    if (!view || nlohmann::json::parse(view->body)["servers"].size() != 1000) {
      throw std::runtime_error("the sidecar's view does not hold the 1,000 servers");
    }

    std::vector<std::string> ids;
    ids.reserve(id_count);
    for (std::size_t i = 0; i < id_count; ++i) ids.push_back("entity-" + std::to_string(i * 7919));

    // The anchor: the same ring, the same ids, in this process.
    std::vector<std::string> want(ids.size());
    Clock::time_point start = Clock::now();
    for (std::size_t i = 0; i < ids.size(); ++i) want[i] = *ring.owner(ids[i]);
    const double anchor = static_cast<double>(ids.size()) / duration<double>(Clock::now() - start).count();

    // POST /v1/owners: bodies built before the clock starts.
    std::vector<std::string> bodies;
    for (std::size_t first = 0; first < ids.size(); first += batch) {
      nlohmann::json j = {{"ids", nlohmann::json::array()}};
      for (std::size_t i = first; i < std::min(ids.size(), first + batch); ++i) j["ids"].push_back(ids[i]);
      bodies.push_back(j.dump());
    }
    httplib::Client client("127.0.0.1", port);
    client.set_keep_alive(true);
    client.set_read_timeout(60, 0);
    std::vector<std::string> answers;
    answers.reserve(bodies.size());
    start = Clock::now();
    for (const std::string& body : bodies) {
      auto r = client.Post("/v1/owners", body, "application/json");
      if (!r || r->status != 200) throw std::runtime_error("POST /v1/owners failed");
      answers.push_back(std::move(r->body));
    }
    const double batch_rate = static_cast<double>(ids.size()) / duration<double>(Clock::now() - start).count();
    std::size_t checked = 0;
    for (const std::string& answer : answers) {
      for (const auto& owner : nlohmann::json::parse(answer)["owners"]) {
        if (owner != want[checked]) throw std::runtime_error("POST /v1/owners answered differently from the ring");
        ++checked;
      }
    }

    const double one = owner_requests_per_second(port, ids, want, 1, seconds);
    const double two = owner_requests_per_second(port, ids, want, 2, seconds);
    const double four = owner_requests_per_second(port, ids, want, 4, seconds);

    serve.signal(SIGTERM);
    serve.wait();

    std::printf("frodo serve over loopback, 1,000 servers (ketama), %zu ids, one run\n\n", ids.size());
    std::printf("%-44s %14s %12s\n", "", "per second", "vs anchor");
    std::printf("%-44s %14.0f %12s\n", "anchor: Ring::owner in this process (ids)", anchor, "1");
    std::printf("%-44s %14.0f %11.3fx\n", ("POST /v1/owners, " + std::to_string(batch) + " ids per request (ids)").c_str(),
                batch_rate, batch_rate / anchor);
    std::printf("%-44s %14.0f %11.4fx\n", "GET /v1/owner, 1 keep-alive client (requests)", one, one / anchor);
    std::printf("%-44s %14.0f %11.4fx\n", "GET /v1/owner, 2 keep-alive clients (requests)", two, two / anchor);
    std::printf("%-44s %14.0f %11.4fx\n", "GET /v1/owner, 4 keep-alive clients (requests)", four, four / anchor);
    std::printf("\ntargets: POST >= 1,000,000 ids/s; GET >= 20,000 requests/s with keep-alive\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "serve_bench: %s\n", e.what());
    return 1;
  }
}
