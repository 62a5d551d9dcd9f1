/**
 * An in-memory cable: two `Port`s joined back to back. A frame sent on one end
 * arrives at the other end's `onReceive`, in a batch, on a clock timer armed
 * for "now" — never synchronously inside `send()` or `flush()`, so a handler
 * that answers (an ARP reply, a TCP ACK) never re-enters the code that sent.
 * On the virtual clock this is how hosts, switches and impairments are wired
 * together in tests; on the real clock it joins stacks inside one process.
 *
 * Hand-written: it is the `Port` contract itself (src/link/port.ts), with the
 * same batching and borrowed-bytes rules the TAP port follows, and nothing to
 * take from a library.
 *
 * Memory: each end owns two slabs (a slab is an `RxBatch`: bytes plus offset
 * and length arrays). `send` copies the frame — sent bytes are borrowed —
 * into the "filling" slab; the delivery timer swaps it with the spare one and
 * hands it to the peer. The delivered slab is left alone until the *next*
 * delivery from this end, so a batch stays valid until its handler has
 * returned and the tick's flushes have run, even when the handler sends back
 * through this very pipe. Slabs grow (doubling) when a tick's frames do not
 * fit and keep their size, so the steady state allocates nothing but the
 * `subarray` view each copy needs.
 *
 * Frames carrying a virtio_net_hdr (`vnetOff >= 0`, e.g. forwarded from a
 * vnet TAP) are made plain the way a plain TAP does it: GSO frames are cut
 * into MTU-sized frames and NEEDS_CSUM checksums completed (src/link/gso.ts).
 *
 * With `offload: true` the cable has the offloads a veth pair has: both ends
 * are `vnetHdr` ports, every frame crosses with its virtio_net_hdr (a plain
 * frame gets an empty one), so a TCP sender hands over 64 KB super-frames
 * with the checksum left partial (NEEDS_CSUM) and the receiver takes them
 * whole without computing a checksum — nothing between two wirelab stacks
 * in one process needs either. Whoever needs real segments (a plain port,
 * an impaired link, a capture) makes them (src/link/gso.ts).
 */
import {
  GsoSegmenter,
  VNET_HDR_F_NEEDS_CSUM,
  VNET_HDR_GSO_ECN,
  VNET_HDR_GSO_NONE,
  vnetFlags,
  vnetGsoType,
} from './gso.js';
import { countDrop, newPortStats, type Port, type PortStats, type RxHandler, VNET_HDR_LEN } from './port.js';
import { type Clock, Timer } from '../time/index.js';
import { FrameSlab } from './frame-slab.js';

export interface PipeOptions {
  /** Names of the two ends. Default `pipeNa` / `pipeNb`, N counting pipes made in this process. */
  names?: [string, string];
  /** veth's offloads: GSO super-frames and partial checksums cross as they are (vnetHdr ports). Default false. */
  offload?: boolean;
}

/** Shared: its output is copied into a slab before the next call. */
let segmenter: GsoSegmenter | undefined;
let pipeCounter = 0;

export class PipePort implements Port {
  readonly name: string;
  readonly stats: PortStats = newPortStats();
  onReceive: RxHandler | null = null;

  private other: PipePort | undefined;
  private isUp = true;
  private closed = false;
  /** Frames sent on this end, waiting for the delivery timer. */
  private filling: FrameSlab;
  /** The slab delivered last; reused once the next delivery swaps it in. */
  private spare: FrameSlab;
  private readonly timer: Timer;

  /** Use `createPipe`; an end is useless without its peer. */
  constructor(
    name: string,
    clock: Clock,
    /** True on an `offload` cable: frames cross with their virtio_net_hdr. */
    readonly vnetHdr = false,
  ) {
    this.name = name;
    this.filling = new FrameSlab(vnetHdr);
    this.spare = new FrameSlab(vnetHdr);
    this.timer = new Timer(clock.timers, this.deliver);
  }

  /** The other end of the cable. */
  get peer(): PipePort {
    if (this.other === undefined) throw new Error(`PipePort ${this.name} has no peer (use createPipe)`);
    return this.other;
  }

  /** @internal Joins two ends; called once by `createPipe`. */
  static join(a: PipePort, b: PipePort): void {
    a.other = b;
    b.other = a;
  }

