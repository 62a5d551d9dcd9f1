// native/packet.cc — any existing interface as a wirelab port: an AF_PACKET
// socket bound to one ifindex, with a TPACKET_V3 memory-mapped receive ring.
//
// Why native: Node has no AF_PACKET sockets. Why a ring: the kernel writes
// frames into memory we share with it and hands us whole blocks of them, so a
// busy interface costs one poll wake-up per block instead of one recvmsg per
// frame. The JS side sees exactly the TAP addon's shape (native/tap.cc):
// startReading(slab, offsets, lengths, maxFrames, onBatch) fills one slab per
// batch and calls JS once; writeBatch(...) sends a batch with sendmmsg.
//
// The socket runs with PACKET_VNET_HDR, as a vnet TAP does: on a veth the
// kernel hands AF_PACKET unsegmented TSO frames (up to 64 KiB, checksum
// partial) and only accepts frames above the MTU with GSO metadata. With the
// header both ways such frames cross wirelab whole, and wirelab segments them
// in software only toward ports that cannot take them (src/link/gso.ts).
//
// VLAN: the receive path strips an 802.1Q tag into skb->vlan_tci before any
// packet socket sees the frame; the ring reports it in tp_vlan_tci with
// TP_STATUS_VLAN_VALID (what PACKET_AUXDATA gives a recvmsg reader), and we
// put the 4 bytes back into the frame as we copy it out (moving the vnet
// header's csum_start/hdr_len along): native/packet-ring.h.
//
// Polling, the receive slab, lifetime and teardown are native/polled-device.h's,
// shared with tap.cc.

#include <napi.h>
#include <uv.h>

#include "packet-ring.h"
#include "polled-device.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

