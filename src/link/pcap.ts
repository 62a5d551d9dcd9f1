/**
 * Classic libpcap capture files (the format tcpdump writes), and the public
 * entry point of wirelab's capture support: this module re-exports the pcapng
 * writer and the reader for both formats.
 *
 * Hand-written because the format is 24 + 16 bytes of header and the writer
 * must copy each borrowed frame once, straight into the buffer the file
 * receives (see capture-sink.ts); the npm pcap writers allocate per frame and
 * ignore backpressure.
 *
 * Format: https://www.tcpdump.org/manpages/pcap-savefile.5.html (written
 * little-endian, version 2.4).
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

export {
  LINKTYPE_ETHERNET,
  DEFAULT_SNAPLEN,
  type CaptureDestination,
  type CaptureSinkOptions,
  type CaptureStats,
  type TimestampResolution,
} from './capture-sink.js';
export { PcapngWriter, PCAPNG_BLOCK, PCAPNG_OPTION, EPB_DIRECTION, PCAPNG_BYTE_ORDER_MAGIC, type PcapngInterfaceOptions, type PcapngWriterOptions } from './pcapng.js';
import { PCAP_HEADER_LENGTH, PCAP_MAGIC_NS, PCAP_MAGIC_US, PCAP_RECORD_HEADER_LENGTH } from './capture-reader.js';
export {
  readCapture,
  PCAP_MAGIC_US,
  PCAP_MAGIC_NS,
  PCAP_HEADER_LENGTH,
  PCAP_RECORD_HEADER_LENGTH,
  type Capture,
  type CaptureInterface,
  type CaptureRecord,
} from './capture-reader.js';

export interface PcapWriterOptions extends CaptureSinkOptions {
  /** Timestamp resolution: 'us' (magic 0xa1b2c3d4, the default) or 'ns' (magic 0xa1b23c4d). */
  resolution?: TimestampResolution;
  /** Link-layer header type of every frame. Default 1 (Ethernet). */
  linkType?: number;
  /** Longer frames are truncated to this many bytes, their original length kept. Default 262144. */
  snaplen?: number;
  /** Timestamp source when `write` is given none: ns since the Unix epoch. Default: the wall clock. */
  now?: () => bigint;
}

/** Writes frames to a classic pcap file or stream. */
export class PcapWriter {
  readonly resolution: TimestampResolution;
  readonly linkType: number;
  readonly snaplen: number;
  private readonly sink: CaptureSink;
  private readonly now: () => bigint;

  constructor(destination: CaptureDestination, options: PcapWriterOptions = {}) {
    this.resolution = options.resolution ?? 'us';
    this.linkType = options.linkType ?? LINKTYPE_ETHERNET;
    this.snaplen = clampSnaplen(options.snaplen ?? DEFAULT_SNAPLEN);
    this.now = options.now ?? wallClockNs;
    this.sink = new CaptureSink(destination, options);
    const off = this.sink.reserve(PCAP_HEADER_LENGTH);
    const v = this.sink.view;
    v.setUint32(off, this.resolution === 'ns' ? PCAP_MAGIC_NS : PCAP_MAGIC_US, true);
    v.setUint16(off + 4, 2, true);
    v.setUint16(off + 6, 4, true);
    v.setInt32(off + 8, 0, true); // thiszone: timestamps are UTC
    v.setUint32(off + 12, 0, true); // sigfigs
    v.setUint32(off + 16, this.snaplen, true);
    v.setUint32(off + 20, this.linkType >>> 0, true);
  }

  get stats(): CaptureStats {
    return this.sink.stats;
  }

  /** The first error the destination reported, if any (frames are dropped after it). */
  get error(): Error | undefined {
    return this.sink.error;
  }

  /**
   * Appends a frame (copied: the caller's bytes may be reused at once).
   * `interfaceId` is accepted for symmetry with `PcapngWriter` and ignored.
   * Returns false, and counts a drop, when the frame could not be accepted.
   * Never throws.
   */
  write(frame: Uint8Array, timestampNs?: bigint, _interfaceId?: number): boolean {
    const sink = this.sink;
    const captured = Math.min(frame.length, this.snaplen);
    const size = PCAP_RECORD_HEADER_LENGTH + captured;
    if (!sink.canAccept(size)) {
      sink.stats.dropped++;
      return false;
    }
    let ts = timestampNs ?? this.now();
    if (ts < 0n) ts = 0n;
    const seconds = Number(BigInt.asUintN(32, ts / 1_000_000_000n));
    const nanos = Number(ts % 1_000_000_000n);
    const off = sink.reserve(size);
    const v = sink.view;
    v.setUint32(off, seconds, true);
    v.setUint32(off + 4, this.resolution === 'ns' ? nanos : Math.floor(nanos / 1000), true);
    v.setUint32(off + 8, captured, true);
    v.setUint32(off + 12, frame.length, true);
    sink.buf.set(captured === frame.length ? frame : frame.subarray(0, captured), off + PCAP_RECORD_HEADER_LENGTH);
    sink.stats.frames++;
    return true;
  }

  /** Resolves once everything written so far has reached the destination. */
  flush(): Promise<void> {
    return this.sink.flush();
  }

  /** Flushes and ends the destination (not process.stdout/stderr unless `end: true`). */
  close(): Promise<void> {
    return this.sink.close();
  }
}

/** Snap lengths are 32-bit; 0 or nonsense becomes the default. */
export function clampSnaplen(snaplen: number): number {
  return Number.isInteger(snaplen) && snaplen > 0 && snaplen <= 0xffffffff ? snaplen : DEFAULT_SNAPLEN;
}
