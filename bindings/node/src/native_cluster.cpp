#include "native_cluster.hpp"

#include <iostream>
#include <system_error>
#include <thread>

#include "convert.hpp"
#include "guard_slot.hpp"
#include "task.hpp"

namespace frodoio {

namespace {

constexpr int max_queued_warnings = 1000;
// Batch lookups at least this long run on a helper thread (while index.js encodes the next).
constexpr std::size_t parallel_batch = 4096;
constexpr std::uint32_t no_owner = 0xFFFFFFFF;
constexpr std::size_t max_owner_strings = 1 << 16;

void call_event(Napi::Function callback, std::initializer_list<napi_value> args) {
  // An exception thrown by a listener surfaces as Node's uncaught exception, as it would
  // from any EventEmitter; it must not unwind into the thread-safe function's machinery.
  try {
    callback.Call(args);
  } catch (const Napi::Error& error) {
    error.ThrowAsJavaScriptException();
  }
}

const char* reason_name(frodo::LeaseLossReason reason) {
  switch (reason) {
    case frodo::LeaseLossReason::expired: return "expired";
    case frodo::LeaseLossReason::revoked: return "revoked";
    case frodo::LeaseLossReason::unreachable: return "unreachable";
    case frodo::LeaseLossReason::closed: return "closed";
  }
  return "unknown";
}

}  // namespace

void ClusterCore::shut_down() {
  std::vector<std::weak_ptr<GuardSlot>> ending;
  std::shared_ptr<frodo::Cluster> closing;
  {
    std::lock_guard lock(mutex);
    if (closed) return;
    closed = true;
    ending.swap(guards);
    closing = cluster;
  }
  for (auto& weak : ending) {
    if (auto slot = weak.lock()) slot->end();
  }
  if (closing) closing->close();
}

Napi::Function NativeCluster::Define(Napi::Env env) {
  return DefineClass(env, "NativeCluster",
                     {
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::Open>>("open"),
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::Lookup>>("lookup"),
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::LookupIndex>>("lookupIndex"),
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::OwnerTable>>("ownerTable"),
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::StartLookup>>("startLookup"),
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::FinishLookup>>("finishLookup"),
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::Owners>>("owners"),
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::Owns>>("owns"),
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::Add>>("add"),
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::Remove>>("remove"),
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::Close>>("close"),
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::View>>("view"),
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::Revision>>("revision"),
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::Checksum>>("checksum"),
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::LeaseAlive>>("leaseAlive"),
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::LeaseId>>("leaseId"),
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::Ref>>("ref"),
                         InstanceMethod<&NativeCluster::Entry<&NativeCluster::Unref>>("unref"),
                     });
}

NativeCluster::NativeCluster(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<NativeCluster>(info), core_(std::make_shared<ClusterCore>()) {
  translate_exceptions(info.Env(), [&] { construct(info); });
}

void NativeCluster::construct(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw make_error(env, frodo::Errc::invalid_argument, "options must be an object");
  if (!info[1].IsFunction()) throw make_error(env, frodo::Errc::invalid_argument, "onEvent must be a function");
  options_ = cluster_options(info[0].As<Napi::Object>());
  frodo::validate_context(options_.context);
  for (const std::string& endpoint : options_.etcd.endpoints) frodo::parse_endpoints(endpoint);
  if (options_.etcd.endpoints.empty()) {
    throw make_error(env, frodo::Errc::invalid_argument, "etcdServers is empty: give at least one etcd member");
  }
  core_->has_logger = info[2].ToBoolean().Value();
  core_->events = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "frodoio events", 0, 1);
  core_->events.Unref(env);
  // Added after the thread-safe function's own teardown hook, so it runs before it: the
  // Cluster's threads are stopped before the function they call goes away.
  napi_add_env_cleanup_hook(env, &NativeCluster::CleanUpAtExit, this);
  cleanup_hook_ = true;
}

NativeCluster::~NativeCluster() {
  if (pending_) {
    for (std::thread& worker : pending_->workers) {
      if (worker.joinable()) worker.join();
    }
  }
  if (cleanup_hook_) napi_remove_env_cleanup_hook(Env(), &NativeCluster::CleanUpAtExit, this);
  core_->shut_down();
  core_->release_events(true);
}

void NativeCluster::CleanUpAtExit(void* self) {
  auto* cluster = static_cast<NativeCluster*>(self);
  cluster->cleanup_hook_ = false;
  try {
    cluster->core_->shut_down();
  } catch (const std::exception& error) {
    std::cerr << "frodoio: closing at exit failed: " << error.what() << '\n';
  }
  cluster->core_->release_events(true);
}

void ClusterCore::release_events(bool drop_queued) {
  if (events_released) return;
  events_released = true;
  if (drop_queued) {
    events.Abort();
  } else {
    events.Release();
  }
}

std::shared_ptr<ClusterCore> NativeCluster::core_for_guard(Napi::Env env) {
  open_cluster(env);
  return core_;
}

const frodo::Cluster& NativeCluster::open_cluster(Napi::Env env) const {
  if (core_->cluster == nullptr) {
    throw make_error(env, frodo::Errc::unavailable,
                     opening_ ? "frodoio: not connected yet (await frodo.ready first)" : "frodoio: not connected");
  }
  if (core_->closed.load(std::memory_order_relaxed)) {
    throw make_error(env, frodo::Errc::failed_precondition, "frodoio: this Frodo is closed");
  }
  return *core_->cluster;
}

Napi::Value NativeCluster::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (opening_ || core_->cluster) throw make_error(env, frodo::Errc::invalid_argument, "open() called twice");
  opening_ = true;
  std::shared_ptr<ClusterCore> core = core_;
  frodo::ClusterOptions options = options_;
  std::weak_ptr<ClusterCore> weak = core_;
  if (core->has_logger) {
    options.logger = [weak](const std::string& message) {
      auto core = weak.lock();
      if (!core || core->queued_warnings.fetch_add(1) >= max_queued_warnings) {
        if (core) core->queued_warnings.fetch_sub(1);
        std::cerr << "frodo: " << message << '\n';
        return;
      }
      napi_status status = core->events.NonBlockingCall([weak, message](Napi::Env env, Napi::Function callback) {
        if (auto core = weak.lock()) core->queued_warnings.fetch_sub(1);
        call_event(callback, {Napi::String::New(env, "warning"), Napi::String::New(env, message)});
      });
      if (status != napi_ok) core->queued_warnings.fetch_sub(1);
    };
  }
  return Task::Run(env, Value(), "frodoio.open", [core, options, weak]() -> Task::Result {
    auto cluster = std::make_shared<frodo::Cluster>(options);
    auto subscriptions = std::make_shared<std::vector<frodo::Subscription>>();
    subscriptions->push_back(cluster->on_change([weak](const frodo::Snapshot& before, const frodo::Snapshot& after) {
      auto core = weak.lock();
      if (!core) return;
      {
        std::lock_guard lock(core->mutex);
        if (core->pending_change) {  // one is waiting for the JS thread: it takes this view too
          core->pending_change->second = after;
          return;
        }
        core->pending_change.emplace(before, after);
      }
      core->events.NonBlockingCall([weak](Napi::Env env, Napi::Function callback) {
        auto core = weak.lock();
        if (!core) return;
        std::optional<std::pair<frodo::Snapshot, frodo::Snapshot>> change;
        {
          std::lock_guard lock(core->mutex);
          change.swap(core->pending_change);
        }
        if (!change) return;
        call_event(callback, {Napi::String::New(env, "change"), view_object(env, change->first),
                              view_object(env, change->second)});
      });
    }));
    subscriptions->push_back(cluster->on_lease_lost([weak](frodo::LeaseLossReason reason) {
      auto core = weak.lock();
      if (!core) return;
      core->events.NonBlockingCall([reason](Napi::Env env, Napi::Function callback) {
        call_event(callback, {Napi::String::New(env, "leaseLost"), Napi::String::New(env, reason_name(reason))});
      });
    }));
    if (!cluster->wait_ready(options.etcd.call_timeout)) {
      throw frodo::Error(frodo::Errc::deadline_exceeded,
                         "the first view of context '" + options.context + "' did not arrive within " +
                             std::to_string(options.etcd.call_timeout.count()) + " ms");
    }
    return [core, cluster, subscriptions](Napi::Env env) -> Napi::Value {
      bool closed;
      {
        std::lock_guard lock(core->mutex);
        closed = core->closed;
        if (!closed) {
          core->cluster = cluster;
          for (frodo::Subscription& s : *subscriptions) core->subscriptions.push_back(std::move(s));
        }
      }
      if (closed) cluster->close();  // close() came first: this Cluster is never used
      return env.Undefined();
    };
  });
}

