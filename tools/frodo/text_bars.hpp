#pragma once

#include <string>

namespace frodo::cli {

// A horizontal bar of `fraction` (0-1) of `width` cells, drawn with Unicode eighth blocks.
std::string text_bar(double fraction, int width);

}  // namespace frodo::cli
