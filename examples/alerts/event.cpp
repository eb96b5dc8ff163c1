#include "event.hpp"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

namespace alerts {
namespace {

using nlohmann::json;

// Error messages quote values, but a 4 KiB value would drown the message: quote a prefix.
std::string quote(std::string_view text) {
  constexpr std::size_t shown = 40;
  if (text.size() <= shown) return "'" + std::string(text) + "'";
  return "'" + std::string(text.substr(0, shown)) + "...' (" + std::to_string(text.size()) + " characters)";
}

std::string shown(const json& value) {
  return quote(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

}  // namespace

std::string host_problem(std::string_view host) {
  auto ok_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  };
  if (host.empty() || host.size() > 253 || !std::all_of(host.begin(), host.end(), ok_char)) {
    return "bad host " + quote(host) + ": expected 1-253 characters of A-Z a-z 0-9 . _ -";
  }
  return {};
}

ParsedEvent parse_event(std::string_view body) {
  if (body.size() > max_event_bytes) {
    return "event body is " + std::to_string(body.size()) + " bytes, more than the " +
           std::to_string(max_event_bytes) + " allowed";
  }
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return "body is not JSON: " + quote(body);
  if (!j.is_object()) return "event must be a JSON object, got " + shown(j);

  Event event;
  auto host = j.find("host");
  if (host == j.end()) return "missing host";
  if (!host->is_string()) return "host must be a string, got " + shown(*host);
  event.host = host->get<std::string>();
  if (std::string problem = host_problem(event.host); !problem.empty()) return problem;

  auto seq = j.find("seq");
  if (seq == j.end()) return "missing seq";
  // 1.0 is a float in JSON terms; accepting it would make "1.5" an odd special case.
  bool integer = seq->is_number_integer() &&
                 (seq->is_number_unsigned()
                      ? seq->get<std::uint64_t>() <= std::uint64_t(std::numeric_limits<std::int64_t>::max())
                      : true);
  if (!integer || seq->get<std::int64_t>() < 1) return "seq must be an integer >= 1, got " + shown(*seq);
  event.seq = seq->get<std::int64_t>();

  auto status = j.find("status");
  if (status == j.end()) return "missing status";
  if (!status->is_string() || (*status != "UP" && *status != "DOWN")) {
    return "status must be \"UP\" or \"DOWN\", got " + shown(*status);
  }
  event.status = status->get<std::string>();
  return event;
}

std::string to_json(const Event& event) {
  return json{{"host", event.host}, {"seq", event.seq}, {"status", event.status}}.dump();
}

}  // namespace alerts
