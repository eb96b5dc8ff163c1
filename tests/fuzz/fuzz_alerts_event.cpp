// Fuzzes the alerts example's event decoder, parse_event (examples/alerts/event.cpp).
//
// Invariants: a refusal says why; an accepted event has a valid host, seq >= 1 and status
// UP or DOWN, and to_json gives a body that parses back to the same event.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "check.hpp"
#include "event.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using frodo::fuzz::check;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  alerts::ParsedEvent parsed = alerts::parse_event(body);
  if (const auto* why = std::get_if<std::string>(&parsed)) {
    check(!why->empty(), "a refused event names its problem");
    return 0;
  }
  const alerts::Event& event = std::get<alerts::Event>(parsed);
  check(body.size() <= alerts::max_event_bytes, "an accepted body is within the size limit");
  check(alerts::host_problem(event.host).empty(), "an accepted host is valid", event.host);
  check(event.seq >= 1, "an accepted seq is >= 1");
  check(event.status == "UP" || event.status == "DOWN", "an accepted status is UP or DOWN", event.status);
  std::string json = alerts::to_json(event);
  alerts::ParsedEvent again = alerts::parse_event(json);
  check(std::holds_alternative<alerts::Event>(again), "to_json's body parses", json);
  check(std::get<alerts::Event>(again) == event, "to_json's body parses to the same event", json);
  return 0;
}
