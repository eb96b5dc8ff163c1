#include "http_api.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <exception>
#include <thread>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "core/text.hpp"
#include "frodo/address.hpp"
#include "frodo/error.hpp"
#include "frodo/metrics.hpp"
#include "live_options.hpp"
#include "status_page.hpp"
#include "terminal_text.hpp"

namespace frodo::cli {

struct HttpApi::Shared {
  std::mutex mutex;
  std::condition_variable changed;
  std::uint64_t generation = 0;  // bumped on every view change
  bool closed = false;
  std::size_t streams = 0;
  std::set<std::string> registered;  // through this API, not removed since

  // The view's JSON as GET /v1/servers and every watch stream send it, made once per view
  // (and lease) rather than once per stream: shares and the JSON of a large view cost
  // milliseconds, and every open stream sends the same one.
  std::mutex view_mutex;
  std::shared_ptr<const Snapshot> view_of;  // the view view_text was made from
  std::int64_t view_lease = 0;
  std::shared_ptr<const std::string> view_text;
};

namespace {

using nlohmann::json;

// A request the client got wrong, answered with `status` (4xx) and the message.
struct RequestError : std::runtime_error {
  RequestError(int status, std::string code, const std::string& message)
      : std::runtime_error(message), status(status), code(std::move(code)) {}
  int status;
  std::string code;
};

RequestError bad_request(const std::string& message) { return RequestError(400, "invalid_argument", message); }

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(json_text(body) + "\n", "application/json");
}

void reply_error(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  reply(res, status, {{"error", {{"code", code}, {"message", message}}}});
}

// etcd failing the sidecar is not the client's fault: 503, except a value the client sent.
int status_of(Errc code) {
  switch (code) {
    case Errc::invalid_argument: return 400;
    case Errc::internal: return 500;
    default: return 503;
  }
}

// Runs a handler; whatever it throws becomes a JSON error instead of reaching httplib.
template <typename Handler>
httplib::Server::Handler guarded(Handler handler) {
  return [handler](const httplib::Request& req, httplib::Response& res) {
    try {
      handler(req, res);
    } catch (const RequestError& e) {
      reply_error(res, e.status, e.code, e.what());
    } catch (const Error& e) {
      reply_error(res, status_of(e.code()), code_name(e.code()), e.what());
    } catch (const std::exception& e) {
      reply_error(res, 500, "internal", e.what());
    } catch (...) {
      reply_error(res, 500, "internal", "unknown exception");
    }
  };
}

// A text from the client, quoted for a message: escaped and cut.
std::string named(std::string_view text) { return "'" + detail::printable(text, 80) + "'"; }

// `n`: how many owners, 1 to Ring::max_members, from the query or a body.
std::size_t parse_count(std::string_view text) {
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n < 1 || n > Ring::max_members) {
    throw bad_request("bad n " + named(text) + ": expected a whole number from 1 to " +
                      std::to_string(Ring::max_members));
  }
  return n;
}

void check_id(std::string_view id, std::size_t max_bytes, const std::string& where) {
  if (id.size() > max_bytes) {
    throw bad_request(where + " is " + std::to_string(id.size()) + " bytes, more than the limit of " +
                      std::to_string(max_bytes));
  }
}

// A request body as JSON: nesting bounded before parsing, the parser's complaint named.
json parse_body(const std::string& body, int max_depth) {
  if (detail::json_deeper_than(body, max_depth)) {
    throw bad_request("the body nests deeper than " + std::to_string(max_depth) + " levels");
  }
  try {
    return json::parse(body);
  } catch (const json::parse_error& e) {
    throw bad_request(std::string("the body is not JSON: ") + e.what());
  }
}

// Appends `text` as a JSON string. Addresses are checked host:port text, so the escapes
// are for robustness, not for the common case.
void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += buffer;
    } else {
      out += c;
    }
  }
  out += '"';
}

// Appends `items` as a JSON array of strings.
void append_json_array(std::string& out, const std::vector<std::string>& items) {
  out += '[';
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    append_json_string(out, items[i]);
  }
  out += ']';
}

void append_view_stamp(std::string& out, const Snapshot& s) {
  out += ",\"revision\":";
  out += std::to_string(s.revision);
  out += ",\"checksum\":\"";
  out += s.ring.checksum_hex();
  out += "\"}\n";
}

// The body of POST /v1/owners, read by nlohmann's SAX parser straight into a vector of ids:
// no JSON tree of a million nodes, and the limits (ids in the batch, bytes per id) are
// enforced while reading, so an oversized batch is refused before it is held.
struct OwnersRequest {
  std::vector<std::string> ids;
  std::size_t n = 0;  // 0: one owner per id
};

