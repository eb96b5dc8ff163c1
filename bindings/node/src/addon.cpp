// The frodoio addon's entry point: the classes index.js wraps.
#include <napi.h>

#include "native_cluster.hpp"
#include "native_guard.hpp"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeCluster", frodoio::NativeCluster::Define(env));
  exports.Set("NativeGuard", frodoio::NativeGuard::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(frodoio, Init)
