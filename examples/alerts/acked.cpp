#include "acked.hpp"

#include <fstream>
#include <nlohmann/json.hpp>

#include "event.hpp"
#include "frodo/error.hpp"

namespace alerts {

using nlohmann::json;

void write_acked(const std::filesystem::path& path, const std::map<std::string, Acked>& acked) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw frodo::Error(frodo::Errc::invalid_argument, "cannot write '" + path.string() + "'");
  for (const auto& [host, a] : acked) {
    json line = {{"host", host}, {"seq", a.seq}, {"status", a.status}};
    if (a.in_flight_seq != 0) line["in_flight"] = {{"seq", a.in_flight_seq}, {"status", a.in_flight_status}};
    out << line.dump() << '\n';
  }
  out.flush();
  if (!out) throw frodo::Error(frodo::Errc::unavailable, "cannot write '" + path.string() + "'");
}

std::map<std::string, Acked> read_acked(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw frodo::Error(frodo::Errc::invalid_argument, "cannot read '" + path.string() + "'");
  std::map<std::string, Acked> acked;
  std::string text;
  for (int number = 1; std::getline(in, text); ++number) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto bad = [&](const std::string& why) {
      return frodo::Error(frodo::Errc::invalid_argument,
                          path.string() + ":" + std::to_string(number) + ": " + why);
    };
    json line = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!line.is_object()) throw bad("not a JSON object");
    // The same validation as an event on the wire, except that seq 0 means "nothing acknowledged".
    json as_event = line;
    as_event.erase("in_flight");
    bool nothing = as_event.value("seq", json()) == 0;
    if (nothing) {
      as_event["seq"] = 1;
      as_event["status"] = "UP";
    }
    ParsedEvent event = parse_event(as_event.dump());
    if (auto* problem = std::get_if<std::string>(&event)) throw bad(*problem);
    const Event& e = std::get<Event>(event);
    Acked a{nothing ? 0 : e.seq, nothing ? std::string() : e.status, 0, {}};
    if (auto f = line.find("in_flight"); f != line.end()) {
      json flight = *f;
      if (!flight.is_object()) throw bad("in_flight must be an object");
      flight["host"] = e.host;
      ParsedEvent in_flight = parse_event(flight.dump());
      if (auto* problem = std::get_if<std::string>(&in_flight)) throw bad("in_flight: " + *problem);
      a.in_flight_seq = std::get<Event>(in_flight).seq;
      a.in_flight_status = std::get<Event>(in_flight).status;
    }
    if (!acked.emplace(e.host, a).second) throw bad("host '" + e.host + "' appears twice");
  }
  return acked;
}

}  // namespace alerts