class OwnersReader : public nlohmann::json_sax<json> {
 public:
  OwnersReader(std::size_t max_ids, std::size_t max_id_bytes) : max_ids_(max_ids), max_id_bytes_(max_id_bytes) {}

  OwnersRequest request;
  std::optional<RequestError> error;  // set when a callback stopped the parser
  bool saw_ids = false;

  bool null() override { return scalar("null"); }
  bool boolean(bool) override { return scalar("a boolean"); }
  bool number_integer(number_integer_t value) override {
    return value < 0 ? scalar("a negative number") : number(static_cast<std::uint64_t>(value));
  }
  bool number_unsigned(number_unsigned_t value) override { return number(value); }
  bool number_float(number_float_t, const string_t&) override { return scalar("a fraction"); }
  bool binary(binary_t&) override { return scalar("binary data"); }
  bool string(string_t& value) override {
    if (depth_ == 2 && field_ == Field::ids) {
      const std::size_t index = request.ids.size();
      if (index >= max_ids_) {
        return fail(RequestError(413, "payload_too_large",
                                 "more ids in one request than the limit of " + std::to_string(max_ids_)));
      }
      if (value.size() > max_id_bytes_) {
        return fail(bad_request("ids[" + std::to_string(index) + "] is " + std::to_string(value.size()) +
                                " bytes, more than the limit of " + std::to_string(max_id_bytes_)));
      }
      request.ids.push_back(std::move(value));
      return true;
    }
    return scalar("a string");
  }
  bool start_object(std::size_t) override {
    if (depth_ == 0) {
      ++depth_;
      return true;
    }
    return scalar("an object");
  }
  bool key(string_t& name) override {
    if (name == "ids") {
      field_ = Field::ids;
      saw_ids = true;
    } else if (name == "n") {
      field_ = Field::n;
    } else {
      return fail(bad_request("unknown field " + named(name) + " (expected \"ids\" and optionally \"n\")"));
    }
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 1 && field_ == Field::ids) {
      ++depth_;
      return true;
    }
    return scalar("an array");
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    if (!error) error = bad_request(std::string("the body is not JSON: ") + e.what());
    return false;
  }

 private:
  enum class Field { none, ids, n };

  bool fail(RequestError e) {
    error = std::move(e);
    return false;
  }
  bool number(std::uint64_t value) {
    if (depth_ == 1 && field_ == Field::n) {
      if (value < 1 || value > Ring::max_members) {
        return fail(bad_request("bad n '" + std::to_string(value) + "': expected a whole number from 1 to " +
                                std::to_string(Ring::max_members)));
      }
      request.n = static_cast<std::size_t>(value);
      return true;
    }
    return scalar("a number");
  }
  // A value where it does not belong: named by where it stands.
  bool scalar(const char* what) {
    if (depth_ == 0) return fail(bad_request("the body must be a JSON object {\"ids\": [...]}, not " + std::string(what)));
    if (depth_ == 2) {
      return fail(bad_request("ids[" + std::to_string(request.ids.size()) + "] is not a string but " + what));
    }
    if (field_ == Field::ids) return fail(bad_request("\"ids\" must be an array of strings, not " + std::string(what)));
    return fail(bad_request("\"n\" must be a whole number from 1 to " + std::to_string(Ring::max_members) + ", not " +
                            what));
  }

  const std::size_t max_ids_;
  const std::size_t max_id_bytes_;
  int depth_ = 0;
  Field field_ = Field::none;
};

OwnersRequest read_owners_request(const std::string& body, std::size_t max_ids, std::size_t max_id_bytes) {
  if (detail::json_deeper_than(body, 3)) throw bad_request("the body nests deeper than 3 levels");
  OwnersReader reader(max_ids, max_id_bytes);
  bool ok = json::sax_parse(body, &reader);
  if (reader.error) throw *reader.error;
  if (!ok) throw bad_request("the body is not JSON");
  if (!reader.saw_ids) throw bad_request("missing field \"ids\"");
  return std::move(reader.request);
}

