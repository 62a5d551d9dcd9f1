// native/polled-device.h — what the TAP (tap.cc) and AF_PACKET (packet.cc)
// wrappers share: a non-blocking fd watched by uv_poll on Node's own loop,
// a receive slab JavaScript lends us, one JS call per batch, a wait for
// writability, ref/unref like a socket's, and a close that is safe from JS,
// from the destructor and from the environment's teardown.
//
// A CRTP base: the device class (`Tap`, `Packet`) opens its fd, calls
// `Opened()`, and supplies what differs — `ReadBatch(env)` (one read per
// frame for a TAP, a drained ring block for AF_PACKET), `OnReadable(env)`,
// `SlabRoom()` (the smallest slab that holds one largest frame) and
// `CloseDevice()` (anything to release before the fd closes).
//
// Lifetime: `Shared` outlives the wrapper, since uv_close finishes on a later
// loop turn, possibly after the wrapper was finalized, and only then may the
// teardown hook go.

#pragma once

#include <napi.h>
#include <uv.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

namespace wirelab {

// Node's convention for system errors: code "EBUSY", errno -16, syscall.
inline Napi::Error SysError(Napi::Env env, int err, const char* syscall, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, uv_err_name(-err)));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

inline bool IsTyped(Napi::Value v, napi_typedarray_type type) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
}

// What a device's labels say in errors: `syscall` for EBADF after close,
// `closed` before ` "<ifname>" is closed`, `watch` after "cannot watch ",
// `async` as the async resource's name.
struct DeviceLabels {
  const char* syscall;
  const char* closed;
  const char* watch;
  const char* async;
};

template <typename Device>
class PolledDevice : public Napi::ObjectWrap<Device> {
 protected:
  struct Shared {
    uv_poll_t poll;
    Device* owner = nullptr;  // null once the device is closed
    bool pollInit = false;
    napi_async_cleanup_hook_handle hook = nullptr;
  };

  PolledDevice(const Napi::CallbackInfo& info, DeviceLabels labels)
      : Napi::ObjectWrap<Device>(info), env_(info.Env()), labels_(labels) {}

  // The device is open on `fd`: from now on it is closed on teardown.
  void Opened(int fd, std::string ifname) {
    fd_ = fd;
    ifname_ = std::move(ifname);
    sh_ = new Shared();
    sh_->owner = static_cast<Device*>(this);
    napi_add_async_cleanup_hook(env_, OnTeardown, sh_, &sh_->hook);
  }

  static void Release(Shared* sh) {
    if (sh->hook != nullptr) napi_remove_async_cleanup_hook(sh->hook);
    delete sh;
  }

  // Env teardown: close without touching JS state (the env frees that itself).
  // If a close is already under way, its uv_close callback releases the hook.
  static void OnTeardown(napi_async_cleanup_hook_handle, void* arg) {
    Shared* sh = static_cast<Shared*>(arg);
    if (sh->owner != nullptr) sh->owner->CloseNow(true);
  }

