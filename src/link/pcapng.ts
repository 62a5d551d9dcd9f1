/**
 * pcapng capture files: one Section Header Block, one Interface Description
 * Block per interface, then Enhanced Packet Blocks, so a single file holds
 * every port of a switch with each port's name.
 *
 * Hand-written for the same reason as pcap.ts: each borrowed frame is copied
 * once into the destination's buffer, with no per-frame allocation beyond the
 * timestamp arithmetic. Written little-endian.
 *
 * Format: https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-03.html
 */

import { wallClockNs } from '../time/clock.js';
import {
  CaptureSink,
  DEFAULT_SNAPLEN,
  LINKTYPE_ETHERNET,
  type CaptureDestination,
  type CaptureSinkOptions,
  type CaptureStats,
  type TimestampResolution,
} from './capture-sink.js';

export const PCAPNG_BLOCK = {
  SECTION_HEADER: 0x0a0d0d0a,
  INTERFACE_DESCRIPTION: 0x00000001,
  PACKET_OBSOLETE: 0x00000002,
  SIMPLE_PACKET: 0x00000003,
  ENHANCED_PACKET: 0x00000006,
} as const;
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
export const PCAPNG_OPTION = {
  END: 0,
  SHB_USERAPPL: 4,
  IF_NAME: 2,
  IF_DESCRIPTION: 3,
  IF_TSRESOL: 9,
  /** epb_flags: bits 0-1 the direction (EPB_DIRECTION), higher bits reception type and errors. */
  EPB_FLAGS: 2,
} as const;

/** The direction bits of epb_flags (tshark: `frame.packet_flags_direction`). */
export const EPB_DIRECTION = { UNKNOWN: 0, INBOUND: 1, OUTBOUND: 2 } as const;

/** Offsets inside an Enhanced Packet Block. */
const EPB = { TYPE: 0, LENGTH: 4, INTERFACE: 8, TS_HIGH: 12, TS_LOW: 16, CAPTURED: 20, ORIGINAL: 24, DATA: 28 } as const;

export interface PcapngInterfaceOptions {
  /** if_name, e.g. the switch port's name. */
  name: string;
  /** Link-layer header type. Default 1 (Ethernet). */
  linkType?: number;
  /** Longer frames are truncated to this many bytes. Default 262144. */
  snaplen?: number;
  /** if_tsresol: 'us' (10^-6, the default) or 'ns' (10^-9). */
  tsResolution?: TimestampResolution;
  /** if_description. */
  description?: string;
}

export interface PcapngWriterOptions extends CaptureSinkOptions {
  /** Interfaces described up front (ids 0, 1, …); more can be added with `addInterface`. */
  interfaces?: PcapngInterfaceOptions[];
  /** shb_userappl. Default "wirelab". */
  application?: string;
  /** Timestamp source when `write` is given none: ns since the Unix epoch. Default: the wall clock. */
  now?: () => bigint;
}

interface InterfaceState {
  snaplen: number;
  /** Nanoseconds per timestamp unit. */
  divisor: bigint;
}

const encoder = new TextEncoder();

/** Writes frames from any number of interfaces to one pcapng file or stream. */
export class PcapngWriter {
  private readonly sink: CaptureSink;
  private readonly now: () => bigint;
  private readonly interfaces: InterfaceState[] = [];

  constructor(destination: CaptureDestination, options: PcapngWriterOptions = {}) {
    this.now = options.now ?? wallClockNs;
    this.sink = new CaptureSink(destination, options);
    this.writeBlock(PCAPNG_BLOCK.SECTION_HEADER, 16, [[PCAPNG_OPTION.SHB_USERAPPL, encoder.encode(options.application ?? 'wirelab')]], (v, off) => {
      v.setUint32(off + 8, PCAPNG_BYTE_ORDER_MAGIC, true);
      v.setUint16(off + 12, 1, true); // major version
      v.setUint16(off + 14, 0, true); // minor version
      v.setBigInt64(off + 16, -1n, true); // section length: not specified
    });
    for (const ifc of options.interfaces ?? []) this.addInterface(ifc);
  }

  get stats(): CaptureStats {
    return this.sink.stats;
  }

  get error(): Error | undefined {
    return this.sink.error;
  }

  /** Number of interfaces described so far. */
  get interfaceCount(): number {
    return this.interfaces.length;
  }

