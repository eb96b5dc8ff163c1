// OpenSSL 3 marks the one-shot MD5() deprecated in favour of EVP, whose provider dispatch
// costs more than the digest itself for the short inputs a lookup hashes. MD5 here is a
// ring function, not security, so the direct call is the right one.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "md5.hpp"

#include <openssl/md5.h>

namespace frodo::detail {

Md5Digest md5(std::string_view bytes) noexcept {
  Md5Digest digest;
  MD5(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest.data());
  return digest;
}

}  // namespace frodo::detail