  Napi::Value GetIfname(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), ifname_); }
  Napi::Value GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

  bool CheckOpen(Napi::Env env) {
    if (fd_ >= 0) return true;
    SysError(env, EBADF, labels_.syscall, std::string(labels_.closed) + " \"" + ifname_ + "\" is closed")
        .ThrowAsJavaScriptException();
    return false;
  }

  // startReading(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array,
  //              maxFrames: number, onBatch: (count, errno) => void)
  void StartReading(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return;
    if (!IsTyped(info[0], napi_uint8_array) || !IsTyped(info[1], napi_uint32_array) ||
        !IsTyped(info[2], napi_uint32_array) || !info[3].IsNumber() || !info[4].IsFunction()) {
      Napi::TypeError::New(env, "startReading(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, "
                                "maxFrames: number, onBatch: function)")
          .ThrowAsJavaScriptException();
      return;
    }
    auto slab = info[0].As<Napi::Uint8Array>();
    auto offsets = info[1].As<Napi::Uint32Array>();
    auto lengths = info[2].As<Napi::Uint32Array>();
    const size_t room = static_cast<Device*>(this)->SlabRoom();
    if (slab.ByteLength() < room) {
      Napi::RangeError::New(env, "the receive slab must hold at least one largest frame (" + std::to_string(room) +
                                     " bytes)")
          .ThrowAsJavaScriptException();
      return;
    }
    int64_t want = info[3].As<Napi::Number>().Int64Value();
    size_t cap = std::min(offsets.ElementLength(), lengths.ElementLength());
    maxFrames_ = static_cast<uint32_t>(std::max<int64_t>(1, std::min<int64_t>(want, static_cast<int64_t>(cap))));
    // The references keep the buffers alive (and their pointers valid) for as
    // long as we read into them.
    slabRef_ = Napi::Persistent(slab);
    offsetsRef_ = Napi::Persistent(offsets);
    lengthsRef_ = Napi::Persistent(lengths);
    onBatch_ = Napi::Persistent(info[4].As<Napi::Function>());
    slab_ = slab.Data();
    slabLen_ = slab.ByteLength();
    offsets_ = offsets.Data();
    lengths_ = lengths.Data();
    reading_ = true;
    if (EnsurePoll(env)) UpdatePoll(env);
  }

  // writeBatch(sources: Uint8Array[], offsets: Uint32Array, lengths: Uint32Array,
  //            prefixVnet: Uint8Array, start: number, count: number, errnos: Int32Array): number
  // Writes frames start..start+count-1. errnos[i] is 0 or the frame's errno
  // (the frame was not sent; JS counts it and we go on). Stops at EAGAIN and
  // returns how many frames were handled. The arguments, checked once here;
  // the device's WriteBatch does the writing.
  struct WriteArgs {
    Napi::Array sources;
    Napi::Uint32Array offs;
    Napi::Uint32Array lens;
    Napi::Uint8Array prefix;
    Napi::Int32Array errs;
    uint32_t start = 0;
    uint64_t end = 0;
  };

  bool ParseWriteBatch(const Napi::CallbackInfo& info, WriteArgs* a) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return false;
    if (!info[0].IsArray() || !IsTyped(info[1], napi_uint32_array) || !IsTyped(info[2], napi_uint32_array) ||
        !IsTyped(info[3], napi_uint8_array) || !info[4].IsNumber() || !info[5].IsNumber() ||
        !IsTyped(info[6], napi_int32_array)) {
      Napi::TypeError::New(env, "writeBatch(sources: Uint8Array[], offsets: Uint32Array, lengths: Uint32Array, "
                                "prefixVnet: Uint8Array, start: number, count: number, errnos: Int32Array)")
          .ThrowAsJavaScriptException();
      return false;
    }
    a->sources = info[0].As<Napi::Array>();
    a->offs = info[1].As<Napi::Uint32Array>();
    a->lens = info[2].As<Napi::Uint32Array>();
    a->prefix = info[3].As<Napi::Uint8Array>();
    a->errs = info[6].As<Napi::Int32Array>();
    a->start = info[4].As<Napi::Number>().Uint32Value();
    a->end = static_cast<uint64_t>(a->start) + info[5].As<Napi::Number>().Uint32Value();
    if (a->end > a->offs.ElementLength() || a->end > a->lens.ElementLength() || a->end > a->prefix.ElementLength() ||
        a->end > a->errs.ElementLength() || a->end > a->sources.Length()) {
      Napi::RangeError::New(env, "writeBatch: start + count exceeds an array").ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }

  // waitWritable(cb): cb() once, when the fd can take writes again.
  void WaitWritable(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return;
    if (!info[0].IsFunction()) {
      Napi::TypeError::New(env, "waitWritable(cb: function)").ThrowAsJavaScriptException();
      return;
    }
    onWritable_ = Napi::Persistent(info[0].As<Napi::Function>());
    wantWritable_ = true;
    if (EnsurePoll(env)) UpdatePoll(env);
  }

  // ref()/unref(): like a socket's, whether an open device keeps the loop alive.
  void JsRef(const Napi::CallbackInfo&) {
    loopRef_ = true;
    if (sh_ != nullptr && sh_->pollInit) uv_ref(reinterpret_cast<uv_handle_t*>(&sh_->poll));
  }
  void JsUnref(const Napi::CallbackInfo&) {
    loopRef_ = false;
    if (sh_ != nullptr && sh_->pollInit) uv_unref(reinterpret_cast<uv_handle_t*>(&sh_->poll));
  }
  void JsClose(const Napi::CallbackInfo&) { CloseNow(false); }

  bool EnsurePoll(Napi::Env env) {
    if (sh_->pollInit) return true;
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "cannot get the libuv loop").ThrowAsJavaScriptException();
      return false;
    }
    int r = uv_poll_init(loop, &sh_->poll, fd_);
    if (r != 0) {
      SysError(env, -r, "uv_poll_init", std::string("cannot watch ") + labels_.watch + ": " + uv_strerror(r))
          .ThrowAsJavaScriptException();
      return false;
    }
    sh_->pollInit = true;
    if (!loopRef_) uv_unref(reinterpret_cast<uv_handle_t*>(&sh_->poll));
    if (!ctx_) ctx_ = std::make_unique<Napi::AsyncContext>(env, labels_.async);
    return true;
  }

  // Watch exactly what is wanted now: readable while reading, writable only
  // while someone waits for it (a writable fd is almost always writable, so
  // leaving UV_WRITABLE on would wake the loop forever).
  void UpdatePoll(Napi::Env env) {
    if (sh_ == nullptr || !sh_->pollInit) return;
    int events = (reading_ ? UV_READABLE : 0) | (wantWritable_ ? UV_WRITABLE : 0);
    if (events != 0) {
      int r = uv_poll_start(&sh_->poll, events, OnPoll);
      if (r != 0) {
        SysError(env, -r, "uv_poll_start", std::string("cannot watch ") + labels_.watch + ": " + uv_strerror(r))
            .ThrowAsJavaScriptException();
        return;
      }
      if (!pinned_) {
        this->Ref();
        pinned_ = true;
      }
    } else {
      uv_poll_stop(&sh_->poll);
      if (pinned_) {
        this->Unref();
        pinned_ = false;
      }
    }
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    Device* self = reinterpret_cast<Shared*>(handle)->owner;
    if (self == nullptr) return;
    Napi::Env env(self->env_);
    Napi::HandleScope scope(env);
    // A local handle keeps the wrapper alive while JS runs below, even if
    // UpdatePoll unpins it.
    Napi::Object keep = self->Value();
    (void)keep;
    if (status < 0) {
      // The fd is broken (EBADF, ...): stop, or libuv would report it forever.
      self->reading_ = false;
      self->wantWritable_ = false;
      self->UpdatePoll(env);
      self->CallBatch(env, 0, -status);
      return;
    }
    if ((events & UV_WRITABLE) && self->wantWritable_) {
      self->wantWritable_ = false;
      self->UpdatePoll(env);
      Napi::FunctionReference cb = std::move(self->onWritable_);
      self->Call(env, cb, {});
      if (self->fd_ < 0) return;  // closed by the callback
    }
    if ((events & UV_READABLE) && self->reading_) self->OnReadable(env);
  }

  void CallBatch(Napi::Env env, uint32_t count, int err) {
    if (onBatch_.IsEmpty()) return;
    Call(env, onBatch_, {Napi::Number::New(env, count), Napi::Number::New(env, err)});
  }

  // MakeCallback, not Call: it enters the async context and, being at the
  // bottom of the stack, runs process.nextTick work (the ports' flushes)
  // before returning, while the slab is still untouched.
  void Call(Napi::Env env, const Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
    if (fn.IsEmpty() || !ctx_) return;
    fn.MakeCallback(this->Value(), args, *ctx_);
    if (env.IsExceptionPending()) {
      // JS handlers catch their own errors; anything left is a bug and goes
      // to 'uncaughtException' as a throw from any other callback would.
      Napi::Error e = env.GetAndClearPendingException();
      napi_fatal_exception(env, e.Value());
    }
  }

  void CloseNow(bool teardown) {
    if (fd_ < 0) return;
    Shared* sh = sh_;
    sh_ = nullptr;
    sh->owner = nullptr;
    if (sh->pollInit) {
      uv_poll_stop(&sh->poll);  // before close(): the fd must leave epoll first
      uv_close(reinterpret_cast<uv_handle_t*>(&sh->poll), [](uv_handle_t* h) { Release(reinterpret_cast<Shared*>(h)); });
    } else {
      Release(sh);
    }
    static_cast<Device*>(this)->CloseDevice();
    close(fd_);
    fd_ = -1;
    reading_ = wantWritable_ = false;
    slab_ = nullptr;
    offsets_ = lengths_ = nullptr;
    if (teardown) return;
    slabRef_.Reset();
    offsetsRef_.Reset();
    lengthsRef_.Reset();
    onBatch_.Reset();
    onWritable_.Reset();
    ctx_.reset();
    if (pinned_) {
      pinned_ = false;
      this->Unref();
    }
  }

  napi_env env_;
  DeviceLabels labels_;
  int fd_ = -1;
  std::string ifname_;
  Shared* sh_ = nullptr;  // null once closed
  bool reading_ = false;
  bool wantWritable_ = false;
  bool loopRef_ = true;
  bool pinned_ = false;
  uint8_t* slab_ = nullptr;
  size_t slabLen_ = 0;
  uint32_t* offsets_ = nullptr;
  uint32_t* lengths_ = nullptr;
  uint32_t maxFrames_ = 0;
  Napi::Reference<Napi::Uint8Array> slabRef_;
  Napi::Reference<Napi::Uint32Array> offsetsRef_;
  Napi::Reference<Napi::Uint32Array> lengthsRef_;
  Napi::FunctionReference onBatch_;
  Napi::FunctionReference onWritable_;
  std::unique_ptr<Napi::AsyncContext> ctx_;
};

}  // namespace wirelab
