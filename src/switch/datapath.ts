/**
 * The bridge's data path: what happens to a batch of frames from one port.
 * bridge.ts owns the configuration and the views; this file owns the
 * per-frame work, written so that the steady state allocates nothing.
 *
 * Hand-written for the reason bridge.ts gives: it runs on borrowed receive
 * slabs, with numbers for keys and no object per frame.
 *
 * Per batch: "now" is read once; each frame is counted, mirrored, classified
 * into a VLAN (vlan.ts), its source learned and its destination looked up
 * (fdb.ts, with the MAC as two 24-bit halves); it goes to the learned port or
 * floods to every other up member of its VLAN; every port that got frames is
 * flushed once at the end. Egress forms that need a tag pushed, popped or
 * re-numbered are built at most once per frame in the scratch slab and shared
 * by every egress that wants them; the slab is reset only after the flushes,
 * when no port may still borrow from it.
 */
import type { Clock } from '../time/index.js';
import { VNET_HDR_LEN, type Port, type RxBatch, type RxHandler } from '../link/port.js';
import { newBridgePortCounters } from './counters.js';
import { type Fdb, macHi, macLo } from './fdb.js';
import { MIRROR_RX, MIRROR_TX, type MirrorTap, writeMirrored } from './mirror.js';
import { ScratchSlab } from './scratch.js';
import { CLASS, EGRESS, type PortVlan, classDropReason, popTag, pushTag, retag } from './vlan.js';

/** A port as the bridge holds it. */
export class BridgePort {
  up = true;
  readonly counters = newBridgePortCounters();
  taps: MirrorTap[] = [];
  /** Already in the to-flush list of the current batch. */
  pending = false;
  readonly handler: RxHandler;

  constructor(
    readonly port: Port,
    public vlan: PortVlan,
    receive: (bp: BridgePort, batch: RxBatch) => void,
  ) {
    // One closure per port, made once: the receive path creates none.
    this.handler = (batch: RxBatch) => receive(this, batch);
  }
}

const VID_COUNT = 4096;

export class Datapath {
  /** Member ports per VID, for flooding. */
  private readonly members: Array<BridgePort[] | undefined> = new Array<BridgePort[] | undefined>(VID_COUNT).fill(undefined);
  private readonly slab = new ScratchSlab();

  // Batch state.
  private readonly toFlush: BridgePort[] = [];
  private flushCount = 0;
  private depth = 0;
  private tsValid = false;
  private ts = 0n;

  // Egress forms built for the current frame (keyed by frame sequence number,
  // so every flood target that wants the same form shares one copy).
  private seq = 0;
  private untaggedSeq = -1;
  private untaggedBuf: Uint8Array = new Uint8Array(0);
  private untaggedOff = 0;
  private taggedSeq = -1;
  private taggedBuf: Uint8Array = new Uint8Array(0);
  private taggedOff = 0;

  constructor(
    private readonly clock: Clock,
    private readonly fdb: Fdb<BridgePort>,
  ) {}

  /** A batch from `bp`: every port's `onReceive` ends here. */
  readonly onBatch = (bp: BridgePort, batch: RxBatch): void => this.receive(bp, batch);

  /** Recomputes the flood lists from the ports' VLAN membership. */
  rebuildMembers(ports: readonly BridgePort[]): void {
    this.members.fill(undefined);
    for (const bp of ports) {
      for (const vid of bp.vlan.vids) (this.members[vid] ??= []).push(bp);
    }
  }

  private receive(bp: BridgePort, batch: RxBatch): void {
    const c = bp.counters;
    if (!bp.up) {
      c.drops.portDown += batch.count;
      return;
    }
    const now = this.clock.now();
    const { buf, offsets, lengths, count, vnetHdr } = batch;
    this.depth++;
    this.tsValid = false;
    try {
      for (let i = 0; i < count; i++) {
        const off = offsets[i]!;
        const len = lengths[i]!;
        c.rxFrames++;
        c.rxBytes += len;
        if (bp.taps.length !== 0) writeMirrored(bp.taps, buf, off, len, this.timestamp(), MIRROR_RX, vnetHdr ? off - VNET_HDR_LEN : -1);
        this.frame(bp, buf, off, len, vnetHdr ? off - VNET_HDR_LEN : -1, now);
      }
    } finally {
      this.flushPending();
      if (--this.depth === 0) this.slab.reset();
    }
  }

