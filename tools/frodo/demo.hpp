// `frodo demo` as a function: runs the seed's scenario (demo.cpp says what it does) and
// returns the command's exit status. The command line is demo_command.cpp's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "process/termination_signals.hpp"

namespace frodo::cli::demo {

struct DemoOptions {
  std::string etcd;  // empty: start a local etcd
  std::size_t servers = 3;
  std::size_t hosts = 1000;
  std::int64_t events = 0;  // 0: for the whole duration
  int duration_s = 30;
  bool churn = true;
  bool guard = true;
  bool fencing = true;
  int ttl_s = 2;
  long long work_us = 2000;
  std::size_t workers = 32;
  bool json = false;
  bool keep = false;
};


// Runs the demo with `options` (already checked: plan_churn accepts the duration), stopping
// early when one of `signals` arrives; prints the live lines and the report. Returns 0 when
// the checker passes, 1 otherwise (the report says why). Starts threads: call it from the
// thread that blocked the signals, before any other thread. Not thread-safe.
int run_demo(const DemoOptions& options, process::TerminationSignals& signals);

}  // namespace frodo::cli::demo
