#include "task.hpp"

#include <exception>

#include "convert.hpp"

namespace frodoio {

Napi::Promise Task::Run(Napi::Env env, const Napi::Object& owner, const char* name, Work work) {
  auto* task = new Task(env, owner, name, std::move(work));  // deletes itself once settled
  Napi::Promise promise = task->deferred_.Promise();
  task->Queue();
  return promise;
}

Task::Task(Napi::Env env, const Napi::Object& owner, const char* name, Work work)
    : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)),
      owner_(Napi::Persistent(owner)), work_(std::move(work)) {}

void Task::Execute() {
  try {
    result_ = work_();
  } catch (const frodo::Error& error) {
    failed_ = true;
    code_ = error.code();
    message_ = error.what();
  } catch (const std::exception& error) {
    failed_ = true;
    message_ = error.what();
  } catch (...) {
    failed_ = true;
    message_ = "a non-standard exception";
  }
}

void Task::OnOK() {
  Napi::Env env = Env();
  if (failed_) {
    deferred_.Reject(make_error(env, code_, message_).Value());
    return;
  }
  try {
    deferred_.Resolve(result_ ? result_(env) : env.Undefined());
  } catch (const Napi::Error& error) {
    deferred_.Reject(error.Value());
  } catch (const std::exception& error) {
    deferred_.Reject(make_error(env, error).Value());
  }
}

void Task::OnError(const Napi::Error& error) { deferred_.Reject(error.Value()); }

}  // namespace frodoio
