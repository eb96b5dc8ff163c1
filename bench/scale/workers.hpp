// The scale bench's worker modes (workers.cpp) and what the coordinator shares with them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "worker_io.hpp"

namespace frodo::scale {

// key=value arguments of a worker, each checked where it is read.
struct WorkerArgs {
  std::map<std::string, std::string> values;
  std::string text(const std::string& key) const;  // non-empty
  std::int64_t number(const std::string& key, std::int64_t lo, std::int64_t hi) const;
  std::vector<std::string> list(const std::string& key) const;  // comma-separated, non-empty entries
};

// Server i's address on loopback: 127.A.B.C:7000 with A, B, C in 1..250 (only 127.0.0.0/8).
inline constexpr std::int64_t max_server_index = 250LL * 250 * 250;
std::string server_address(std::int64_t index);
// Its record, as frodo writes one (docs/etcd-schema.md).
std::string server_record(const std::string& address);

// `frodo_scale_bench worker <mode> key=value...`; returns the exit code.
int run_worker(int argc, char** argv);

}  // namespace frodo::scale
