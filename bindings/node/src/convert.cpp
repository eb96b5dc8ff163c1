#include "convert.hpp"

#include <cinttypes>
#include <cstdio>
#include <limits>
#include <optional>

#include "frodo/address.hpp"
#include "frodo/ring.hpp"

namespace frodoio {

std::string hex_id(std::int64_t value) {
  char text[32];
  std::snprintf(text, sizeof text, "%" PRIx64, static_cast<std::uint64_t>(value));
  return text;
}

Napi::Error make_error(Napi::Env env, frodo::Errc code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, frodo::code_name(code)));
  return error;
}

Napi::Error make_error(Napi::Env env, const frodo::Error& error) { return make_error(env, error.code(), error.what()); }

Napi::Error make_error(Napi::Env env, const std::exception& error) {
  if (auto* frodo_error = dynamic_cast<const frodo::Error*>(&error)) return make_error(env, *frodo_error);
  return make_error(env, frodo::Errc::internal, error.what());
}

namespace {

[[noreturn]] void bad_argument(const Napi::Env& env, const std::string& message) {
  throw make_error(env, frodo::Errc::invalid_argument, message);
}

const char* type_name(const Napi::Value& value) {
  switch (value.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "a boolean";
    case napi_number: return "a number";
    case napi_string: return "a string";
    case napi_symbol: return "a symbol";
    case napi_object: return value.IsArray() ? "an array" : "an object";
    case napi_function: return "a function";
    case napi_external: return "an external";
    case napi_bigint: return "a bigint";
  }
  return "a value";
}

bool present(const Napi::Value& value) { return !value.IsUndefined() && !value.IsNull(); }

double number_member(const Napi::Object& object, const char* name, double low, double high) {
  Napi::Value value = object.Get(name);
  if (!value.IsNumber()) bad_argument(object.Env(), std::string(name) + " must be a number, got " + type_name(value));
  double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= low && number <= high)) {
    bad_argument(object.Env(), std::string(name) + " must be between " + std::to_string(low) + " and " +
                                   std::to_string(high) + ", got " + std::to_string(number));
  }
  return number;
}

std::string string_member(const Napi::Object& object, const char* name) {
  return string_arg(object.Get(name), name);
}

}  // namespace

std::string_view string_arg(const Napi::Value& value, const char* what, std::string& buffer) {
  napi_env env = value.Env();
  std::size_t length = 0;
  // A first try into the buffer as it is covers every short string with one copy, and
  // tells a non-string apart (checking the type first would cost as much again).
  if (buffer.size() < 256) buffer.resize(256);
  napi_status status = napi_get_value_string_utf8(env, value, buffer.data(), buffer.size(), &length);
  if (status != napi_ok) bad_argument(value.Env(), std::string(what) + " must be a string, got " + type_name(value));
  // Node-API copies whole characters only, so a string cut short leaves up to 3 bytes of
  // the buffer unused besides the terminating NUL: only a shorter copy is surely whole.
  if (length + 4 < buffer.size()) return {buffer.data(), length};
  // Possibly cut short: ask for the whole length.
  status = napi_get_value_string_utf8(env, value, nullptr, 0, &length);
  if (status != napi_ok) bad_argument(value.Env(), std::string(what) + " could not be read as a string");
  if (length > max_string_bytes) {
    bad_argument(value.Env(), std::string(what) + " is " + std::to_string(length) + " bytes long, more than the " +
                                  std::to_string(max_string_bytes) + " allowed");
  }
  buffer.resize(length + 1);
  napi_get_value_string_utf8(env, value, buffer.data(), buffer.size(), &length);
  return {buffer.data(), length};
}

std::string string_arg(const Napi::Value& value, const char* what) {
  std::string buffer;
  std::string_view text = string_arg(value, what, buffer);
  return std::string(text);
}

