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

#include "polled-device.h"
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

using wirelab::IsTyped;
using wirelab::SysError;

// struct virtio_net_hdr without num_buffers; we set it explicitly so the size
// never depends on the kernel's default.
constexpr int kVnetHdrLen = 10;
// Room reserved per read. A tun read that does not fit is truncated, so each
// read must be able to take the largest frame: a 64 KiB GSO packet, or a
// frame on a 65535-byte MTU with its Ethernet and VLAN header.
constexpr size_t kMaxFrame = 65536 + 18;

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

class Tap : public wirelab::PolledDevice<Tap> {
  friend class wirelab::PolledDevice<Tap>;

 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "Tap",
        {
            InstanceAccessor("ifname", &Tap::GetIfname, nullptr),
            InstanceAccessor("fd", &Tap::GetFd, nullptr),
            InstanceMethod("startReading", &Tap::StartReading),
            InstanceMethod<&Tap::WriteBatch>("writeBatch"),
            InstanceMethod("waitWritable", &Tap::WaitWritable),
            InstanceMethod("ref", &Tap::JsRef),
            InstanceMethod("unref", &Tap::JsUnref),
            InstanceMethod("close", &Tap::JsClose),
        });
    exports.Set("Tap", cls);
    exports.Set("VNET_HDR_LEN", Napi::Number::New(env, kVnetHdrLen));
    exports.Set("MAX_FRAME", Napi::Number::New(env, static_cast<double>(kMaxFrame)));
    return exports;
  }

  // new Tap(name, { vnetHdr, offload, multiQueue })
  explicit Tap(const Napi::CallbackInfo& info) : PolledDevice(info, {"tap", "TAP", "TAP", "wirelab:tap"}) {
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
    Opened(fd, std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ)));
  }

  ~Tap() override { CloseNow(false); }

 private:
  // writeBatch (native/polled-device.h says its arguments): one write() per
  // frame, since a TAP takes one frame per write.
  Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    WriteArgs a;
    if (!ParseWriteBatch(info, &a)) return env.Undefined();
    auto& [sources, offs, lens, prefix, errs, start, end] = a;
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

  size_t SlabRoom() const { return vnetLen_ + kMaxFrame; }
  void OnReadable(Napi::Env env) { ReadBatch(env); }
  void CloseDevice() {}  // for a non-persistent TAP the kernel deletes the device when the fd closes

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

  size_t vnetLen_ = 0;
};

}  // namespace

// native/packet.cc: the AF_PACKET port, in the same addon.
Napi::Object InitPacket(Napi::Env env, Napi::Object exports);

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) { return InitPacket(env, Tap::Init(env, exports)); }
}  // namespace

NODE_API_MODULE(wirelab_tap, Init)
