// Conversions between JavaScript values and frodo's C++ types, for the addon's wrappers.
//
// Every function here runs on the JS thread. The ones that read JavaScript input check its
// type and size first and throw a JS Error whose .code is a frodo::Errc name
// ("invalid_argument", ...) and whose message names the bad value.
#pragma once

#include <napi.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "frodo/cluster.hpp"
#include "frodo/error.hpp"

namespace frodoio {

// The longest string the addon accepts from JavaScript anywhere (ids, addresses, option
// values): larger ones are refused before they are copied.
inline constexpr std::size_t max_string_bytes = 1 << 20;


// A JS Error with .code set, ready to throw or to reject a Promise with.
Napi::Error make_error(Napi::Env env, frodo::Errc code, const std::string& message);
Napi::Error make_error(Napi::Env env, const frodo::Error& error);
// What an exception escaping the C++ library becomes in JavaScript.
Napi::Error make_error(Napi::Env env, const std::exception& error);

// Runs `body`, turning a C++ exception into a JS Error: a frodo::Error keeps its code, any
// other exception is "internal". Every entry from JavaScript runs its work through it
// (node-addon-api itself passes on only Napi::Error).
template <typename Body>
auto translate_exceptions(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const frodo::Error& error) {
    throw make_error(env, error);
  } catch (const std::exception& error) {
    throw make_error(env, frodo::Errc::internal, error.what());
  }
}

// `value` as a string; throws invalid_argument naming `what` if it is not a string or is
// longer than max_string_bytes in UTF-8.
std::string string_arg(const Napi::Value& value, const char* what);

// Copies the string `value` into `buffer` (UTF-8) and returns a view of it, growing the
// buffer only for long strings; throws like string_arg.
std::string_view string_arg(const Napi::Value& value, const char* what, std::string& buffer);

// The Cluster options from the object index.js built ({context, endpoints, ttl, prefix,
// algorithm, callTimeoutMs, maxValueBytes, maxReceiveBytes, tls: {ca, cert, key}, user,
// password}); absent members keep frodo's defaults. The logger is set by the caller.
frodo::ClusterOptions cluster_options(const Napi::Object& object);

// {weight, zone, meta, persistent} (undefined: the defaults).
frodo::AddOptions add_options(const Napi::Value& value);

// An etcd id (a lease) in lowercase hex, as etcdctl prints it.
std::string hex_id(std::int64_t value);

// {servers: [{address, weight, zone, meta, created, lease}], revision, checksum, restarts}.
Napi::Object view_object(Napi::Env env, const frodo::Snapshot& view);

}  // namespace frodoio
