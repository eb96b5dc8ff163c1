#include "server_record.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/text.hpp"
#include "frodo/address.hpp"
#include "frodo/error.hpp"
#include "frodo/ring.hpp"

namespace frodo::detail {
namespace {

std::string weight_text(double weight) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", weight);
  return buffer;
}

// The first problem with a server's fields, or nullopt.
std::optional<std::string> server_problem(const ServerInfo& server) {
  if (auto problem = address_problem(server.address)) {
    return "bad address '" + printable(server.address) + "': " + *problem;
  }
  if (auto problem = weight_problem(server.weight)) {
    return "bad weight " + weight_text(server.weight) + " for '" + server.address + "': " + *problem;
  }
  if (auto problem = zone_problem(server.zone)) {
    return "bad zone '" + printable(server.zone) + "' for '" + server.address + "': " + *problem;
  }
  for (const auto& [key, value] : server.meta) {
    if (key.empty()) return "empty meta key for '" + server.address + "'";
    if (auto problem = text_problem(key)) {
      return "bad meta key '" + printable(key) + "' for '" + server.address + "': " + *problem;
    }
    // Values may hold any valid UTF-8 (JSON escapes control characters); bytes that are not
    // UTF-8 cannot be written as JSON at all.
    if (!valid_utf8(value)) return "bad meta value for '" + printable(key) + "' of '" + server.address + "': invalid UTF-8";
  }
  return std::nullopt;
}

}  // namespace

std::string servers_prefix(const std::string& prefix, const std::string& context) {
  return prefix + "/" + context + "/servers/";
}

std::string encode_server(const ServerInfo& server) {
  nlohmann::json meta = nlohmann::json::object();
  for (const auto& [k, v] : server.meta) meta[k] = v;
  nlohmann::json j = {{"address", server.address}, {"weight", server.weight}, {"zone", server.zone}, {"meta", meta}};
  return j.dump();
}

void validate_server(const ServerInfo& server, std::size_t max_value_bytes) {
  if (auto problem = server_problem(server)) throw Error(Errc::invalid_argument, *problem);
  std::size_t size = encode_server(server).size();
  if (size > max_value_bytes) {
    throw Error(Errc::invalid_argument, "the record of '" + server.address + "' would be " + std::to_string(size) +
                                            " bytes, over the limit of " + std::to_string(max_value_bytes));
  }
}

std::optional<ServerInfo> decode_server(std::string_view key_address, std::string_view value, std::string* problem,
                                        std::size_t max_value_bytes) {
  auto fail = [&](const std::string& why) -> std::optional<ServerInfo> {
    if (problem) *problem = why;
    return std::nullopt;
  };
  // Bounded before anything looks inside: size first, then depth, then the parser.
  if (value.size() > max_value_bytes) {
    return fail("value is " + std::to_string(value.size()) + " bytes, over the limit of " +
                std::to_string(max_value_bytes));
  }
  if (json_deeper_than(value, max_record_depth)) {
    return fail("value nests deeper than " + std::to_string(max_record_depth) + " levels");
  }
  nlohmann::json j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return fail(j.is_discarded() ? "value is not valid JSON" : "value is not a JSON object");
  ServerInfo s;
  auto address = j.find("address");
  if (address == j.end() || !address->is_string()) return fail("no \"address\" string");
  s.address = address->get<std::string>();
  if (s.address != key_address) {
    return fail("address '" + printable(s.address) + "' differs from the key's '" + printable(key_address) + "'");
  }
  if (auto weight = j.find("weight"); weight != j.end()) {
    if (!weight->is_number()) return fail("\"weight\" is not a number");
    s.weight = weight->get<double>();
  }
  if (auto zone = j.find("zone"); zone != j.end()) {
    if (!zone->is_string()) return fail("\"zone\" is not a string");
    s.zone = zone->get<std::string>();
  }
  if (auto meta = j.find("meta"); meta != j.end()) {
    if (!meta->is_object()) return fail("\"meta\" is not an object");
    for (const auto& [k, v] : meta->items()) {
      if (!v.is_string()) return fail("meta \"" + printable(k) + "\" is not a string");
      s.meta[k] = v.get<std::string>();
    }
  }
  if (auto why = server_problem(s)) return fail(*why);
  return s;
}

}  // namespace frodo::detail
