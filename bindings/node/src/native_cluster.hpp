// NativeCluster: the JavaScript class behind index.js's Frodo, over one frodo::Cluster.
//
// Threads: every method runs on the JS thread. Lookups call the Cluster's lock-free lookups
// directly; add, remove, open and close block on etcd, so they run as Tasks (task.hpp) and
// return Promises. The Cluster's callbacks (view changes, lease losses, warnings) run on its
// own thread and reach JavaScript through one thread-safe function, as onEvent(kind, ...):
//   onEvent('change', before, after)   views as convert.hpp's view_object; when changes come
//                                       faster than the JS thread takes them, the waiting one
//                                       is merged (its `after` becomes the newest view)
//   onEvent('leaseLost', reason)       "expired", "revoked", "unreachable" or "closed"
//   onEvent('warning', message)        only with a logger (else they go to stderr); at most
//                                       1,000 wait at a time, more go to stderr
// The thread-safe function does not keep the process alive until ref() (index.js refs it
// while this process has servers registered).
//
// Lifetime: close() (or the environment's teardown at exit, or garbage collection) ends
// the Guards made on this cluster first, then closes the Cluster, which revokes its lease.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "frodo/cluster.hpp"

namespace frodoio {

// What a NativeGuard holds, so that its Cluster can end it first (see native_guard.hpp).
struct GuardSlot;

// The state shared by a NativeCluster, its Tasks, its Cluster's callbacks and its Guards.
struct ClusterCore {
  std::shared_ptr<frodo::Cluster> cluster;  // null until open() has finished, and after close()
  Napi::ThreadSafeFunction events;
  bool events_released = false;  // JS thread only

  std::mutex mutex;  // guards what follows
  std::optional<std::pair<frodo::Snapshot, frodo::Snapshot>> pending_change;
  std::vector<std::weak_ptr<GuardSlot>> guards;
  // The Cluster's change and lease-loss callbacks, registered for as long as the core lives.
  std::vector<frodo::Subscription> subscriptions;
  std::atomic<bool> closed{false};  // written under `mutex`; read without it by the lookups

  std::atomic<int> queued_warnings{0};
  bool has_logger = false;

  // Lets go of `events` (JS thread only, idempotent): calls already queued are delivered,
  // unless `drop_queued` (at exit and on garbage collection, when nobody listens any more).
  void release_events(bool drop_queued);

  // Ends every Guard, then closes the Cluster (blocking on etcd: off the JS thread, except
  // at exit). Idempotent.
  void shut_down();
};

class NativeCluster : public Napi::ObjectWrap<NativeCluster> {
 public:
  static Napi::Function Define(Napi::Env env);

  // new NativeCluster(options, onEvent, hasLogger)
  explicit NativeCluster(const Napi::CallbackInfo& info);
  ~NativeCluster() override;

  // The open Cluster, or a thrown JS Error ("unavailable") before open() or after close().
  std::shared_ptr<ClusterCore> core_for_guard(Napi::Env env);

 private:
  // Method, with C++ exceptions turned into JS Errors (translate_exceptions).
  template <Napi::Value (NativeCluster::*Method)(const Napi::CallbackInfo&)>
  Napi::Value Entry(const Napi::CallbackInfo& info) {
    return translate_exceptions(info.Env(), [&] { return (this->*Method)(info); });
  }
  void construct(const Napi::CallbackInfo& info);

  Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value Lookup(const Napi::CallbackInfo& info);
  Napi::Value LookupIndex(const Napi::CallbackInfo& info);
  Napi::Value OwnerTable(const Napi::CallbackInfo& info);
  Napi::Value StartLookup(const Napi::CallbackInfo& info);
  Napi::Value FinishLookup(const Napi::CallbackInfo& info);
  void names_for(Napi::Env env, const std::shared_ptr<const frodo::Snapshot>& view);
  Napi::Value Owners(const Napi::CallbackInfo& info);
  Napi::Value Owns(const Napi::CallbackInfo& info);
  Napi::Value Add(const Napi::CallbackInfo& info);
  Napi::Value Remove(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value View(const Napi::CallbackInfo& info);
  Napi::Value Revision(const Napi::CallbackInfo& info);
  Napi::Value Checksum(const Napi::CallbackInfo& info);
  Napi::Value LeaseAlive(const Napi::CallbackInfo& info);
  Napi::Value LeaseId(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);

  const frodo::Cluster& open_cluster(Napi::Env env) const;
  static void CleanUpAtExit(void* self);

  std::shared_ptr<ClusterCore> core_;
  frodo::ClusterOptions options_;
  bool opening_ = false;
  bool cleanup_hook_ = false;
  // Owned by the JS thread:
  std::string id_buffer_;  // lookups copy ids here
  // The JS strings of owners already answered by lookupIndex(), so a lookup makes no new
  // string: each owner's place in owner_table_, an array index.js holds too (Node-API
  // before version 10 refers to objects only, not to strings). Bounded: when the map
  // reaches max_owner_strings, both start again empty (a new array, which lookupIndex()
  // signals).
  std::unordered_map<std::string, std::uint32_t> owner_places_;
  Napi::Reference<Napi::Array> owner_table_;
  // The batch lookup startLookup() began, until finishLookup(): the helper thread and what
  // it reads and writes (kept from garbage collection meanwhile).
  struct PendingLookup {
    std::thread workers[2];
    std::shared_ptr<const frodo::Snapshot> view;
    Napi::Reference<Napi::Uint8Array> bytes;
    Napi::Reference<Napi::Uint32Array> ends;
    Napi::Reference<Napi::Uint32Array> out;
  };
  std::unique_ptr<PendingLookup> pending_;
  // finishLookup's names: the ring members of the view they were made for, as a JS array.
  std::shared_ptr<const frodo::Snapshot> names_view_;
  Napi::Reference<Napi::Array> names_;
};

}  // namespace frodoio
