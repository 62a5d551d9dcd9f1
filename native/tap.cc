// native/tap.cc — wirelab's only C++: a TAP device with batched, non-blocking
// read and write on Node's own libuv loop.
//
// Why native at all: Node cannot issue the TUNSETIFF ioctl, and a
// fs.read-per-frame design costs a thread-pool round trip per frame. Here the
// fd is watched with uv_poll on the main loop; when it is readable every
// waiting frame (up to a bound) is read into one slab that JavaScript
// allocated once, and JavaScript is called once per batch (DESIGN.md, "The
// hot path"). Writes go out in one call per batch from JavaScript's queue.
//
// Lifetime: the JS wrapper is pinned (strong reference) only while the poll
// handle is active, so a reading TAP is never collected under the loop; an
// idle one that becomes garbage is closed by its finalizer; an *async* env
// cleanup hook closes whatever is still open at teardown (worker exit,
// process exit) and holds teardown until uv_close has finished — otherwise a
// worker unloads this library before libuv calls our close callback.

#include <napi.h>
#include <uv.h>

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

namespace {

// struct virtio_net_hdr without num_buffers; we set it explicitly so the size
// never depends on the kernel's default.
constexpr int kVnetHdrLen = 10;
// Room reserved per read. A tun read that does not fit is truncated, so each
// read must be able to take the largest frame: a 64 KiB GSO packet, or a
// frame on a 65535-byte MTU with its Ethernet and VLAN header.
constexpr size_t kMaxFrame = 65536 + 18;

// Node's convention for system errors: code "EBUSY", errno -16, syscall.
Napi::Error SysError(Napi::Env env, int err, const char* syscall, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, uv_err_name(-err)));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

// What the user should do about an error while opening; the errno alone
// ("Operation not permitted") rarely says it.
std::string Advice(int err, const std::string& name, bool atOpen, bool exists, bool multiQueue) {
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return atOpen ? "load the tun module (modprobe tun) or create /dev/net/tun (mknod /dev/net/tun c 10 200)" : "";
    case EPERM:
    case EACCES:
      return "run as root or grant CAP_NET_ADMIN (setcap cap_net_admin+ep on node), or create the device beforehand "
             "with `ip tuntap add dev " + name + " mode tap user $USER`";
    case EBUSY:
      return "the name is in use: pick another or delete it with `ip link del " + name + "`" +
             (multiQueue ? "" : " (a TAP opened without multi-queue takes one opener)");
    case EINVAL:
      if (exists)
        return "a device named " + name + " exists but is not a TAP with the same multi-queue setting: "
               "pick another name or delete it with `ip link del " + name + "`";
      return "the kernel rejected the name or the flags: an interface name is 1 to 15 bytes, without '/', ':' or "
             "whitespace";
    default:
      return "";
  }
}

Napi::Error OpenError(Napi::Env env, int err, const char* syscall, const std::string& name, const std::string& advice) {
  std::string msg = "cannot open TAP \"" + name + "\": " + syscall + " failed: " + strerror(err) + " (" +
                    uv_err_name(-err) + ")";
  if (!advice.empty()) msg += "; " + advice;
  return SysError(env, err, syscall, msg);
}

class Tap;

// What must outlive Tap: uv_close finishes on a later loop turn, possibly
// after Tap itself has been finalized, and only then may the teardown hook go.
struct Shared {
  uv_poll_t poll;
  Tap* owner = nullptr;  // null once the TAP is closed
  bool pollInit = false;
  napi_async_cleanup_hook_handle hook = nullptr;
};

void Release(Shared* sh) {
  if (sh->hook != nullptr) napi_remove_async_cleanup_hook(sh->hook);
  delete sh;
}