  /** False while the end is down (`setUp(false)`): it drops what it sends and receives ('linkDown'). */
  get up(): boolean {
    return this.isUp;
  }

  setUp(up: boolean): void {
    this.isUp = up;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  send(buf: Uint8Array, off: number, len: number, vnetOff: number): boolean {
    if (this.closed) {
      countDrop(this.stats, 'closed');
      return false;
    }
    if (!this.isUp) {
      countDrop(this.stats, 'linkDown');
      return false;
    }
    if (!(off >= 0 && len >= 0 && off + len <= buf.length)) {
      countDrop(this.stats, 'badFrame');
      return false;
    }
    if (this.vnetHdr) {
      // The peer end takes the frame as it is, header and all (a GSO frame longer than 64 KB cannot exist).
      this.enqueue(buf, off, len, vnetOff);
      return true;
    }
    if (vnetOff >= 0 && !this.isPlain(buf, vnetOff)) return this.sendSegmented(buf, vnetOff, off, len);
    this.enqueue(buf, off, len, -1);
    return true;
  }

  /** Nothing to do: delivery is already scheduled by `send` (the pipe has no device to write to). */
  flush(): void {}

  /** Stops both directions at this end; frames not yet delivered from it are dropped ('closed'). Idempotent. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.timer.cancel();
      if (this.filling.count > 0) countDrop(this.stats, 'closed', this.filling.count);
      this.filling.reset();
      this.onReceive = null;
    }
    return Promise.resolve();
  }

  /** A vnet header that asks for nothing (no GSO, no checksum to finish) can simply be left behind. */
  private isPlain(buf: Uint8Array, vnetOff: number): boolean {
    if (vnetOff + VNET_HDR_LEN > buf.length) return false; // let the segmenter report it
    return (
      (vnetGsoType(buf, vnetOff) & ~VNET_HDR_GSO_ECN) === VNET_HDR_GSO_NONE &&
      (vnetFlags(buf, vnetOff) & VNET_HDR_F_NEEDS_CSUM) === 0
    );
  }

  private sendSegmented(buf: Uint8Array, vnetOff: number, off: number, len: number): boolean {
    segmenter ??= new GsoSegmenter();
    const n = segmenter.segment(buf, vnetOff, off, len);
    if (n <= 0) {
      countDrop(this.stats, 'gsoUnsupported');
      return false;
    }
    const { out, offsets, lengths } = segmenter;
    for (let i = 0; i < n; i++) this.enqueue(out, offsets[i]!, lengths[i]!, -1);
    return true;
  }

  private enqueue(buf: Uint8Array, off: number, len: number, vnetOff: number): void {
    this.filling.push(buf, off, len, vnetOff);
    this.stats.txFrames++;
    this.stats.txBytes += len;
    if (!this.timer.armed) this.timer.arm(0);
  }

  /** The delivery timer: hands everything sent since the last delivery to the peer, as one batch. */
  private readonly deliver = (): void => {
    const batch = this.filling;
    if (batch.count === 0) return;
    this.filling = this.spare;
    this.filling.reset();
    this.spare = batch;
    const peer = this.peer;
    const handler = peer.onReceive;
    if (peer.closed) {
      countDrop(peer.stats, 'closed', batch.count);
    } else if (!peer.isUp) {
      countDrop(peer.stats, 'linkDown', batch.count);
    } else if (handler === null) {
      countDrop(peer.stats, 'noReceiver', batch.count);
    } else {
      peer.stats.rxFrames += batch.count;
      peer.stats.rxBytes += batch.used - (batch.vnetHdr ? batch.count * VNET_HDR_LEN : 0);
      handler(batch, peer);
    }
  };
}

/**
 * Makes a cable between two new ports. A frame sent on either end is copied
 * and delivered to the other end's `onReceive` on a clock timer armed for now.
 */
export function createPipe(clock: Clock, opts: PipeOptions = {}): [PipePort, PipePort] {
  const n = pipeCounter++;
  const [nameA, nameB] = opts.names ?? [`pipe${n}a`, `pipe${n}b`];
  const offload = opts.offload ?? false;
  const a = new PipePort(nameA, clock, offload);
  const b = new PipePort(nameB, clock, offload);
  PipePort.join(a, b);
  return [a, b];
}