// The owner of each id as its index in ring.members() (-1: none). A large batch is split
// between this thread and helper threads, one per further core (up to 3): hashing is the
// cost, and the ring is immutable, so the parts share nothing but the output slots.
std::vector<std::int32_t> owner_indexes(const Ring& ring, const std::vector<std::string>& ids) {
  std::vector<std::int32_t> out(ids.size());
  auto work = [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      std::optional<std::size_t> owner = ring.owner_index(ids[i]);
      out[i] = owner ? static_cast<std::int32_t>(*owner) : -1;
    }
  };
  constexpr std::size_t ids_per_part = 4096;  // below this a thread costs more than it saves
  const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t parts = std::min({cores, std::size_t{4}, std::max<std::size_t>(1, ids.size() / ids_per_part)});
  if (parts == 1) {
    work(0, ids.size());
    return out;
  }
  const std::size_t per = (ids.size() + parts - 1) / parts;
  std::vector<std::thread> helpers;
  std::vector<std::exception_ptr> errors(parts);
  for (std::size_t p = 1; p < parts; ++p) {
    helpers.emplace_back([&, p] {
      try {
        work(p * per, std::min(ids.size(), (p + 1) * per));
      } catch (...) {
        errors[p] = std::current_exception();
      }
    });
  }
  try {
    work(0, per);
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (std::thread& t : helpers) t.join();
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  return out;
}

// The view as GET /v1/servers and each watch event carry it, with the sidecar's lease (hex,
// or null before it has one): the servers registered here hang on it.
json view_body(const std::string& context, const Snapshot& s, std::int64_t lease) {
  return {{"context", context},
          {"revision", s.revision},
          {"algorithm", to_string(s.ring.algorithm())},
          {"checksum", s.ring.checksum_hex()},
          {"lease", lease != 0 ? json(lease_hex(lease)) : json(nullptr)},
          {"servers", servers_json(s)}};
}

// The JSON text of view_body for `s`, shared by every request that asks for the same view.
std::shared_ptr<const std::string> view_text(HttpApi::Shared& shared, const std::string& context,
                                             const std::shared_ptr<const Snapshot>& s, std::int64_t lease) {
  std::lock_guard lock(shared.view_mutex);
  if (shared.view_text && shared.view_of == s && shared.view_lease == lease) return shared.view_text;
  shared.view_text = std::make_shared<const std::string>(json_text(view_body(context, *s, lease)));
  shared.view_of = s;
  shared.view_lease = lease;
  return shared.view_text;
}

// One Server-Sent Event carrying the whole view; its id is the view's revision, which a
// client sends back as Last-Event-ID when it reconnects.
std::string view_event(HttpApi::Shared& shared, const std::string& context, const std::shared_ptr<const Snapshot>& s,
                       std::int64_t lease) {
  return "id: " + std::to_string(s->revision) + "\nevent: view\ndata: " + *view_text(shared, context, s, lease) +
         "\n\n";
}

}  // namespace

HttpApi::HttpApi(Cluster& cluster, HttpApiOptions options)
    : cluster_(cluster), options_(std::move(options)), shared_(std::make_shared<Shared>()) {
  // The callback holds the shared state, not the HttpApi: the Cluster keeps its callbacks
  // until it is destroyed, which may be after this object.
  subscription_ = cluster_.on_change([shared = shared_](const Snapshot&, const Snapshot&) {
    {
      std::lock_guard lock(shared->mutex);
      ++shared->generation;
    }
    shared->changed.notify_all();
  });
}

HttpApi::~HttpApi() { shut_down(); }

void HttpApi::shut_down() {
  {
    std::lock_guard lock(shared_->mutex);
    shared_->closed = true;
  }
  shared_->changed.notify_all();
}

void HttpApi::install(httplib::Server& server) {
  const std::size_t threads = options_.max_streams + options_.spare_threads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_payload_max_length(options_.max_body_bytes);
  server.set_keep_alive_max_count(1'000'000);
  server.set_keep_alive_timeout(5);
  server.set_read_timeout(5);
  server.set_write_timeout(5);
  server.set_tcp_nodelay(true);
  // httplib's own refusals (no such route, a body over the limit, a malformed request)
  // come without a body: give them the API's JSON error.
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    switch (res.status) {
      case 404:
        reply_error(res, 404, "not_found", "no such endpoint: " + req.method + " " + detail::printable(req.path, 200));
        break;
      case 413:
        reply_error(res, 413, "payload_too_large", "the request body is larger than the limit");
        break;
      default:
        reply_error(res, res.status, "bad_request", "the request was refused (HTTP " + std::to_string(res.status) + ")");
    }
  });

  // The status page (status_page.hpp): static, the data comes from /v1/servers and /v1/watch.
  server.Get("/", guarded([](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("Content-Security-Policy", status_page_csp());
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_content(status_page_html(), "text/html; charset=utf-8");
  }));
  server.Get("/healthz", guarded([](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, {{"status", "ok"}});
  }));
  server.Get("/readyz", guarded([this](const auto& req, auto& res) { get_ready(req, res); }));
  server.Get("/metrics", guarded([this](const httplib::Request&, httplib::Response& res) {
    res.set_content(prometheus_text(cluster_), prometheus_content_type);
  }));
  server.Get("/v1/owner", guarded([this](const auto& req, auto& res) { get_owner(req, res); }));
  server.Post("/v1/owners", guarded([this](const auto& req, auto& res) { post_owners(req, res); }));
  server.Get("/v1/servers", guarded([this](const auto& req, auto& res) { get_servers(req, res); }));
  server.Get("/v1/watch", guarded([this](const auto& req, auto& res) { get_watch(req, res); }));
  server.Put(R"(/v1/servers/(.+))", guarded([this](const auto& req, auto& res) { put_server(req, res); }));
  server.Delete(R"(/v1/servers/(.+))", guarded([this](const auto& req, auto& res) { delete_server(req, res); }));
}

