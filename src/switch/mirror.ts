/**
 * Port mirroring for the bridge: each mirrored port becomes one interface of
 * a pcapng file (named after the port, or the name the session gives it), and
 * every frame is written as it appears on that port's wire — received frames
 * before classification, transmitted frames after their VLAN tag was pushed
 * or popped — so Wireshark shows the right `vlan.id` per interface.
 *
 * A session may also carry:
 *  - a filter, `(buf, off, len) => boolean`, asked before a frame is written
 *    (a compiled capture filter); frames it refuses are not counted;
 *  - a frame budget: after `count` frames the session stops itself (its taps
 *    leave every port at once) and `onDone` is called in a microtask, out of
 *    the data path;
 *  - direction flags (pcapng epb_flags, tshark `frame.packet_flags_direction`).
 *    With `direction: 'node'` the direction is the node's, the one at the far
 *    end of the port, as `tcpdump -i eth0` inside it would say: a frame the
 *    switch port RECEIVES was sent by the node, so it is OUTBOUND (2); a frame
 *    the switch port TRANSMITS goes to the node, INBOUND (1). With
 *    `direction: 'switch'` it is the switch port's own view (received =
 *    inbound). Without `direction`, no flags are written (the file is byte for
 *    byte what it was before flags existed).
 *
 * The bridge pays for none of this while no mirror is attached: its data path
 * only tests `taps.length`.
 *
 * Hand-written: the bookkeeping between mirror sessions and ports is a few
 * lines; the writing itself is PcapngWriter's (which copies each frame, so
 * the bridge can hand it borrowed bytes).
 */
import { completeChecksum, VNET_HDR_F_NEEDS_CSUM } from '../link/gso.js';
import { EPB_DIRECTION, type PcapngWriter } from '../link/pcapng.js';
import { VNET_HDR_LEN } from '../link/port.js';

/** Decides whether a frame `buf[off, off+len)` is captured. Must not keep `buf`. */
export type FramePredicate = (buf: Uint8Array, off: number, len: number) => boolean;

/** Which side's direction the epb_flags carry (see the header comment). */
export type MirrorDirection = 'node' | 'switch';

/** How a frame met the mirrored port: the bridge received it from the port, or transmitted it out of it. */
export const MIRROR_RX = 0;
export const MIRROR_TX = 1;

export interface MirrorOptions {
  /** Only frames it accepts are written (and counted toward `count`). */
  filter?: FramePredicate;
  /** Stop after this many frames have been written. */
  count?: number;
  /** Called (in a microtask) once the session stopped by itself after `count` frames. */
  onDone?: () => void;
  /** Write epb_flags with each frame's direction. Default: no flags. */
  direction?: MirrorDirection;
  /** pcapng interface name per port name (default: the port's name), e.g. `{ 'web-eth0': 'web:eth0' }`. */
  interfaceNames?: Readonly<Record<string, string>>;
}

export interface MirrorSession {
  readonly writer: PcapngWriter;
  /** Mirror every port, including ports added later. */
  readonly allPorts: boolean;
  stopped: boolean;
  readonly filter: FramePredicate | undefined;
  /** Frames still to write before stopping; Infinity without a budget. */
  remaining: number;
  /** epb_flags for [received, transmitted] frames; [0, 0] for none. */
  readonly flags: readonly [number, number];
  readonly interfaceNames: Readonly<Record<string, string>> | undefined;
  /** Frames written so far. */
  written: number;
  /** Detaches the session from every port (set by the bridge). */
  stop: () => void;
  readonly onDone: (() => void) | undefined;
}

export function newMirrorSession(writer: PcapngWriter, allPorts: boolean, opts: MirrorOptions): MirrorSession {
  const count = opts.count;
  if (count !== undefined && !(Number.isInteger(count) && count > 0)) throw new RangeError(`a mirror's frame count must be a positive integer, got ${count}`);
  const { INBOUND, OUTBOUND } = EPB_DIRECTION;
  const flags: readonly [number, number] =
    opts.direction === 'node' ? [OUTBOUND, INBOUND] : opts.direction === 'switch' ? [INBOUND, OUTBOUND] : [0, 0];
  return {
    writer,
    allPorts,
    stopped: false,
    filter: opts.filter,
    remaining: count ?? Number.POSITIVE_INFINITY,
    flags,
    interfaceNames: opts.interfaceNames,
    written: 0,
    stop: () => undefined,
    onDone: opts.onDone,
  };
}

/** One mirrored (session, port) pair: the pcapng interface that port writes to. */
export interface MirrorTap {
  readonly session: MirrorSession;
  readonly interfaceId: number;
}

/** Adds the port's pcapng interface to the session's file; null if the writer is closed. */
export function openMirrorTap(session: MirrorSession, portName: string, description: string): MirrorTap | null {
  const name = session.interfaceNames?.[portName] ?? portName;
  const interfaceId = session.writer.addInterface({ name, description });
  return interfaceId < 0 ? null : { session, interfaceId };
}

/** Where a frame whose checksum was left partial is completed before it is written. */
let csumScratch = new Uint8Array(0);

/**
 * Writes `buf[off, off+len)` to every tap of a port (each writer copies it);
 * `way` is MIRROR_RX or MIRROR_TX. A frame whose virtio_net_hdr (at
 * `vnetOff`, -1 for none) leaves the L4 checksum partial is written with the
 * checksum completed, as tcpdump shows frames on a veth (the capture is read
 * by people and tools that would otherwise flag every offloaded segment).
 */
export function writeMirrored(taps: readonly MirrorTap[], buf: Uint8Array, off: number, len: number, timestampNs: bigint, way: number, vnetOff = -1): void {
  if (vnetOff >= 0 && vnetOff + VNET_HDR_LEN <= off && (buf[vnetOff]! & VNET_HDR_F_NEEDS_CSUM) !== 0) {
    if (csumScratch.length < VNET_HDR_LEN + len) csumScratch = new Uint8Array(Math.max(VNET_HDR_LEN + len, 2 * csumScratch.length));
    csumScratch.set(buf.subarray(vnetOff, vnetOff + VNET_HDR_LEN), 0);
    csumScratch.set(buf.subarray(off, off + len), VNET_HDR_LEN);
    completeChecksum(csumScratch, 0, VNET_HDR_LEN, len);
    buf = csumScratch;
    off = VNET_HDR_LEN;
  }
  for (let i = 0; i < taps.length; i++) {
    const tap = taps[i]!;
    const s = tap.session;
    if (s.stopped) continue; // stopped earlier in this frame's loop (its budget ran out)
    if (s.filter !== undefined && !s.filter(buf, off, len)) continue;
    if (s.writer.write(buf.subarray(off, off + len), timestampNs, tap.interfaceId, s.flags[way]!)) s.written++;
    if (--s.remaining <= 0) {
      s.stop();
      const done = s.onDone;
      if (done !== undefined) queueMicrotask(done);
    }
  }
}