class Tap : public Napi::ObjectWrap<Tap> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "Tap",
        {
            InstanceAccessor<&Tap::GetIfname>("ifname"),
            InstanceAccessor<&Tap::GetFd>("fd"),
            InstanceMethod<&Tap::StartReading>("startReading"),
            InstanceMethod<&Tap::WriteBatch>("writeBatch"),
            InstanceMethod<&Tap::WaitWritable>("waitWritable"),
            InstanceMethod<&Tap::JsRef>("ref"),
            InstanceMethod<&Tap::JsUnref>("unref"),
            InstanceMethod<&Tap::JsClose>("close"),
        });
    exports.Set("Tap", cls);
    exports.Set("VNET_HDR_LEN", Napi::Number::New(env, kVnetHdrLen));
    exports.Set("MAX_FRAME", Napi::Number::New(env, static_cast<double>(kMaxFrame)));
    return exports;
  }

  // new Tap(name, { vnetHdr, offload, multiQueue })
  explicit Tap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Tap>(info), env_(info.Env()) {
    Napi::Env env = info.Env();
    if (!info[0].IsString() || !info[1].IsObject()) {
      Napi::TypeError::New(env, "new Tap(name: string, opts: object)").ThrowAsJavaScriptException();
      return;
    }
    const std::string name = info[0].As<Napi::String>();
    Napi::Object opts = info[1].As<Napi::Object>();
    const bool vnet = opts.Get("vnetHdr").ToBoolean();
    const bool offload = opts.Get("offload").ToBoolean();
    const bool multiQueue = opts.Get("multiQueue").ToBoolean();

    // Checked here because strncpy into ifr_name would silently truncate.
    if (name.empty() || name.size() >= IFNAMSIZ) {
      SysError(env, EINVAL, "TUNSETIFF",
               "cannot open TAP \"" + name + "\": interface names are 1 to " + std::to_string(IFNAMSIZ - 1) +
                   " bytes (IFNAMSIZ is 16) and this one is " + std::to_string(name.size()) + ": pick a shorter name")
          .ThrowAsJavaScriptException();
      return;
    }
    if (name == "." || name == ".." || name.find_first_of("/: \t\n\r\v\f") != std::string::npos) {
      SysError(env, EINVAL, "TUNSETIFF",
               "cannot open TAP \"" + name + "\": interface names cannot contain '/', ':' or whitespace, nor be '.' or '..'")
          .ThrowAsJavaScriptException();
      return;
    }

    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      OpenError(env, err, "open", name, Advice(err, name, true, false, multiQueue)).ThrowAsJavaScriptException();
      return;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0) | (multiQueue ? IFF_MULTI_QUEUE : 0);
    memcpy(ifr.ifr_name, name.data(), name.size());
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
      int err = errno;
      // EINVAL means either a bad name or an existing device of another kind;
      // only the latter has an index.
      bool exists = if_nametoindex(name.c_str()) != 0;
      close(fd);
      OpenError(env, err, "TUNSETIFF", name, Advice(err, name, false, exists, multiQueue)).ThrowAsJavaScriptException();
      return;
    }
    if (vnet) {
      int sz = kVnetHdrLen;
      if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
        int err = errno;
        close(fd);
        OpenError(env, err, "TUNSETVNETHDRSZ", name, "").ThrowAsJavaScriptException();
        return;
      }
      // TUNSETOFFLOAD says which offloads *we* can handle on frames the
      // kernel sends us; the kernel then shows them as device features
      // (ethtool -k) and hands us unsegmented TSO frames with partial sums.
      if (offload && ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) < 0) {
        int err = errno;
        close(fd);
        OpenError(env, err, "TUNSETOFFLOAD", name, "the kernel refused checksum/TSO offload: open without offload")
            .ThrowAsJavaScriptException();
        return;
      }
      vnetLen_ = kVnetHdrLen;
    }
    fd_ = fd;
    ifname_ = std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
    sh_ = new Shared();
    sh_->owner = this;
    napi_add_async_cleanup_hook(env_, OnTeardown, sh_, &sh_->hook);
  }

  ~Tap() override { CloseNow(false); }

 private:
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
    SysError(env, EBADF, "tap", "TAP \"" + ifname_ + "\" is closed").ThrowAsJavaScriptException();
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
    if (slab.ByteLength() < vnetLen_ + kMaxFrame) {
      Napi::RangeError::New(env, "the receive slab must hold at least one largest frame (" +
                                     std::to_string(vnetLen_ + kMaxFrame) + " bytes)")
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
  // returns how many frames were handled.
  Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    if (!info[0].IsArray() || !IsTyped(info[1], napi_uint32_array) || !IsTyped(info[2], napi_uint32_array) ||
        !IsTyped(info[3], napi_uint8_array) || !info[4].IsNumber() || !info[5].IsNumber() ||
        !IsTyped(info[6], napi_int32_array)) {
      Napi::TypeError::New(env, "writeBatch(sources: Uint8Array[], offsets: Uint32Array, lengths: Uint32Array, "
                                "prefixVnet: Uint8Array, start: number, count: number, errnos: Int32Array)")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto sources = info[0].As<Napi::Array>();
    auto offs = info[1].As<Napi::Uint32Array>();
    auto lens = info[2].As<Napi::Uint32Array>();
    auto prefix = info[3].As<Napi::Uint8Array>();
    auto errs = info[6].As<Napi::Int32Array>();
    const uint32_t start = info[4].As<Napi::Number>().Uint32Value();
    const uint32_t count = info[5].As<Napi::Number>().Uint32Value();
    const uint64_t end = static_cast<uint64_t>(start) + count;
    if (end > offs.ElementLength() || end > lens.ElementLength() || end > prefix.ElementLength() ||
        end > errs.ElementLength() || end > sources.Length()) {
      Napi::RangeError::New(env, "writeBatch: start + count exceeds an array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    static const uint8_t kZeroVnet[kVnetHdrLen] = {};
    uint32_t i = start;
    for (; i < end; i++) {
      Napi::HandleScope scope(env);  // one source handle per frame; don't let them pile up
      Napi::Value v = sources[i];
      if (!IsTyped(v, napi_uint8_array)) {
        errs[i] = EINVAL;
        continue;
      }
      auto src = v.As<Napi::Uint8Array>();
      const size_t off = offs[i], len = lens[i];
      if (off + len > src.ByteLength()) {
        errs[i] = EFAULT;
        continue;
      }
      ssize_t r;
      do {
        if (prefix[i] != 0 && vnetLen_ > 0) {
          // A plain frame on a vnet_hdr device: the kernel insists on a
          // header, an all-zero one means "no offload, checksum complete".
          struct iovec iov[2] = {{const_cast<uint8_t*>(kZeroVnet), static_cast<size_t>(kVnetHdrLen)},
                                 {src.Data() + off, len}};
          r = writev(fd_, iov, 2);
        } else {
          r = write(fd_, src.Data() + off, len);
        }
      } while (r < 0 && errno == EINTR);
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        errs[i] = errno;  // EIO when the link is down, EINVAL for a malformed frame, ...
      } else {
        errs[i] = 0;
      }
    }
    return Napi::Number::New(env, i - start);
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

  // ref()/unref(): like a socket's, whether an open TAP keeps the loop alive.
  void JsRef(const Napi::CallbackInfo&) {
    loopRef_ = true;
    if (sh_ != nullptr && sh_->pollInit) uv_ref(reinterpret_cast<uv_handle_t*>(&sh_->poll));
  }
  void JsUnref(const Napi::CallbackInfo&) {
    loopRef_ = false;
    if (sh_ != nullptr && sh_->pollInit) uv_unref(reinterpret_cast<uv_handle_t*>(&sh_->poll));
  }

  void JsClose(const Napi::CallbackInfo&) { CloseNow(false); }

  static bool IsTyped(Napi::Value v, napi_typedarray_type type) {
    return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
  }

  bool EnsurePoll(Napi::Env env) {
    if (sh_->pollInit) return true;
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "cannot get the libuv loop").ThrowAsJavaScriptException();
      return false;
    }
    int r = uv_poll_init(loop, &sh_->poll, fd_);
    if (r != 0) {
      SysError(env, -r, "uv_poll_init", std::string("cannot watch TAP: ") + uv_strerror(r)).ThrowAsJavaScriptException();
      return false;
    }
    sh_->pollInit = true;
    if (!loopRef_) uv_unref(reinterpret_cast<uv_handle_t*>(&sh_->poll));
    if (!ctx_) ctx_ = std::make_unique<Napi::AsyncContext>(env, "wirelab:tap");
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
        SysError(env, -r, "uv_poll_start", std::string("cannot watch TAP: ") + uv_strerror(r))
            .ThrowAsJavaScriptException();
        return;
      }
      if (!pinned_) {
        Ref();
        pinned_ = true;
      }
    } else {
      uv_poll_stop(&sh_->poll);
      if (pinned_) {
        Unref();
        pinned_ = false;
      }
    }
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    Tap* self = reinterpret_cast<Shared*>(handle)->owner;
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
    if ((events & UV_READABLE) && self->reading_) self->ReadBatch(env);
  }

  void ReadBatch(Napi::Env env) {
    const size_t room = vnetLen_ + kMaxFrame;
    size_t pos = 0;
    uint32_t n = 0;
    int err = 0;
    while (n < maxFrames_ && pos + room <= slabLen_) {
      ssize_t r = read(fd_, slab_ + pos, room);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
        break;
      }
      if (static_cast<size_t>(r) <= vnetLen_) continue;  // a frame can't be empty; never seen, skip it rather than report a 0-byte frame
      offsets_[n] = static_cast<uint32_t>(pos + vnetLen_);
      lengths_[n] = static_cast<uint32_t>(r - vnetLen_);
      n++;
      pos += static_cast<size_t>(r);
    }
    // A read error other than EAGAIN means the device is gone (EBADFD after
    // `ip link del`): stop watching, since level-triggered polling would
    // otherwise spin on it.
    if (err != 0) {
      reading_ = false;
      UpdatePoll(env);
    }
    if (n > 0 || err != 0) CallBatch(env, n, err);
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
    fn.MakeCallback(Value(), args, *ctx_);
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
      uv_close(reinterpret_cast<uv_handle_t*>(&sh->poll),
               [](uv_handle_t* h) { Release(reinterpret_cast<Shared*>(h)); });
    } else {
      Release(sh);
    }
    close(fd_);  // for a non-persistent TAP the kernel deletes the device here
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
      Unref();
    }
  }

  napi_env env_;
  int fd_ = -1;
  size_t vnetLen_ = 0;
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

}  // namespace

// native/packet.cc: the AF_PACKET port, in the same addon.
Napi::Object InitPacket(Napi::Env env, Napi::Object exports);

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) { return InitPacket(env, Tap::Init(env, exports)); }
}  // namespace

NODE_API_MODULE(wirelab_tap, Init)