Napi::Value NativeCluster::Lookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const frodo::Cluster& cluster = open_cluster(env);
  std::string_view id = string_arg(info[0], "id", id_buffer_);
  std::optional<std::string> owner = cluster.server_by_id(id);
  if (!owner) return env.Null();
  return Napi::String::New(env, *owner);
}

// lookupIndex(id) → the owner's place in ownerTable(); -1: no owner; -2 - place: the same,
// in a table that replaced the one returned before (index.js then asks for it again).
Napi::Value NativeCluster::LookupIndex(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const frodo::Cluster& cluster = open_cluster(env);
  std::string_view id = string_arg(info[0], "id", id_buffer_);
  std::optional<std::string> owner = cluster.server_by_id(id);
  if (!owner) return Napi::Number::New(env, -1);
  auto known = owner_places_.find(*owner);
  if (known != owner_places_.end()) return Napi::Number::New(env, known->second);
  bool replaced = false;
  if (owner_table_.IsEmpty() || owner_places_.size() >= max_owner_strings) {
    owner_places_.clear();
    owner_table_ = Napi::Persistent(Napi::Array::New(env));
    replaced = true;
  }
  auto place = static_cast<std::uint32_t>(owner_places_.size());
  owner_table_.Value().Set(place, Napi::String::New(env, *owner));
  owner_places_.emplace(std::move(*owner), place);
  return Napi::Number::New(env, replaced ? -2.0 - place : place);
}

