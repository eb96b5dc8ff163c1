// Acked: what a client knows it delivered for one host, the reference the checker compares
// the store with. Written as JSON lines so a client and a checker can be separate processes:
//
//   {"host":"host-7","seq":41,"status":"DOWN"}
//   {"host":"host-9","seq":40,"status":"UP","in_flight":{"seq":41,"status":"DOWN"}}
//
// `in_flight` is an event the client gave up on while stopping: it was sent but never
// acknowledged, so the store may or may not hold it, and either is correct.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace alerts {

struct Acked {
  std::int64_t seq = 0;  // the last acknowledged event (0: none)
  std::string status;    // its status
  std::int64_t in_flight_seq = 0;  // an unacknowledged event given up on (0: none)
  std::string in_flight_status;

  friend bool operator==(const Acked&, const Acked&) = default;
};

// Writes one line per host, sorted by host. Throws frodo::Error naming the path on failure.
void write_acked(const std::filesystem::path& path, const std::map<std::string, Acked>& acked);
// Reads what write_acked wrote. Throws frodo::Error(invalid_argument) naming FILE:LINE and
// the problem for a malformed line; blank lines are skipped.
std::map<std::string, Acked> read_acked(const std::filesystem::path& path);

}  // namespace alerts