  /** Writes an Interface Description Block and returns the new interface's id (-1 once closed). */
  addInterface(options: PcapngInterfaceOptions): number {
    if (this.sink.isClosed) return -1;
    const snaplen = options.snaplen ?? DEFAULT_SNAPLEN;
    const ns = options.tsResolution === 'ns';
    const opts: Array<[number, Uint8Array]> = [[PCAPNG_OPTION.IF_NAME, encoder.encode(options.name)]];
    if (options.description !== undefined) opts.push([PCAPNG_OPTION.IF_DESCRIPTION, encoder.encode(options.description)]);
    opts.push([PCAPNG_OPTION.IF_TSRESOL, Uint8Array.of(ns ? 9 : 6)]);
    const validSnaplen = Number.isInteger(snaplen) && snaplen >= 0 && snaplen <= 0xffffffff ? snaplen : DEFAULT_SNAPLEN;
    this.writeBlock(PCAPNG_BLOCK.INTERFACE_DESCRIPTION, 8, opts, (v, off) => {
      v.setUint16(off + 8, (options.linkType ?? LINKTYPE_ETHERNET) & 0xffff, true);
      v.setUint16(off + 10, 0, true);
      v.setUint32(off + 12, validSnaplen, true);
    });
    // A snaplen of 0 means "no limit" in pcapng.
    this.interfaces.push({ snaplen: validSnaplen === 0 ? 0xffffffff : validSnaplen, divisor: ns ? 1n : 1000n });
    return this.interfaces.length - 1;
  }

  /**
   * Appends a frame seen on `interfaceId` (default 0; if no interface was
   * added yet, one named "wirelab0" is). The frame is copied. Returns false,
   * and counts a drop, when it could not be accepted (unknown interface,
   * buffer bound, closed writer). Never throws. `flags`, when not 0, is
   * written as the epb_flags option (EPB_DIRECTION in its low two bits).
   */
  write(frame: Uint8Array, timestampNs?: bigint, interfaceId = 0, flags = 0): boolean {
    const sink = this.sink;
    if (this.interfaces.length === 0 && interfaceId === 0) this.addInterface({ name: 'wirelab0' });
    const ifc = this.interfaces[interfaceId];
    const captured = ifc === undefined ? 0 : Math.min(frame.length, ifc.snaplen);
    const padded = (captured + 3) & ~3;
    // epb_flags: code, length 4, the value, then opt_endofopt.
    const optionBytes = flags === 0 ? 0 : 12;
    const size = EPB.DATA + padded + optionBytes + 4;
    if (ifc === undefined || !sink.canAccept(size)) {
      sink.stats.dropped++;
      return false;
    }
    let ts = timestampNs ?? this.now();
    if (ts < 0n) ts = 0n;
    const units = BigInt.asUintN(64, ts / ifc.divisor);
    const off = sink.reserve(size);
    const v = sink.view;
    v.setUint32(off + EPB.TYPE, PCAPNG_BLOCK.ENHANCED_PACKET, true);
    v.setUint32(off + EPB.LENGTH, size, true);
    v.setUint32(off + EPB.INTERFACE, interfaceId, true);
    v.setUint32(off + EPB.TS_HIGH, Number(units >> 32n), true);
    v.setUint32(off + EPB.TS_LOW, Number(units & 0xffffffffn), true);
    v.setUint32(off + EPB.CAPTURED, captured, true);
    v.setUint32(off + EPB.ORIGINAL, frame.length, true);
    const buf = sink.buf;
    buf.set(captured === frame.length ? frame : frame.subarray(0, captured), off + EPB.DATA);
    buf.fill(0, off + EPB.DATA + captured, off + EPB.DATA + padded);
    if (optionBytes !== 0) {
      const o = off + EPB.DATA + padded;
      v.setUint16(o, PCAPNG_OPTION.EPB_FLAGS, true);
      v.setUint16(o + 2, 4, true);
      v.setUint32(o + 4, flags >>> 0, true);
      v.setUint32(o + 8, 0, true); // opt_endofopt
    }
    v.setUint32(off + size - 4, size, true);
    sink.stats.frames++;
    return true;
  }

  flush(): Promise<void> {
    return this.sink.flush();
  }

  close(): Promise<void> {
    return this.sink.close();
  }

  /**
   * Writes a block with `fixed` bytes of body after type and length, then
   * the options (each padded to 32 bits, then opt_endofopt), then the
   * trailing length.
   */
  private writeBlock(
    type: number,
    fixed: number,
    options: Array<[number, Uint8Array]>,
    fill: (v: DataView, off: number) => void,
  ): void {
    let optionsLength = 0;
    for (const [, value] of options) optionsLength += 4 + ((Math.min(value.length, 0xffff) + 3) & ~3);
    if (optionsLength > 0) optionsLength += 4;
    const size = 8 + fixed + optionsLength + 4;
    const off = this.sink.reserve(size);
    const v = this.sink.view;
    const buf = this.sink.buf;
    buf.fill(0, off, off + size);
    v.setUint32(off, type, true);
    v.setUint32(off + 4, size, true);
    fill(v, off);
    let p = off + 8 + fixed;
    for (const [code, value] of options) {
      const len = Math.min(value.length, 0xffff);
      v.setUint16(p, code, true);
      v.setUint16(p + 2, len, true);
      buf.set(value.subarray(0, len), p + 4);
      p += 4 + ((len + 3) & ~3);
    }
    // opt_endofopt is the zeroed word already at p.
    v.setUint32(off + size - 4, size, true);
  }
}
