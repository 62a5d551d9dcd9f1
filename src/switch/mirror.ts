/**
 * Port mirroring for the bridge: each mirrored port becomes one interface of
 * a pcapng file (named after the port), and every frame is written as it
 * appears on that port's wire — received frames before classification,
 * transmitted frames after their VLAN tag was pushed or popped — so Wireshark
 * shows the right `vlan.id` per interface.
 *
 * Hand-written: the bookkeeping between mirror sessions and ports is a few
 * lines; the writing itself is PcapngWriter's (which copies each frame, so
 * the bridge can hand it borrowed bytes).
 */
import type { PcapngWriter } from '../link/pcap.js';

export interface MirrorSession {
  readonly writer: PcapngWriter;
  /** Mirror every port, including ports added later. */
  readonly allPorts: boolean;
  stopped: boolean;
}

/** One mirrored (session, port) pair: the pcapng interface that port writes to. */
export interface MirrorTap {
  readonly session: MirrorSession;
  readonly interfaceId: number;
}

/** Adds the port's pcapng interface to the session's file; null if the writer is closed. */
export function openMirrorTap(session: MirrorSession, portName: string, description: string): MirrorTap | null {
  const interfaceId = session.writer.addInterface({ name: portName, description });
  return interfaceId < 0 ? null : { session, interfaceId };
}

/** Writes `buf[off, off+len)` to every tap of a port (each writer copies it). */
export function writeMirrored(taps: readonly MirrorTap[], buf: Uint8Array, off: number, len: number, timestampNs: bigint): void {
  const frame = buf.subarray(off, off + len);
  for (let i = 0; i < taps.length; i++) {
    const tap = taps[i]!;
    tap.session.writer.write(frame, timestampNs, tap.interfaceId);
  }
}
