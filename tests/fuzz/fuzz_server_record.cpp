// Fuzzes the etcd server-record decoder, decode_server (src/registry/server_record.cpp).
//
// Input: KEY_ADDRESS '\0' VALUE, or, without a NUL byte, the whole input is the value of
// the key "a:1" (the address the seeds use). Invariants: a failure says why; a record that
// decodes re-encodes (encode_server) to a value that decodes to the same ServerInfo.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "check.hpp"
#include "registry/server_record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using frodo::fuzz::check;
  std::string input(reinterpret_cast<const char*>(data), size);
  std::size_t nul = input.find('\0');
  std::string key = nul == std::string::npos ? "a:1" : input.substr(0, nul);
  std::string value = nul == std::string::npos ? input : input.substr(nul + 1);

  std::string problem;
  std::optional<frodo::ServerInfo> server = frodo::detail::decode_server(key, value, &problem);
  if (!server) {
    check(!problem.empty(), "a refused record names its problem");
    return 0;
  }
  check(server->address == key, "a decoded record has its key's address", server->address + " vs " + key);
  std::string encoded = frodo::detail::encode_server(*server);
  std::string again_problem;
  std::optional<frodo::ServerInfo> again = frodo::detail::decode_server(key, encoded, &again_problem);
  check(again.has_value(), "a re-encoded record decodes", encoded + ": " + again_problem);
  check(*again == *server, "a re-encoded record decodes to the same server", encoded);
  return 0;
}