frodo::ClusterOptions cluster_options(const Napi::Object& object) {
  frodo::ClusterOptions options;
  options.context = string_member(object, "context");
  Napi::Value endpoints = object.Get("endpoints");
  if (!endpoints.IsArray()) bad_argument(object.Env(), "endpoints must be an array");
  Napi::Array list = endpoints.As<Napi::Array>();
  options.etcd.endpoints.clear();
  for (std::uint32_t i = 0; i < list.Length() && i < 1000; ++i) {
    options.etcd.endpoints.push_back(string_arg(list.Get(i), "an etcd endpoint"));
  }
  if (present(object.Get("ttl"))) {
    options.lease_ttl = std::chrono::seconds(static_cast<long>(number_member(object, "ttl", 1, 86400)));
  }
  if (present(object.Get("prefix"))) options.prefix = string_member(object, "prefix");
  if (present(object.Get("algorithm"))) options.algorithm = frodo::parse_algorithm(string_member(object, "algorithm"));
  if (present(object.Get("callTimeoutMs"))) {
    options.etcd.call_timeout =
        std::chrono::milliseconds(static_cast<long>(number_member(object, "callTimeoutMs", 1, 3600 * 1000)));
  }
  if (present(object.Get("connectTimeoutMs"))) {
    options.connect_timeout =
        std::chrono::milliseconds(static_cast<long>(number_member(object, "connectTimeoutMs", 0, 3600 * 1000)));
  }
  if (present(object.Get("maxValueBytes"))) {
    options.max_value_bytes = static_cast<std::size_t>(number_member(object, "maxValueBytes", 1024, 16 << 20));
  }
  if (present(object.Get("maxReceiveBytes"))) {
    options.etcd.max_receive_bytes =
        static_cast<std::size_t>(number_member(object, "maxReceiveBytes", 1 << 20, 1 << 30));
  }
  Napi::Value tls = object.Get("tls");
  if (present(tls)) {
    if (!tls.IsObject()) bad_argument(object.Env(), std::string("tls must be an object, got ") + type_name(tls));
    Napi::Object files = tls.As<Napi::Object>();
    frodo::EtcdTls settings;
    if (present(files.Get("ca"))) settings.ca_file = string_member(files, "ca");
    if (present(files.Get("cert"))) settings.cert_file = string_member(files, "cert");
    if (present(files.Get("key"))) settings.key_file = string_member(files, "key");
    options.etcd.tls = settings;
  }
  if (present(object.Get("user"))) options.etcd.user = string_member(object, "user");
  if (present(object.Get("password"))) options.etcd.password = string_member(object, "password");
  return options;
}

frodo::AddOptions add_options(const Napi::Value& value) {
  frodo::AddOptions options;
  if (!present(value)) return options;
  if (!value.IsObject()) bad_argument(value.Env(), std::string("server options must be an object, got ") + type_name(value));
  Napi::Object object = value.As<Napi::Object>();
  if (present(object.Get("weight"))) {
    options.weight = number_member(object, "weight", frodo::Ring::min_weight, frodo::Ring::max_weight);
  }
  if (present(object.Get("zone"))) options.zone = string_member(object, "zone");
  Napi::Value meta = object.Get("meta");
  if (present(meta)) {
    if (!meta.IsObject() || meta.IsArray()) {
      bad_argument(value.Env(), std::string("meta must be an object of strings, got ") + type_name(meta));
    }
    Napi::Object pairs = meta.As<Napi::Object>();
    Napi::Array keys = pairs.GetPropertyNames();
    if (keys.Length() > 10000) bad_argument(value.Env(), "meta has more than 10000 keys");
    for (std::uint32_t i = 0; i < keys.Length(); ++i) {
      std::string key = string_arg(keys.Get(i), "a meta key");
      Napi::Value entry = pairs.Get(key);
      if (!entry.IsString()) {
        bad_argument(value.Env(), "meta['" + key + "'] must be a string, got " + type_name(entry));
      }
      options.meta[key] = string_arg(entry, "a meta value");
    }
  }
  Napi::Value persistent = object.Get("persistent");
  if (present(persistent)) {
    if (!persistent.IsBoolean()) bad_argument(value.Env(), std::string("persistent must be a boolean, got ") + type_name(persistent));
    options.persistent = persistent.As<Napi::Boolean>().Value();
  }
  return options;
}

Napi::Object view_object(Napi::Env env, const frodo::Snapshot& view) {
  Napi::Object object = Napi::Object::New(env);
  Napi::Array servers = Napi::Array::New(env, view.servers.size());
  std::uint32_t i = 0;
  for (const frodo::ServerInfo& server : view.servers) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("address", server.address);
    entry.Set("weight", server.weight);
    entry.Set("zone", server.zone);
    Napi::Object meta = Napi::Object::New(env);
    for (const auto& [key, value] : server.meta) meta.Set(key, value);
    entry.Set("meta", meta);
    entry.Set("created", static_cast<double>(server.created));
    entry.Set("lease", hex_id(server.lease));
    servers.Set(i++, entry);
  }
  object.Set("servers", servers);
  object.Set("revision", static_cast<double>(view.revision));
  object.Set("checksum", view.ring.checksum_hex());
  object.Set("restarts", static_cast<double>(view.restarts));
  return object;
}

}  // namespace frodoio