Napi::Value NativeCluster::OwnerTable(const Napi::CallbackInfo& info) {
  if (owner_table_.IsEmpty()) return Napi::Array::New(info.Env());
  return owner_table_.Value();
}

void NativeCluster::names_for(Napi::Env env, const std::shared_ptr<const frodo::Snapshot>& view) {
  if (view == names_view_) return;
  const std::vector<frodo::Member>& members = view->ring.members();
  Napi::Array names = Napi::Array::New(env, members.size());
  for (std::uint32_t i = 0; i < members.size(); ++i) names.Set(i, members[i].address);
  names_ = Napi::Persistent(names);
  names_view_ = view;
}

// startLookup(bytes, ends, count, out): looks up ids 0..count-1, which are
// bytes[ends[i-1], ends[i]) (UTF-8, as index.js's serversByIds wrote them into a Buffer), on a
// helper thread, in the view of this moment: out[i] becomes the owner of id i as an index
// into the names finishLookup() returns, or 0xFFFFFFFF when there is none. index.js encodes
// the next chunk of ids meanwhile and must not touch these three arrays until
// finishLookup() (it keeps two sets and alternates). One lookup at a time.
Napi::Value NativeCluster::StartLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const frodo::Cluster& cluster = open_cluster(env);
  if (pending_) throw make_error(env, frodo::Errc::invalid_argument, "startLookup: a lookup is already running");
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
      !info[2].IsNumber() || !info[3].IsTypedArray() ||
      info[3].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    throw make_error(env, frodo::Errc::invalid_argument,
                     "startLookup(bytes, ends, count, out): Uint8Array, Uint32Array, number, Uint32Array");
  }
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  Napi::Uint32Array ends = info[1].As<Napi::Uint32Array>();
  Napi::Uint32Array answers = info[3].As<Napi::Uint32Array>();
  double wanted = info[2].As<Napi::Number>().DoubleValue();
  if (!(wanted >= 0) || wanted > static_cast<double>(ends.ElementLength()) ||
      wanted > static_cast<double>(answers.ElementLength())) {
    throw make_error(env, frodo::Errc::invalid_argument, "startLookup: count is larger than ends or out");
  }
  const auto count = static_cast<std::size_t>(wanted);
  const std::uint32_t* end = ends.Data();
  const std::size_t size = bytes.ByteLength();
  for (std::size_t i = 0, begin = 0; i < count; begin = end[i], ++i) {
    if (end[i] < begin || end[i] > size) {
      throw make_error(env, frodo::Errc::invalid_argument,
                       "startLookup: ends[" + std::to_string(i) + "] is out of order or past the bytes");
    }
  }
  auto pending = std::make_unique<PendingLookup>();
  pending->view = cluster.snapshot();
  pending->bytes = Napi::Persistent(bytes);
  pending->ends = Napi::Persistent(ends);
  pending->out = Napi::Persistent(answers);
  // Pure C++ on data nobody else writes meanwhile: the immutable ring, and the arrays.
  auto look_up = [ring = pending->view->ring, text = reinterpret_cast<const char*>(bytes.Data()), end,
                  out = answers.Data()](std::size_t first, std::size_t last) noexcept {
    std::uint32_t begin = first == 0 ? 0 : end[first - 1];
    for (std::size_t i = first; i < last; ++i) {
      std::optional<std::size_t> index = ring.owner_index(std::string_view(text + begin, end[i] - begin));
      out[i] = index ? static_cast<std::uint32_t>(*index) : no_owner;
      begin = end[i];
    }
  };
  if (count < parallel_batch) {
    look_up(0, count);  // not worth a thread
  } else {
    // Two halves on two helpers: with this thread encoding the next chunk meanwhile, the
    // machine's cores share three jobs.
    std::size_t bounds[3] = {0, count / 2, count};
    for (int k = 0; k < 2; ++k) {
      try {
        pending->workers[k] = std::thread(look_up, bounds[k], bounds[k + 1]);
      } catch (const std::system_error&) {  // no thread to be had: this one does it
        look_up(bounds[k], bounds[k + 1]);
      }
    }
  }
  pending_ = std::move(pending);
  return env.Undefined();
}

