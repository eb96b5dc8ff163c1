#include "server_record.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "frodo/address.hpp"
#include "frodo/error.hpp"
#include "frodo/ring.hpp"

namespace frodo::detail {

std::string servers_prefix(const std::string& prefix, const std::string& context) {
  return prefix + "/" + context + "/servers/";
}

std::string encode_server(const ServerInfo& server) {
  nlohmann::json meta = nlohmann::json::object();
  for (const auto& [k, v] : server.meta) meta[k] = v;
  nlohmann::json j = {{"address", server.address}, {"weight", server.weight}, {"zone", server.zone}, {"meta", meta}};
  return j.dump();
}

void validate_server(const ServerInfo& server) {
  if (auto problem = address_problem(server.address)) {
    throw Error(Errc::invalid_argument, "bad address '" + server.address + "': " + *problem);
  }
  if (auto problem = weight_problem(server.weight)) {
    throw Error(Errc::invalid_argument, "bad weight " + nlohmann::json(server.weight).dump() + " for '" + server.address +
                                            "': " + *problem);
  }
}

std::optional<ServerInfo> decode_server(const std::string& key_address, const std::string& value, std::string* problem) {
  nlohmann::json j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  auto fail = [&](const std::string& why) -> std::optional<ServerInfo> {
    if (problem) *problem = why;
    return std::nullopt;
  };
  if (!j.is_object()) return fail("value is not a JSON object");
  ServerInfo s;
  if (!j.contains("address") || !j["address"].is_string()) return fail("no \"address\" string");
  s.address = j["address"].get<std::string>();
  if (s.address != key_address) return fail("address '" + s.address + "' differs from the key's '" + key_address + "'");
  if (j.contains("weight")) {
    if (!j["weight"].is_number()) return fail("\"weight\" is not a number");
    s.weight = j["weight"].get<double>();
  }
  if (j.contains("zone")) {
    if (!j["zone"].is_string()) return fail("\"zone\" is not a string");
    s.zone = j["zone"].get<std::string>();
  }
  if (j.contains("meta") && j["meta"].is_object()) {
    for (const auto& [k, v] : j["meta"].items()) s.meta[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  try {
    validate_server(s);
  } catch (const Error& e) {
    return fail(e.what());
  }
  return s;
}

}  // namespace frodo::detail
