// Task: runs blocking frodo work (an etcd write, a close) on libuv's thread pool and settles
// a Promise with its result on the JS thread.
//
// The work runs off the JS thread and must not touch JavaScript values; it returns a
// function that makes the result (run on the JS thread). A frodo::Error it throws rejects
// the Promise with a JS Error carrying its code; any other exception with code "internal".
// While a Task is pending, libuv keeps the process alive, and the JS object given as
// `owner` is kept from garbage collection.
#pragma once

#include <napi.h>

#include <functional>
#include <string>

#include "frodo/error.hpp"

namespace frodoio {

class Task : public Napi::AsyncWorker {
 public:
  using Result = std::function<Napi::Value(Napi::Env)>;
  using Work = std::function<Result()>;

  // Queues `work`; returns the Promise it settles.
  static Napi::Promise Run(Napi::Env env, const Napi::Object& owner, const char* name, Work work);

 private:
  Task(Napi::Env env, const Napi::Object& owner, const char* name, Work work);
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference owner_;
  Work work_;
  Result result_;
  bool failed_ = false;
  frodo::Errc code_ = frodo::Errc::internal;
  std::string message_;
};

}  // namespace frodoio
