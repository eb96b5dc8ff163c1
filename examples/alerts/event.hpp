// Event: one report about one monitored host ("web-17 is DOWN"), as a client POSTs it.
//
//   {"host":"web-17","seq":3,"status":"DOWN"}
//
// `seq` numbers the events of one host from 1, in the order the client produced them: the
// servers must apply them in that order, each exactly once. Parsing is strict about the
// three fields (each error names the field and the bad value) and ignores unknown fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace alerts {

// The largest body parse_event accepts (a server answers 413 above it).
inline constexpr std::size_t max_event_bytes = 4096;

struct Event {
  std::string host;       // [A-Za-z0-9._-]{1,253}
  std::int64_t seq = 0;   // >= 1
  std::string status;     // "UP" or "DOWN"

  friend bool operator==(const Event&, const Event&) = default;
};

// The event, or why `body` is not one ("missing seq", "bad host 'a b': ...").
using ParsedEvent = std::variant<Event, std::string>;
ParsedEvent parse_event(std::string_view body);

// Why `host` is not a valid host name, or an empty string if it is.
std::string host_problem(std::string_view host);

// The body a client sends; parse_event(to_json(e)) gives e back.
std::string to_json(const Event& event);

}  // namespace alerts
