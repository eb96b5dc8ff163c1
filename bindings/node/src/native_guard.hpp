// NativeGuard: the JavaScript class behind index.js's Guard, over one frodo::Guard.
//
//   new NativeGuard(nativeCluster, address, {weight, zone, meta, catchUpMs, releaseTimeoutMs})
//   open()                      → Promise: registers the guarded server (blocks on etcd: a Task)
//   admit(id, clientRevision)   → {verdict, owner, revision, token, reason, handle}
//   end(handle)                 ends an admission (idempotent)
//   leave(timeoutMs)            → Promise: the graceful exit (a Task)
//   stats()                     → GuardStats as an object
//
// admit() runs on the JS thread and must not block it, so catch_up defaults to 0 here (a
// server behind the client answers wait "behind client" at once; the client retries).
// An admitted verdict carries `handle`, an External owning the frodo::Admission: it counts
// in flight until end(handle), or until garbage collection, which ends it with a warning
// (an admission left open delays every handoff of its id).
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "frodo/guard.hpp"
#include "guard_slot.hpp"
#include "native_cluster.hpp"

namespace frodoio {

class NativeGuard : public Napi::ObjectWrap<NativeGuard> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeGuard(const Napi::CallbackInfo& info);

 private:
  // Method, with C++ exceptions turned into JS Errors (translate_exceptions).
  template <Napi::Value (NativeGuard::*Method)(const Napi::CallbackInfo&)>
  Napi::Value Entry(const Napi::CallbackInfo& info) {
    return translate_exceptions(info.Env(), [&] { return (this->*Method)(info); });
  }
  void construct(const Napi::CallbackInfo& info);

  Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value Admit(const Napi::CallbackInfo& info);
  Napi::Value End(const Napi::CallbackInfo& info);
  Napi::Value Leave(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);

  std::shared_ptr<ClusterCore> core_;
  std::shared_ptr<GuardSlot> slot_;
  Napi::ObjectReference cluster_object_;  // keeps the NativeCluster from garbage collection
  std::string address_;
  frodo::GuardOptions options_;
  bool opening_ = false;
  std::string id_buffer_;
};

}  // namespace frodoio