// finishLookup() → names: waits for the lookup startLookup() began.
Napi::Value NativeCluster::FinishLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!pending_) throw make_error(env, frodo::Errc::invalid_argument, "finishLookup: no lookup is running");
  std::unique_ptr<PendingLookup> done = std::move(pending_);
  for (std::thread& worker : done->workers) {
    if (worker.joinable()) worker.join();
  }
  names_for(env, done->view);
  return names_.Value();
}

Napi::Value NativeCluster::Owners(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const frodo::Cluster& cluster = open_cluster(env);
  std::string_view id = string_arg(info[0], "id", id_buffer_);
  if (!info[1].IsNumber()) throw make_error(env, frodo::Errc::invalid_argument, "n must be a number");
  double n = info[1].As<Napi::Number>().DoubleValue();
  if (!(n >= 0 && n <= 65535) || n != static_cast<double>(static_cast<std::size_t>(n))) {
    throw make_error(env, frodo::Errc::invalid_argument,
                     "n must be a whole number from 0 to 65535, got " + std::to_string(n));
  }
  std::vector<std::string> owners = cluster.owners(id, static_cast<std::size_t>(n));
  Napi::Array result = Napi::Array::New(env, owners.size());
  for (std::uint32_t i = 0; i < owners.size(); ++i) result.Set(i, owners[i]);
  return result;
}

Napi::Value NativeCluster::Owns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const frodo::Cluster& cluster = open_cluster(env);
  return Napi::Boolean::New(env, cluster.owns(string_arg(info[0], "id", id_buffer_)));
}

Napi::Value NativeCluster::Add(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  open_cluster(env);
  std::string address = string_arg(info[0], "address");
  frodo::AddOptions options = add_options(info[1]);
  std::shared_ptr<frodo::Cluster> cluster = core_->cluster;
  return Task::Run(env, Value(), "frodoio.addServer", [cluster, address, options]() -> Task::Result {
    std::int64_t revision = cluster->add_server(address, options);
    return [revision](Napi::Env env) { return Napi::Number::New(env, static_cast<double>(revision)); };
  });
}

Napi::Value NativeCluster::Remove(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  open_cluster(env);
  std::string address = string_arg(info[0], "address");
  std::shared_ptr<frodo::Cluster> cluster = core_->cluster;
  return Task::Run(env, Value(), "frodoio.removeServer", [cluster, address]() -> Task::Result {
    bool removed = cluster->remove_server(address);
    return [removed](Napi::Env env) { return Napi::Boolean::New(env, removed); };
  });
}

Napi::Value NativeCluster::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<ClusterCore> core = core_;
  return Task::Run(env, Value(), "frodoio.close", [core]() -> Task::Result {
    core->shut_down();
    return [core](Napi::Env env) -> Napi::Value {
      core->release_events(false);
      return env.Undefined();
    };
  });
}

Napi::Value NativeCluster::View(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<const frodo::Snapshot> view = open_cluster(env).snapshot();
  return view_object(env, *view);
}

Napi::Value NativeCluster::Revision(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Number::New(env, static_cast<double>(open_cluster(env).snapshot()->revision));
}

Napi::Value NativeCluster::Checksum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::String::New(env, open_cluster(env).snapshot()->ring.checksum_hex());
}

Napi::Value NativeCluster::LeaseAlive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Boolean::New(env, open_cluster(env).lease_alive());
}

Napi::Value NativeCluster::LeaseId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::String::New(env, hex_id(open_cluster(env).lease_id()));
}

Napi::Value NativeCluster::Ref(const Napi::CallbackInfo& info) {
  if (!core_->events_released) core_->events.Ref(info.Env());
  return info.Env().Undefined();
}

Napi::Value NativeCluster::Unref(const Napi::CallbackInfo& info) {
  if (!core_->events_released) core_->events.Unref(info.Env());
  return info.Env().Undefined();
}

}  // namespace frodoio
