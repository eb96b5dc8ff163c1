#include "native_guard.hpp"

#include <iostream>

#include "convert.hpp"
#include "task.hpp"

namespace frodoio {

namespace {

// What an admitted verdict's handle owns.
struct AdmissionHandle {
  std::shared_ptr<GuardSlot> slot;
  frodo::Admission admission;
  bool ended = false;

  void end() {
    std::lock_guard lock(slot->mutex);
    if (ended) return;
    ended = true;
    admission.done();
  }
};

void finalize_admission(Napi::Env, AdmissionHandle* handle) {
  if (!handle->ended) {
    std::cerr << "frodoio: an admission was garbage-collected without done(); ended now (call done() when the "
                 "work is finished, or its id's handoffs wait)\n";
  }
  handle->end();
  delete handle;
}

double optional_number(const Napi::Object& object, const char* name, double fallback, double low, double high) {
  Napi::Value value = object.Get(name);
  if (value.IsUndefined() || value.IsNull()) return fallback;
  if (!value.IsNumber()) throw make_error(object.Env(), frodo::Errc::invalid_argument, std::string(name) + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= low && number <= high)) {
    throw make_error(object.Env(), frodo::Errc::invalid_argument,
                     std::string(name) + " must be between " + std::to_string(low) + " and " + std::to_string(high) +
                         ", got " + std::to_string(number));
  }
  return number;
}

}  // namespace

Napi::Function NativeGuard::Define(Napi::Env env) {
  return DefineClass(env, "NativeGuard",
                     {
                         InstanceMethod<&NativeGuard::Entry<&NativeGuard::Open>>("open"),
                         InstanceMethod<&NativeGuard::Entry<&NativeGuard::Admit>>("admit"),
                         InstanceMethod<&NativeGuard::Entry<&NativeGuard::End>>("end"),
                         InstanceMethod<&NativeGuard::Entry<&NativeGuard::Leave>>("leave"),
                         InstanceMethod<&NativeGuard::Entry<&NativeGuard::Stats>>("stats"),
                     });
}

NativeGuard::NativeGuard(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeGuard>(info) {
  translate_exceptions(info.Env(), [&] { construct(info); });
}

void NativeGuard::construct(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw make_error(env, frodo::Errc::invalid_argument, "a NativeCluster is needed");
  NativeCluster* cluster = NativeCluster::Unwrap(info[0].As<Napi::Object>());
  core_ = cluster->core_for_guard(env);
  cluster_object_ = Napi::Persistent(info[0].As<Napi::Object>());
  address_ = string_arg(info[1], "address");
  options_.server = add_options(info[2]);
  if (options_.server.persistent) throw make_error(env, frodo::Errc::invalid_argument, "a guarded server cannot be persistent");
  options_.catch_up = std::chrono::milliseconds(0);
  if (info[2].IsObject()) {
    Napi::Object object = info[2].As<Napi::Object>();
    options_.catch_up = std::chrono::milliseconds(static_cast<long>(optional_number(object, "catchUpMs", 0, 0, 60000)));
    Napi::Value timeout = object.Get("releaseTimeoutMs");
    if (!timeout.IsUndefined() && !timeout.IsNull()) {
      options_.release_timeout =
          std::chrono::milliseconds(static_cast<long>(optional_number(object, "releaseTimeoutMs", 0, 1, 86400e3)));
    }
  }
  slot_ = std::make_shared<GuardSlot>();
  slot_->cluster = core_->cluster;
}

Napi::Value NativeGuard::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (opening_) throw make_error(env, frodo::Errc::invalid_argument, "open() called twice");
  opening_ = true;
  {
    std::lock_guard lock(core_->mutex);
    if (core_->closed) throw make_error(env, frodo::Errc::invalid_argument, "frodoio: this Frodo is closed");
    core_->guards.push_back(slot_);
  }
  std::shared_ptr<GuardSlot> slot = slot_;
  std::string address = address_;
  frodo::GuardOptions options = options_;
  return Task::Run(env, Value(), "frodoio.guard", [slot, address, options]() -> Task::Result {
    auto guard = std::make_shared<frodo::Guard>(*slot->cluster, address, options);
    std::lock_guard lock(slot->mutex);
    slot->guard = std::move(guard);
    slot->made = true;
    return nullptr;
  });
}