namespace {

using wirelab::IsTyped;
using wirelab::SysError;

using wirelab::kMaxFrame;
using wirelab::kMinBlock;
using wirelab::kSlabRoom;
using wirelab::kVnetHdrLen;
constexpr unsigned kTxBatch = 64;  // messages per sendmmsg

// What the user should do about an error while attaching; the errno alone rarely says it.
std::string OpenAdvice(int err) {
  switch (err) {
    case EPERM:
    case EACCES:
      return "AF_PACKET sockets need CAP_NET_RAW: run as root, or inside a user namespace that owns the "
             "interface's network namespace";
    case ENODEV:
    case ENXIO:
      return "the interface disappeared or is not up";
    case ENOMEM:
      return "the kernel could not allocate the receive ring: use smaller or fewer blocks";
    default:
      return "";
  }
}

class Packet : public wirelab::PolledDevice<Packet> {
  friend class wirelab::PolledDevice<Packet>;

 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "Packet",
        {
            InstanceAccessor("ifname", &Packet::GetIfname, nullptr),
            InstanceAccessor("fd", &Packet::GetFd, nullptr),
            InstanceAccessor<&Packet::GetIfindex>("ifindex"),
            InstanceMethod("startReading", &Packet::StartReading),
            InstanceMethod<&Packet::WriteBatch>("writeBatch"),
            InstanceMethod("waitWritable", &Packet::WaitWritable),
            InstanceMethod<&Packet::KernelStats>("kernelStats"),
            InstanceMethod("ref", &Packet::JsRef),
            InstanceMethod("unref", &Packet::JsUnref),
            InstanceMethod("close", &Packet::JsClose),
        });
    exports.Set("Packet", cls);
    exports.Set("PACKET_MAX_FRAME", Napi::Number::New(env, static_cast<double>(kMaxFrame)));
    return exports;
  }

  // new Packet(ifname, { promisc, blockBytes, blockCount, retireMs, fanoutGroup })
  explicit Packet(const Napi::CallbackInfo& info)
      : PolledDevice(info, {"packet", "AF_PACKET port on", "AF_PACKET socket", "wirelab:packet"}) {
    Napi::Env env = info.Env();
    if (!info[0].IsString() || !info[1].IsObject()) {
      Napi::TypeError::New(env, "new Packet(ifname: string, opts: object)").ThrowAsJavaScriptException();
      return;
    }
    const std::string name = info[0].As<Napi::String>();
    Napi::Object opts = info[1].As<Napi::Object>();
    const bool promisc = opts.Get("promisc").ToBoolean();
    const uint32_t blockBytes = opts.Get("blockBytes").ToNumber().Uint32Value();
    const uint32_t blockCount = opts.Get("blockCount").ToNumber().Uint32Value();
    const uint32_t retireMs = opts.Get("retireMs").ToNumber().Uint32Value();
    const uint32_t fanout = opts.Get("fanoutGroup").ToNumber().Uint32Value();
    const std::string what = "cannot attach to interface \"" + name + "\"";

    if (name.empty() || name.size() >= IFNAMSIZ || name.find_first_of("/: \t\n\r\v\f") != std::string::npos) {
      SysError(env, EINVAL, "if_nametoindex",
               what + ": not a valid interface name (1 to 15 bytes, no '/', ':' or whitespace)")
          .ThrowAsJavaScriptException();
      return;
    }
    // Page-aligned, power-of-two blocks that hold a largest frame with its
    // headers (the ring would truncate a bigger one): checked here so the
    // error names the option.
    const long page = sysconf(_SC_PAGESIZE);
    if (blockBytes < kMinBlock || (blockBytes & (blockBytes - 1)) != 0 || blockBytes % page != 0 ||
        blockCount < 2 || blockCount > 1024) {
      Napi::RangeError::New(env, what + ": blockBytes must be a power of two of at least " +
                                     std::to_string(kMinBlock) + " and blockCount 2..1024")
          .ThrowAsJavaScriptException();
      return;
    }
    const unsigned ifindex = if_nametoindex(name.c_str());
    if (ifindex == 0) {
      int err = errno;
      SysError(env, err, "if_nametoindex",
               what + ": no such interface in this network namespace (`ip link show` lists them)")
          .ThrowAsJavaScriptException();
      return;
    }

    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { Fail(env, errno, "socket", what); return; }
    const int one = 1;
    const int v3 = TPACKET_V3;
    // Order matters: the vnet header and version before the ring, the ring
    // before bind (so no frame is queued outside it).
    if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) { Fail(env, errno, "PACKET_VNET_HDR", what, fd); return; }
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v3, sizeof v3) < 0) { Fail(env, errno, "PACKET_VERSION", what, fd); return; }
    const char* ringCall = "";
    if (int err = ring_.Map(fd, blockBytes, blockCount, retireMs, &ringCall); err != 0) { Fail(env, err, ringCall, what, fd); return; }
    // Our own transmissions must not come back to us as received frames.
    if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) { Fail(env, errno, "PACKET_IGNORE_OUTGOING", what, fd); return; }
    // A veth accepts a few hundred KiB in flight; ask for more (clamped to wmem_max).
    const int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = static_cast<int>(ifindex);
    if (bind(fd, reinterpret_cast<struct sockaddr*>(&sll), sizeof sll) < 0) { Fail(env, errno, "bind", what, fd); return; }
    if (promisc) {
      // A membership, not IFF_PROMISC: the kernel counts it and drops it when the socket closes.
      struct packet_mreq mr;
      memset(&mr, 0, sizeof mr);
      mr.mr_ifindex = static_cast<int>(ifindex);
      mr.mr_type = PACKET_MR_PROMISC;
      if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) { Fail(env, errno, "PACKET_ADD_MEMBERSHIP", what, fd); return; }
    }
    if (fanout != 0) {
      // Several sockets (processes, threads) share the interface's frames by flow hash.
      const int arg = static_cast<int>((fanout & 0xffff) | (PACKET_FANOUT_HASH << 16));
      if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) < 0) { Fail(env, errno, "PACKET_FANOUT", what, fd); return; }
    }
    ifindex_ = ifindex;
    msgs_.resize(kTxBatch);
    iovs_.resize(2 * kTxBatch);
    Opened(fd, name);
  }

  ~Packet() override { CloseNow(false); }

 private:
  void Fail(Napi::Env env, int err, const char* syscall, const std::string& what, int fd = -1) {
    ring_.Unmap();
    if (fd >= 0) close(fd);
    std::string msg = what + ": " + syscall + " failed: " + strerror(err) + " (" + uv_err_name(-err) + ")";
    std::string advice = OpenAdvice(err);
    if (!advice.empty()) msg += "; " + advice;
    SysError(env, err, syscall, msg).ThrowAsJavaScriptException();
  }

  Napi::Value GetIfindex(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ifindex_); }

  // writeBatch(sources, offsets, lengths, prefixVnet, start, count, errnos):
  // as tap.cc's. Every frame goes out behind a virtio_net_hdr: its own (just
  // before it in `sources[i]`) or a zero one when prefixVnet[i] is 1.
  Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    WriteArgs a;
    if (!ParseWriteBatch(info, &a)) return env.Undefined();
    auto& [sources, offs, lens, prefix, errs, start, end] = a;
    static uint8_t kZeroVnet[kVnetHdrLen] = {};
    uint32_t i = start;
    while (i < end) {
      Napi::HandleScope scope(env);
      // Gather up to kTxBatch sendable frames i..j-1 (a malformed entry ends the run).
      unsigned n = 0;
      uint32_t j = i;
      for (; j < end && n < kTxBatch; j++) {
        Napi::Value v = sources[j];
        if (!IsTyped(v, napi_uint8_array)) break;
        auto src = v.As<Napi::Uint8Array>();
        const size_t off = offs[j], len = lens[j];
        if (off + len > src.ByteLength()) break;
        struct iovec* iov = &iovs_[2 * n];
        struct msghdr& mh = msgs_[n].msg_hdr;
        memset(&msgs_[n], 0, sizeof msgs_[n]);
        if (prefix[j] != 0) {
          iov[0] = {kZeroVnet, static_cast<size_t>(kVnetHdrLen)};
          iov[1] = {src.Data() + off, len};
          mh.msg_iovlen = 2;
        } else {
          iov[0] = {src.Data() + off, len};
          mh.msg_iovlen = 1;
        }
        mh.msg_iov = iov;
        n++;
      }
      if (n == 0) {
        errs[i] = IsTyped(sources[i], napi_uint8_array) ? EFAULT : EINVAL;
        i++;
        continue;
      }
      int r;
      do {
        r = sendmmsg(fd_, msgs_.data(), n, MSG_DONTWAIT);
      } while (r < 0 && errno == EINTR);
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        errs[i] = errno;  // this frame failed (EMSGSIZE above the MTU, ENETDOWN, ...); go on after it
        i++;
        continue;
      }
      for (int k = 0; k < r; k++) errs[i + k] = 0;
      i += static_cast<uint32_t>(r);
    }
    return Napi::Number::New(env, i - start);
  }

  // kernelStats(): { packets, drops, freezes, truncated } — the kernel's
  // PACKET_STATISTICS (reset by each read, so accumulated here) and frames the
  // ring cut short.
  Napi::Value KernelStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ >= 0) {
      struct tpacket_stats_v3 st;
      socklen_t len = sizeof st;
      if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
        kPackets_ += st.tp_packets;
        kDrops_ += st.tp_drops;
        kFreezes_ += st.tp_freeze_q_cnt;
      }
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("packets", Napi::Number::New(env, static_cast<double>(kPackets_)));
    o.Set("drops", Napi::Number::New(env, static_cast<double>(kDrops_)));
    o.Set("freezes", Napi::Number::New(env, static_cast<double>(kFreezes_)));
    o.Set("truncated", Napi::Number::New(env, static_cast<double>(ring_.truncated())));
    return o;
  }

  size_t SlabRoom() const { return kSlabRoom; }
  void CloseDevice() { ring_.Unmap(); }  // closing the fd drops the promiscuous membership too

  void OnReadable(Napi::Env env) {
    // A socket error (the interface went away: ENETDOWN) is reported through
    // POLLERR; read it so level-triggered polling does not spin on it.
    int soErr = 0;
    socklen_t len = sizeof soErr;
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soErr, &len) == 0 && soErr != 0) {
      CallBatch(env, 0, soErr);
      if (fd_ < 0) return;
    }
    ReadBatch(env);
  }

  void ReadBatch(Napi::Env env) {
    const uint32_t n = ring_.Drain(slab_, slabLen_, offsets_, lengths_, maxFrames_);
    if (n > 0) CallBatch(env, n, 0);
  }

  unsigned ifindex_ = 0;
  wirelab::PacketRing ring_;
  uint64_t kPackets_ = 0, kDrops_ = 0, kFreezes_ = 0;
  std::vector<struct mmsghdr> msgs_;
  std::vector<struct iovec> iovs_;
};

}  // namespace

// Called from tap.cc's module init: one addon, one .node file (node-gyp-build
// loads the first .node it finds in build/Release, so there must be just one).
Napi::Object InitPacket(Napi::Env env, Napi::Object exports) { return Packet::Init(env, exports); }
