// native/packet-ring.h — the TPACKET_V3 receive ring behind native/packet.cc,
// kept apart from the N-API binding: how the ring is set up and mapped, and
// how frames are copied out of it into JavaScript's slab.
//
// TPACKET_V3 packs frames into blocks of a ring shared with the kernel; a
// block is handed over (TP_STATUS_USER) when full or after the retire
// timeout, and handed back (TP_STATUS_KERNEL) once read. The copy puts each
// frame behind its virtio_net_hdr (the socket has PACKET_VNET_HDR) and
// re-inserts the 802.1Q tag the kernel stripped into tp_vlan_tci.
#pragma once

#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace wirelab {

// struct virtio_net_hdr, spelled out: <linux/virtio_net.h> does not compile as C++.
struct VnetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
constexpr int kVnetHdrLen = sizeof(VnetHdr);
static_assert(kVnetHdrLen == 10, "virtio_net_hdr is 10 bytes");
constexpr uint8_t kVnetNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
// The largest frame: a 64 KiB GSO frame with its Ethernet and VLAN headers.
constexpr size_t kMaxFrame = 65536 + 18;
// Room one frame takes in the slab at most: header, frame, a restored tag.
constexpr size_t kSlabRoom = kVnetHdrLen + kMaxFrame + 4;
// A block must hold a largest frame with the block and frame headers.
constexpr size_t kMinBlock = kMaxFrame + 4096;

class PacketRing {
 public:
  // Sets the ring up on `fd` (PACKET_VERSION and PACKET_VNET_HDR already
  // set) and maps it. Returns 0, or an errno with *syscall naming the call.
  int Map(int fd, uint32_t blockBytes, uint32_t blockCount, uint32_t retireMs, const char** syscall) {
    struct tpacket_req3 req;
    memset(&req, 0, sizeof req);
    req.tp_block_size = blockBytes;
    req.tp_block_nr = blockCount;
    req.tp_frame_size = 2048;  // only a unit for the ring's bookkeeping in V3
    req.tp_frame_nr = (blockBytes / req.tp_frame_size) * blockCount;
    req.tp_retire_blk_tov = retireMs;
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) {
      *syscall = "PACKET_RX_RING";
      return errno;
    }
    const size_t len = static_cast<size_t>(blockBytes) * blockCount;
    void* ring = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0);
    // MAP_LOCKED needs RLIMIT_MEMLOCK room; an unlocked ring works the same.
    if (ring == MAP_FAILED) ring = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ring == MAP_FAILED) {
      *syscall = "mmap";
      return errno;
    }
    ring_ = static_cast<uint8_t*>(ring);
    len_ = len;
    blockBytes_ = blockBytes;
    blockCount_ = blockCount;
    return 0;
  }

  void Unmap() {
    if (ring_ != nullptr) munmap(ring_, len_);
    ring_ = nullptr;
  }

  // Frames cut short by the ring (cannot happen: a block holds a largest frame) or runts.
  uint64_t truncated() const { return truncated_; }

  // Copies frames out of retired blocks into the slab until the slab or the
  // batch is full; frame i lands at slab[offsets[i]] with lengths[i] bytes,
  // its virtio_net_hdr just before it. A block goes back to the kernel once
  // all its frames are copied; a block left half-read keeps the socket
  // readable, so the rest comes in the next batch. Returns the frame count.
  uint32_t Drain(uint8_t* slab, size_t slabLen, uint32_t* offsets, uint32_t* lengths, uint32_t maxFrames) {
    size_t pos = 0;
    uint32_t n = 0;
    while (ring_ != nullptr && n < maxFrames) {
      auto* bd = reinterpret_cast<struct tpacket_block_desc*>(ring_ + static_cast<size_t>(cur_) * blockBytes_);
      if ((__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) break;
      const uint32_t numPkts = bd->hdr.bh1.num_pkts;
      if (pktIndex_ == 0) pktOffset_ = bd->hdr.bh1.offset_to_first_pkt;
      for (; pktIndex_ < numPkts; pktIndex_++) {
        if (n >= maxFrames || pos + kSlabRoom > slabLen) return n;
        auto* ph = reinterpret_cast<struct tpacket3_hdr*>(reinterpret_cast<uint8_t*>(bd) + pktOffset_);
        pktOffset_ += ph->tp_next_offset;
        if (ph->tp_snaplen < ph->tp_len || ph->tp_snaplen < 14) {
          truncated_++;
          continue;
        }
        const uint32_t len = CopyFrame(ph, slab + pos);
        offsets[n] = static_cast<uint32_t>(pos + kVnetHdrLen);
        lengths[n] = len;
        n++;
        pos += (kVnetHdrLen + len + 7) & ~static_cast<size_t>(7);
      }
      // Every frame copied: the block is the kernel's again.
      pktIndex_ = 0;
      __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      cur_ = (cur_ + 1) % blockCount_;
    }
    return n;
  }

 private:
  // One frame with its header into `out`; returns the frame's length.
  static uint32_t CopyFrame(const struct tpacket3_hdr* ph, uint8_t* out) {
    const uint32_t snap = ph->tp_snaplen;
    const uint8_t* mac = reinterpret_cast<const uint8_t*>(ph) + ph->tp_mac;
    memcpy(out, mac - kVnetHdrLen, kVnetHdrLen);
    uint8_t* frame = out + kVnetHdrLen;
    if ((ph->tp_status & TP_STATUS_VLAN_VALID) == 0) {
      memcpy(frame, mac, snap);
      return snap;
    }
    const uint16_t tpid = (ph->tp_status & TP_STATUS_VLAN_TPID_VALID) ? ph->hv1.tp_vlan_tpid : ETH_P_8021Q;
    const uint16_t tci = ph->hv1.tp_vlan_tci;
    memcpy(frame, mac, 12);
    frame[12] = tpid >> 8;
    frame[13] = tpid & 0xff;
    frame[14] = tci >> 8;
    frame[15] = tci & 0xff;
    memcpy(frame + 16, mac + 12, snap - 12);
    // The header's offsets count from the frame's start, which moved by 4.
    auto* vh = reinterpret_cast<VnetHdr*>(out);
    if (vh->flags & kVnetNeedsCsum) vh->csum_start = static_cast<uint16_t>(vh->csum_start + 4);
    if (vh->hdr_len != 0) vh->hdr_len = static_cast<uint16_t>(vh->hdr_len + 4);
    return snap + 4;
  }

  uint8_t* ring_ = nullptr;
  size_t len_ = 0;
  uint32_t blockBytes_ = 0;
  uint32_t blockCount_ = 0;
  uint32_t cur_ = 0;        // the block being read
  uint32_t pktIndex_ = 0;   // the next frame in it
  uint32_t pktOffset_ = 0;  // and where that frame is
  uint64_t truncated_ = 0;
};

}  // namespace wirelab
