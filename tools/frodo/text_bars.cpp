#include "text_bars.hpp"

#include <algorithm>
#include <cmath>

namespace frodo::cli {

std::string text_bar(double fraction, int width) {
  static const char* const eighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
  if (!(fraction > 0)) return "";
  long cells = std::lround(std::min(fraction, 1.0) * width * 8);
  std::string bar;
  for (long i = 0; i < cells / 8; ++i) bar += "█";
  bar += eighths[cells % 8];
  return bar;
}

}  // namespace frodo::cli