void HttpApi::get_ready(const httplib::Request&, httplib::Response& res) {
  std::shared_ptr<const Snapshot> s = cluster_.snapshot();
  if (s->revision == 0) {
    reply(res, 503, {{"ready", false}, {"reason", "no view of the context loaded yet"}});
    return;
  }
  bool registered;
  {
    std::lock_guard lock(shared_->mutex);
    registered = !shared_->registered.empty();
  }
  if (registered && !cluster_.lease_alive()) {
    reply(res, 503, {{"ready", false}, {"reason", "the lease of the servers registered here is not alive"}});
    return;
  }
  reply(res, 200, {{"ready", true}, {"revision", s->revision}});
}

void HttpApi::get_owner(const httplib::Request& req, httplib::Response& res) {
  if (!req.has_param("id")) throw bad_request("missing query parameter 'id'");
  if (req.get_param_value_count("id") > 1) throw bad_request("query parameter 'id' given more than once");
  const std::string id = req.get_param_value("id");
  check_id(id, options_.max_id_bytes, "id");
  std::shared_ptr<const Snapshot> s = cluster_.snapshot();
  std::string out;
  if (req.has_param("n")) {
    std::size_t n = parse_count(req.get_param_value("n"));
    out = "{\"owners\":";
    append_json_array(out, s->owners(id, n));
  } else {
    out = "{\"owner\":";
    if (std::optional<std::string_view> owner = s->ring.owner(id)) {
      append_json_string(out, *owner);
    } else {
      out += "null";
    }
  }
  append_view_stamp(out, *s);
  res.status = 200;
  res.set_content(std::move(out), "application/json");
}

void HttpApi::post_owners(const httplib::Request& req, httplib::Response& res) {
  OwnersRequest request = read_owners_request(req.body, options_.max_batch_ids, options_.max_id_bytes);
  const std::vector<std::string>& ids = request.ids;
  const std::size_t n = request.n;

  std::shared_ptr<const Snapshot> s = cluster_.snapshot();
  std::string out = "{\"owners\":[";
  if (n == 0) {
    // Each member's quoted address rendered once; the ids only pick one.
    std::vector<std::string> quoted_members;
    quoted_members.reserve(s->ring.members().size());
    for (const Member& m : s->ring.members()) {
      std::string q;
      append_json_string(q, m.address);
      quoted_members.push_back(std::move(q));
    }
    out.reserve(out.size() + ids.size() * (quoted_members.empty() ? 5 : quoted_members.front().size() + 1) + 64);
    bool first = true;
    for (std::int32_t owner : owner_indexes(s->ring, ids)) {
      if (!first) out += ',';
      first = false;
      out += owner >= 0 ? quoted_members[static_cast<std::size_t>(owner)] : std::string("null");
    }
  } else {
    bool first = true;
    for (const std::string& id : ids) {
      if (!first) out += ',';
      first = false;
      append_json_array(out, s->owners(id, n));
    }
  }
  out += ']';
  append_view_stamp(out, *s);
  res.status = 200;
  res.set_content(std::move(out), "application/json");
}

void HttpApi::get_servers(const httplib::Request&, httplib::Response& res) {
  res.status = 200;
  res.set_content(*view_text(*shared_, options_.context, cluster_.snapshot(), cluster_.lease_id()) + "\n",
                  "application/json");
}