Napi::Value NativeGuard::Admit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string_view id = string_arg(info[0], "id", id_buffer_);
  std::int64_t client_revision = 0;
  if (!info[1].IsUndefined() && !info[1].IsNull()) {
    if (!info[1].IsNumber()) throw make_error(env, frodo::Errc::invalid_argument, "clientRevision must be a number");
    double revision = info[1].As<Napi::Number>().DoubleValue();
    if (!(revision >= 0 && revision <= 9007199254740991.0)) {
      throw make_error(env, frodo::Errc::invalid_argument, "clientRevision must be a revision (0 or more)");
    }
    client_revision = static_cast<std::int64_t>(revision);
  }
  auto handle = std::make_unique<AdmissionHandle>();
  handle->slot = slot_;
  {
    std::lock_guard lock(slot_->mutex);
    if (!slot_->guard) {
      Napi::Object result = Napi::Object::New(env);
      result.Set("verdict", "wait");
      result.Set("owner", address_);
      result.Set("revision", 0);
      result.Set("token", 0);
      result.Set("reason", slot_->made ? "closed" : "not registered");
      return result;
    }
    handle->admission = slot_->guard->admit(id, client_revision);
  }
  const frodo::Admission& a = handle->admission;
  Napi::Object result = Napi::Object::New(env);
  result.Set("verdict", frodo::to_string(a.verdict()));
  result.Set("owner", a.owner());
  result.Set("revision", static_cast<double>(a.revision()));
  result.Set("token", static_cast<double>(a.token()));
  result.Set("reason", a.reason());
  if (a.verdict() == frodo::Verdict::admit) {
    result.Set("handle", Napi::External<AdmissionHandle>::New(env, handle.release(), finalize_admission));
  }
  return result;
}

Napi::Value NativeGuard::End(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) info[0].As<Napi::External<AdmissionHandle>>().Data()->end();
  return info.Env().Undefined();
}

Napi::Value NativeGuard::Leave(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double timeout = 10000;
  if (info[0].IsNumber()) timeout = info[0].As<Napi::Number>().DoubleValue();
  if (!(timeout >= 0 && timeout <= 3600e3)) throw make_error(env, frodo::Errc::invalid_argument, "timeoutMs must be 0 to 3600000");
  std::shared_ptr<GuardSlot> slot = slot_;
  return Task::Run(env, Value(), "frodoio.leave", [slot, timeout]() -> Task::Result {
    std::shared_ptr<frodo::Guard> guard;
    {
      std::lock_guard lock(slot->mutex);
      guard = slot->guard;
    }
    if (guard) guard->leave(std::chrono::milliseconds(static_cast<long>(timeout)));
    guard.reset();
    slot->end();  // admit() answers wait "closed" from now on
    return nullptr;
  });
}

Napi::Value NativeGuard::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  frodo::GuardStats stats;
  {
    std::lock_guard lock(slot_->mutex);
    if (slot_->guard) stats = slot_->guard->stats();
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("admitted", static_cast<double>(stats.admitted));
  result.Set("redirected", static_cast<double>(stats.redirected));
  result.Set("waited", static_cast<double>(stats.waited));
  result.Set("releases", static_cast<double>(stats.releases));
  result.Set("epoch", static_cast<double>(stats.epoch));
  result.Set("released", static_cast<double>(stats.released));
  result.Set("settled", stats.settled);
  result.Set("unsettled", static_cast<double>(stats.unsettled));
  return result;
}

}  // namespace frodoio
