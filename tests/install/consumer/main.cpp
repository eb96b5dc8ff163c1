#include <frodo/ring.hpp>

#include <iostream>

int main() {
  frodo::Ring ring({{"10.0.0.1:3030"}, {"10.0.0.2:3030"}, {"10.0.0.3:3030"}});
  std::cout << *ring.owner("someId") << '\n';
}