  private frame(bp: BridgePort, buf: Uint8Array, off: number, len: number, vnetOff: number, now: number): void {
    const c = bp.counters;
    if (len < 14) {
      c.drops.runt++;
      return;
    }
    if ((buf[off + 6]! & 1) !== 0) {
      c.drops.multicastSource++;
      return;
    }
    const cls = bp.vlan.classify(buf, off, len);
    if (cls < 0) {
      c.drops[classDropReason(cls)]++;
      return;
    }
    const vid = cls & CLASS.VID_MASK;
    this.fdb.learnHalves(vid, macHi(buf, off + 6), macLo(buf, off + 6), bp, now);
    const seq = ++this.seq;
    if ((buf[off]! & 1) === 0) {
      const e = this.fdb.lookupHalves(vid, macHi(buf, off), macLo(buf, off), now);
      if (e !== undefined) {
        const out = e.port;
        if (out === bp) c.drops.sameSegment++;
        else if (!out.up) c.drops.egressDown++;
        else this.sendTo(out, vid, cls, buf, off, len, vnetOff, seq);
        return;
      }
    } else if (isLinkLocal(buf, off)) {
      c.drops.linkLocal++;
      return;
    }
    c.floods++;
    const members = this.members[vid];
    if (members === undefined) return;
    for (let i = 0; i < members.length; i++) {
      const out = members[i]!;
      if (out !== bp && out.up) this.sendTo(out, vid, cls, buf, off, len, vnetOff, seq);
    }
  }

  /** Sends the current frame out of `out` in the form `out` wants for `vid`. */
  private sendTo(
    out: BridgePort,
    vid: number,
    cls: number,
    buf: Uint8Array,
    off: number,
    len: number,
    vnetOff: number,
    seq: number,
  ): void {
    const mode = out.vlan.egress[vid]!;
    if (mode === EGRESS.NONE) return;
    const tagged = (cls & CLASS.TAGGED) !== 0;
    let b = buf;
    let o = off;
    let l = len;
    if (mode === EGRESS.TAGGED) {
      if (!tagged || (cls & CLASS.PRIORITY) !== 0) {
        if (this.taggedSeq !== seq) {
          this.taggedOff = tagged ? retag(this.slab, buf, off, len, vnetOff, vid) : pushTag(this.slab, buf, off, len, vnetOff, vid);
          this.taggedBuf = this.slab.buf;
          this.taggedSeq = seq;
        }
        b = this.taggedBuf;
        o = this.taggedOff;
        l = tagged ? len : len + 4;
      }
    } else if (tagged) {
      if ((cls & CLASS.INNER_TAG) !== 0) {
        out.counters.drops.innerTagExposed++;
        return;
      }
      if (this.untaggedSeq !== seq) {
        this.untaggedOff = popTag(this.slab, buf, off, len, vnetOff);
        this.untaggedBuf = this.slab.buf;
        this.untaggedSeq = seq;
      }
      b = this.untaggedBuf;
      o = this.untaggedOff;
      l = len - 4;
    }
    const v = vnetOff < 0 ? -1 : b === buf ? vnetOff : o - VNET_HDR_LEN;
    const oc = out.counters;
    if (out.port.send(b, o, l, v)) {
      oc.txFrames++;
      oc.txBytes += l;
      if (out.taps.length !== 0) writeMirrored(out.taps, b, o, l, this.timestamp(), MIRROR_TX, v);
    } else {
      oc.drops.txFailed++;
    }
    if (!out.pending) {
      out.pending = true;
      this.toFlush[this.flushCount++] = out;
    }
  }

  private flushPending(): void {
    for (let i = 0; i < this.flushCount; i++) {
      const bp = this.toFlush[i]!;
      bp.pending = false;
      bp.port.flush();
    }
    this.flushCount = 0;
  }

  /** Capture timestamp, read from the clock at most once per batch. */
  private timestamp(): bigint {
    if (!this.tsValid) {
      this.ts = this.clock.wallTimeNs();
      this.tsValid = true;
    }
    return this.ts;
  }
}

/** 01:80:c2:00:00:01 … 0f: pause, LACP, 802.1X, LLDP… A bridge never forwards these (…:00, STP, is forwarded since STP is off). */
function isLinkLocal(buf: Uint8Array, off: number): boolean {
  return (
    buf[off] === 0x01 && buf[off + 1] === 0x80 && buf[off + 2] === 0xc2 && buf[off + 3] === 0 && buf[off + 4] === 0 &&
    buf[off + 5]! !== 0 && buf[off + 5]! < 0x10
  );
}
