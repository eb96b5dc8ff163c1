// The harnesses' assertion: a broken invariant prints what broke and aborts, which
// libFuzzer reports as a crash and saves the input that caused it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace frodo::fuzz {

inline void check(bool holds, const char* invariant, const std::string& detail = {}) {
  if (holds) return;
  std::fprintf(stderr, "invariant broken: %s\n%s\n", invariant, detail.c_str());
  std::abort();
}

}  // namespace frodo::fuzz