void HttpApi::get_watch(const httplib::Request& req, httplib::Response& res) {
  std::optional<std::int64_t> resume;  // the revision the client last received
  if (req.has_header("Last-Event-ID")) {
    std::string text = req.get_header_value("Last-Event-ID");
    std::int64_t revision = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), revision);
    if (ec != std::errc() || end != text.data() + text.size() || revision < 0) {
      throw bad_request("bad Last-Event-ID " + named(text) + ": expected a revision, a whole number");
    }
    resume = revision;
  }
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->closed) throw RequestError(503, "unavailable", "the server is shutting down");
    if (shared_->streams >= options_.max_streams) {
      throw RequestError(503, "unavailable",
                         "too many watch streams open (the limit is " + std::to_string(options_.max_streams) + ")");
    }
    ++shared_->streams;
  }

  struct Stream {
    bool started = false;
    std::int64_t revision = -1;  // of the last view sent
    std::uint64_t restarts = 0;
    std::uint64_t generation = 0;
  };
  auto stream = std::make_shared<Stream>();
  if (resume) stream->revision = *resume;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  std::shared_ptr<Shared> shared = shared_;
  Cluster& cluster = cluster_;
  const std::string context = options_.context;
  const auto heartbeat = options_.heartbeat;
  res.set_chunked_content_provider(
      "text/event-stream",
      [shared, stream, &cluster, context, heartbeat](std::size_t, httplib::DataSink& sink) {
        try {
          std::string out;
          if (!stream->started) {
            stream->started = true;
            {
              std::lock_guard lock(shared->mutex);
              stream->generation = shared->generation;
            }
            out = "retry: 1000\n\n";
          } else {
            std::unique_lock lock(shared->mutex);
            shared->changed.wait_for(lock, heartbeat,
                                     [&] { return shared->closed || shared->generation != stream->generation; });
            if (shared->closed) {
              lock.unlock();
              sink.done();
              return true;
            }
            stream->generation = shared->generation;
          }
          // A view is sent when it differs from the last one sent (or the one the client
          // resumed from); a revision lower than that one means etcd started over.
          std::shared_ptr<const Snapshot> s = cluster.snapshot();
          if (s->revision > 0 && (s->revision != stream->revision || s->restarts != stream->restarts)) {
            out += view_event(*shared, context, s, cluster.lease_id());
            stream->revision = s->revision;
            stream->restarts = s->restarts;
          } else if (out.empty()) {
            out = ": keep-alive\n\n";
          }
          return sink.write(out.data(), out.size());
        } catch (...) {
          return false;  // ends this stream; the releaser still runs
        }
      },
      [shared](bool) {
        std::lock_guard lock(shared->mutex);
        --shared->streams;
      });
}

std::int64_t HttpApi::register_server(const std::string& address, const AddOptions& options) {
  std::int64_t revision = cluster_.add_server(address, options);
  std::lock_guard lock(shared_->mutex);
  shared_->registered.insert(address);
  return revision;
}

void HttpApi::put_server(const httplib::Request& req, httplib::Response& res) {
  const std::string address = req.matches[1];
  if (auto problem = address_problem(address)) throw bad_request("bad address " + named(address) + ": " + *problem);
  AddOptions options;
  if (!req.body.empty()) {
    json body = parse_body(req.body, 3);
    if (!body.is_object()) throw bad_request("the body must be a JSON object {\"weight\":..., \"zone\":..., \"meta\":{...}}");
    for (const auto& [key, value] : body.items()) {
      if (key == "weight") {
        if (!value.is_number()) throw bad_request("\"weight\" must be a number");
        options.weight = value.get<double>();
      } else if (key == "zone") {
        if (!value.is_string()) throw bad_request("\"zone\" must be a string");
        options.zone = value.get<std::string>();
      } else if (key == "meta") {
        if (!value.is_object()) throw bad_request("\"meta\" must be an object of strings");
        for (const auto& [name, text] : value.items()) {
          if (!text.is_string()) throw bad_request("meta " + named(name) + " must be a string");
          options.meta[name] = text.get<std::string>();
        }
      } else {
        throw bad_request("unknown field " + named(key) + " (expected \"weight\", \"zone\" or \"meta\")");
      }
    }
  }
  std::int64_t revision = register_server(address, options);  // invalid weight, zone or meta: 400
  reply(res, 200, {{"address", address}, {"revision", revision}, {"lease", lease_hex(cluster_.lease_id())}});
}

void HttpApi::delete_server(const httplib::Request& req, httplib::Response& res) {
  const std::string address = req.matches[1];
  if (auto problem = address_problem(address)) throw bad_request("bad address " + named(address) + ": " + *problem);
  bool removed = cluster_.remove_server(address);
  {
    std::lock_guard lock(shared_->mutex);
    shared_->registered.erase(address);
  }
  if (!removed) {
    throw RequestError(404, "not_found", named(address) + " is not registered in context " + options_.context);
  }
  reply(res, 200, {{"removed", address}, {"revision", cluster_.snapshot()->revision}});
}

}  // namespace frodo::cli
