#include "connection.hpp"

#include <fstream>
#include <sstream>
#include <thread>

#include "frodo/address.hpp"

namespace frodo::etcd {
namespace {

// Far more than any certificate chain; reading stops there, so a path such as /dev/zero
// cannot use up the memory.
constexpr std::size_t max_pem_bytes = 1 << 20;

std::string read_pem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(Errc::invalid_argument, std::string("cannot read TLS ") + what + " file '" + path + "'");
  std::string pem(max_pem_bytes + 1, '\0');
  in.read(pem.data(), static_cast<std::streamsize>(pem.size()));
  pem.resize(static_cast<std::size_t>(in.gcount()));
  if (pem.size() > max_pem_bytes) {
    throw Error(Errc::invalid_argument, std::string("TLS ") + what + " file '" + path + "' is larger than " +
                                            std::to_string(max_pem_bytes) + " bytes");
  }
  if (pem.find("-----BEGIN") == std::string::npos) {
    throw Error(Errc::invalid_argument, std::string("TLS ") + what + " file '" + path + "' is not PEM");
  }
  return pem;
}

std::shared_ptr<grpc::ChannelCredentials> credentials(const EtcdOptions& options) {
  if (!uses_tls(options)) return grpc::InsecureChannelCredentials();
  // https:// without a CA of our own: the roots gRPC trusts by default (the system's).
  if (!options.tls) return grpc::SslCredentials(grpc::SslCredentialsOptions{});
  const EtcdTls& tls = *options.tls;
  grpc::SslCredentialsOptions ssl;
  if (tls.ca_file.empty()) throw Error(Errc::invalid_argument, "TLS needs a CA file (ca_file)");
  ssl.pem_root_certs = read_pem(tls.ca_file, "CA");
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    throw Error(Errc::invalid_argument, "a TLS client certificate needs both cert_file and key_file");
  }
  if (!tls.cert_file.empty()) {
    ssl.pem_cert_chain = read_pem(tls.cert_file, "certificate");
    ssl.pem_private_key = read_pem(tls.key_file, "key");
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

ParsedEndpoint parse_endpoint(const std::string& entry) {
  ParsedEndpoint parsed;
  parsed.address = entry;
  std::size_t separator = entry.find("://");
  if (separator != std::string::npos) {
    std::string scheme = entry.substr(0, separator);
    for (char& c : scheme) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (scheme == "http") {
      parsed.scheme = Scheme::http;
    } else if (scheme == "https") {
      parsed.scheme = Scheme::https;
    } else {
      throw Error(Errc::invalid_argument, "bad etcd endpoint '" + entry + "': unsupported scheme '" +
                                              entry.substr(0, separator) + "' (expected http:// or https://)");
    }
    parsed.address = entry.substr(separator + 3);
  }
  if (auto problem = address_problem(parsed.address)) {
    throw Error(Errc::invalid_argument, "bad etcd endpoint '" + entry + "': " + *problem);
  }
  return parsed;
}

bool uses_tls(const EtcdOptions& options) {
  const std::string* http = nullptr;
  const std::string* https = nullptr;
  for (const std::string& entry : options.endpoints) {
    Scheme scheme = parse_endpoint(entry).scheme;
    if (scheme == Scheme::http && !http) http = &entry;
    if (scheme == Scheme::https && !https) https = &entry;
  }
  // A list that is half plaintext would send the password in the clear to some members.
  if (http && https) {
    throw Error(Errc::invalid_argument, "etcd endpoints mix plaintext '" + *http + "' and TLS '" + *https +
                                            "': use https:// (or no scheme with TLS options) for every member");
  }
  if (http && options.tls) {
    throw Error(Errc::invalid_argument, "etcd endpoint '" + *http +
                                            "' is plaintext (http://) but TLS options are set: use https://");
  }
  return https || options.tls;
}

namespace {

bool is_retryable(const grpc::Status& status) {
  // Unavailable covers a refused or broken connection and etcd's "no leader", "leader
  // changed" and "request timed out": another member may well answer.
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

bool contains(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

}  // namespace

bool is_invalid_token(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAUTHENTICATED && contains(status.error_message(), "invalid auth token");
}

Error to_error(const grpc::Status& status, const std::string& endpoint, const std::string& what) {
  const std::string& message = status.error_message();
  std::string prefix = "etcd at " + endpoint + ": " + what + ": ";
  switch (status.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED:
      return Error(Errc::unauthenticated, prefix + "not authenticated (" + message + ")");
    case grpc::StatusCode::PERMISSION_DENIED:
      return Error(Errc::permission_denied, prefix + "permission denied (" + message + ")");
    case grpc::StatusCode::UNAVAILABLE:
      return Error(Errc::unavailable, prefix + "unavailable (" + message + ")");
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Error(Errc::deadline_exceeded, prefix + "deadline exceeded (" + message + ")");
    case grpc::StatusCode::NOT_FOUND:
      if (contains(message, "lease not found")) return Error(Errc::lease_lost, prefix + "lease not found (" + message + ")");
      break;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
      if (contains(message, "authentication failed")) {
        return Error(Errc::unauthenticated, prefix + "wrong user or password (" + message + ")");
      }
      if (contains(message, "user name is empty") || contains(message, "user name not found")) {
        return Error(Errc::unauthenticated, prefix + "authentication required (" + message + ")");
      }
      return Error(Errc::invalid_argument, prefix + message);
    default:
      break;
  }
  return Error(Errc::internal, prefix + message + " (gRPC status " + std::to_string(status.error_code()) + ")");
}

Connection::Connection(EtcdOptions options) : options_(std::move(options)) {
  if (options_.endpoints.empty()) throw Error(Errc::invalid_argument, "no etcd endpoints given");
  if (options_.call_timeout <= std::chrono::milliseconds(0)) {
    throw Error(Errc::invalid_argument, "etcd call timeout must be > 0 ms, got " +
                                            std::to_string(options_.call_timeout.count()));
  }
  if (options_.user.empty() && !options_.password.empty()) {
    throw Error(Errc::invalid_argument, "an etcd password was given without a user");
  }
  auto creds = credentials(options_);
  grpc::ChannelArguments args;
  // Reconnect quickly to a member that comes back (the default backoff reaches minutes).
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is left alone: gRPC also uses it as the connect
  // timeout, and a short one aborts every TCP handshake.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  // Pings find a dead peer under an open stream; etcd refuses pings more often than 5 s.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 3000);
  if (options_.max_receive_bytes < (1u << 20) || options_.max_receive_bytes > (1u << 30)) {
    throw Error(Errc::invalid_argument, "max_receive_bytes must be between 1 MiB and 1 GiB, got " +
                                            std::to_string(options_.max_receive_bytes));
  }
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, static_cast<int>(options_.max_receive_bytes));
  // This connection's own subchannels: failing over must not be undone by a connection
  // shared with another client in the same process.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  for (const std::string& raw : options_.endpoints) {
    std::string address = parse_endpoint(raw).address;  // valid: credentials() checked every entry
    auto e = std::make_unique<Endpoint>();
    e->address = address;
    e->channel = grpc::CreateCustomChannel(address, creds, args);
    e->kv = etcdserverpb::KV::NewStub(e->channel);
    e->watch = etcdserverpb::Watch::NewStub(e->channel);
    e->lease = etcdserverpb::Lease::NewStub(e->channel);
    e->maintenance = etcdserverpb::Maintenance::NewStub(e->channel);
    e->auth = etcdserverpb::Auth::NewStub(e->channel);
    e->channel->GetState(/*try_to_connect=*/true);  // connect to every member in the background now
    endpoints_.push_back(std::move(e));
  }
}

void Connection::await_channel_change(Clock::time_point deadline) {
  // gRPC cannot cancel a state notification: every one is delivered, at a change or at its
  // deadline, before its queue may be destroyed. So each wait lasts at most one slice, and
  // after the first change the others are drained within that slice. While no member is up
  // a channel moves between CONNECTING and TRANSIENT_FAILURE at least every reconnect
  // backoff (at most 500 ms, set above), which is also the slice.
  constexpr auto slice = std::chrono::milliseconds(500);
  const Clock::time_point until = std::min(deadline, Clock::now() + slice);
  const auto system_until = std::chrono::system_clock::now() +
                            std::chrono::duration_cast<std::chrono::system_clock::duration>(until - Clock::now());
  grpc::CompletionQueue queue;
  std::size_t pending = 0;
  for (const auto& e : endpoints_) {
    // A READY channel is watched too: a caller that failed although a member is up (etcd
    // said "unavailable" while it elects a leader) waits the slice before it tries again.
    const grpc_connectivity_state state = e->channel->GetState(/*try_to_connect=*/true);
    e->channel->NotifyOnStateChange(state, system_until, &queue, nullptr);
    ++pending;
  }
  void* tag = nullptr;
  bool changed = false;
  for (; pending > 0 && !changed; --pending) {
    if (!queue.Next(&tag, &changed)) break;
  }
  queue.Shutdown();
  while (queue.Next(&tag, &changed)) {
  }
}

void Connection::mark_failed(std::size_t i) {
  std::size_t expected = i;
  current_.compare_exchange_strong(expected, (i + 1) % endpoints_.size());
}

void Connection::invalidate_token(const std::string& token) {
  std::lock_guard lock(token_mutex_);
  if (token_ == token) token_.clear();
}

std::string Connection::token(Clock::time_point deadline) {
  if (options_.user.empty()) return {};
  {
    std::lock_guard lock(token_mutex_);
    if (!token_.empty()) return token_;
  }
  // Authenticated outside the lock, within this caller's own deadline: a keepalive that must
  // renew within TTL/3 never waits behind another thread's slower call. Threads that find
  // no token at the same moment each authenticate; every token etcd gives is valid.
  std::string errors;
  grpc::Status last;
  std::size_t start = current_.load();
  for (std::size_t tried = 0; Clock::now() < deadline; ++tried) {
    std::size_t i = (start + tried) % endpoints_.size();
    grpc::ClientContext context;
    set_deadline(context, deadline);
    etcdserverpb::AuthenticateRequest request;
    request.set_name(options_.user);
    request.set_password(options_.password);
    etcdserverpb::AuthenticateResponse response;
    last = endpoints_[i]->auth->Authenticate(&context, request, &response);
    if (last.ok()) {
      ++authentications_;
      std::lock_guard lock(token_mutex_);
      token_ = response.token();
      return token_;
    }
    if (!is_retryable(last)) {
      Error e = to_error(last, endpoints_[i]->address, "authenticate as '" + options_.user + "'");
      throw e;
    }
    errors += (errors.empty() ? "" : "; ") + endpoints_[i]->address + ": " + last.error_message();
    if ((tried + 1) % endpoints_.size() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw Error(last.error_code() == grpc::StatusCode::UNAVAILABLE ? Errc::unavailable : Errc::deadline_exceeded,
              "etcd: authenticate as '" + options_.user + "': no endpoint answered (" + errors + ")");
}

std::string Connection::authorize(grpc::ClientContext& context, Clock::time_point deadline) {
  std::string t = token(deadline);
  if (!t.empty()) context.AddMetadata("token", t);
  return t;
}

const char* rpc_name(Rpc rpc) noexcept {
  switch (rpc) {
    case Rpc::range: return "Range";
    case Rpc::put: return "Put";
    case Rpc::delete_range: return "DeleteRange";
    case Rpc::txn: return "Txn";
    case Rpc::compact: return "Compact";
    case Rpc::lease_grant: return "LeaseGrant";
    case Rpc::lease_revoke: return "LeaseRevoke";
    case Rpc::lease_time_to_live: return "LeaseTimeToLive";
  }
  return "unknown";
}

void Connection::call(Rpc rpc, const std::string& what, const Attempt& attempt,
                      std::optional<Clock::time_point> deadline) {
  CallStats& stats = calls_[static_cast<std::size_t>(rpc)];
  const Clock::time_point started = Clock::now();
  try {
    call_once(what, attempt, started, deadline);
  } catch (...) {
    stats.failures.fetch_add(1, std::memory_order_relaxed);
    stats.latency.observe(Clock::now() - started);
    throw;
  }
  stats.latency.observe(Clock::now() - started);
}

void Connection::call_once(const std::string& what, const Attempt& attempt, Clock::time_point started,
                           std::optional<Clock::time_point> deadline) {
  const Clock::time_point end = deadline.value_or(started + options_.call_timeout);
  const std::size_t n = endpoints_.size();
  std::string errors;
  grpc::Status last;
  bool reauthenticated = false;
  bool saw_unavailable = false;
  std::size_t failures = 0;
  while (true) {
    Clock::time_point now = Clock::now();
    if (now >= end) break;
    std::size_t i = current_.load();
    // Share what is left of the deadline among the endpoints not yet tried this round, so
    // one black-holed member cannot use it all up; the first attempt gets at least half,
    // as a healthy but slow (or still connecting) member is the common case.
    auto left_in_round = static_cast<long>(n - failures % n);
    Clock::duration slice = (end - now) / left_in_round;
    if (failures == 0) slice = std::max<Clock::duration>(slice, (end - now) / 2);
    slice = std::max<Clock::duration>(slice, std::chrono::milliseconds(250));
    Clock::time_point attempt_end = std::min(end, now + slice);
    grpc::ClientContext context;
    std::string used_token;
    set_deadline(context, attempt_end);
    // The first round fails fast on an endpoint whose channel is down, so a healthy member is
    // found at once. Once every endpoint has failed, wait for a connection within the slice:
    // a channel in TRANSIENT_FAILURE otherwise keeps answering with its last error and a
    // member that has just come back can be missed for the whole deadline.
    context.set_wait_for_ready(failures >= n);
    if (!options_.user.empty()) {
      used_token = token(end);
      context.AddMetadata("token", used_token);
    }
    last = attempt(*endpoints_[i], context);
    if (last.ok()) return;
    if (is_invalid_token(last) && !reauthenticated) {
      invalidate_token(used_token);
      reauthenticated = true;
      continue;
    }
    if (!is_retryable(last)) throw to_error(last, endpoints_[i]->address, what);
    saw_unavailable |= last.error_code() == grpc::StatusCode::UNAVAILABLE;
    std::string entry = endpoints_[i]->address + ": " + last.error_message();
    if (errors.find(entry) == std::string::npos) errors += (errors.empty() ? "" : "; ") + entry;
    mark_failed(i);
    if (++failures % n == 0) {
      std::this_thread::sleep_until(std::min(end, Clock::now() + std::chrono::milliseconds(50)));
    }
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(end - started).count();
  std::string all;
  for (const auto& e : endpoints_) all += (all.empty() ? "" : ", ") + e->address;
  // Unavailable if any member refused us (the message keeps why: refused, TLS handshake...);
  // deadline exceeded if they all merely failed to answer in time.
  Errc code = saw_unavailable ? Errc::unavailable : Errc::deadline_exceeded;
  throw Error(code, "etcd: " + what + ": no endpoint of " + all + " answered within " + std::to_string(ms) +
                        " ms (" + (errors.empty() ? std::string("no attempt finished") : errors) + ")");
}

}  // namespace frodo::etcd

namespace frodo {

std::vector<std::string> parse_endpoints(const std::string& list) {
  std::vector<std::string> endpoints;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    item = b == std::string::npos ? "" : item.substr(b, e - b + 1);
    etcd::ParsedEndpoint parsed = etcd::parse_endpoint(item);
    // The scheme stays: it is what chooses TLS. "HTTPS://" is kept as "https://".
    const char* scheme = parsed.scheme == etcd::Scheme::https ? "https://"
                         : parsed.scheme == etcd::Scheme::http ? "http://"
                                                                : "";
    endpoints.push_back(scheme + parsed.address);
  }
  if (endpoints.empty()) throw Error(Errc::invalid_argument, "no etcd endpoints given (expected host:port,...)");
  EtcdOptions check;
  check.endpoints = endpoints;
  etcd::uses_tls(check);  // refuses a list mixing http:// and https://
  return endpoints;
}

}  // namespace frodo
