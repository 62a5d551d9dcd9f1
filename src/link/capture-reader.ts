/**
 * Reads pcap and pcapng captures: both byte orders, microsecond and
 * nanosecond pcap, any pcapng if_tsresol, several interfaces and sections.
 * Record data are views into the input, never copies.
 *
 * Hand-written because it follows the wire codecs' rule: hostile bytes never
 * throw, every fault comes back as a typed error naming the offset and the
 * numbers involved (truncated block, block length < 12 or past the end,
 * mismatched trailing length, interface id out of range). Unknown pcapng
 * block types are skipped.
 *
 * `readCapture` refuses a file with any fault. `readCaptureUntilFault` is the
 * tolerant reader `wirelab read` uses, as tcpdump reads a file cut short: it
 * keeps every complete record before the first fault and says where and why
 * it stopped; only a file whose header cannot be read fails outright.
 */

import { fail, ok, type Decoded, type WireError } from '../wire/result.js';
import { PCAPNG_BLOCK, PCAPNG_BYTE_ORDER_MAGIC, PCAPNG_OPTION } from './pcapng.js';

/** Magic numbers of the classic pcap format, as read in the file's own byte order. */
export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_HEADER_LENGTH = 24;
export const PCAP_RECORD_HEADER_LENGTH = 16;

export interface CaptureInterface {
  linkType: number;
  name?: string;
  description?: string;
  snaplen: number;
  /** Timestamp units per second: 1e6 for microseconds, 1e9 for nanoseconds, 2^n for if_tsresol 0x80|n. */
  tsResolution: number;
}

export interface CaptureRecord {
  /** Index into `Capture.interfaces` (pcapng ids of later sections are offset past earlier ones). */
  interfaceId: number;
  /** Nanoseconds since the Unix epoch (0 for pcapng Simple Packet Blocks, which carry none). */
  timestampNs: bigint;
  capturedLength: number;
  originalLength: number;
  /** The captured bytes: a view into the input. */
  data: Uint8Array;
  /** pcapng epb_flags when the Enhanced Packet Block has them (bits 0-1: direction, EPB_DIRECTION). */
  flags?: number;
}

export interface Capture {
  format: 'pcap' | 'pcapng';
  interfaces: CaptureInterface[];
  records: CaptureRecord[];
}

/** Where and why reading stopped before the end of the input. */
export interface CaptureFault extends WireError {
  /** Byte offset of the record or block that could not be read. */
  readonly offset: number;
}

export interface PartialCapture extends Capture {
  /** Set when reading stopped early; every record in `records` precedes it and is complete. */
  stopped?: CaptureFault;
}

/** Reads a whole pcap or pcapng file; any fault anywhere fails it. Never throws. */
export function readCapture(bytes: Uint8Array): Decoded<Capture> {
  const r = readCaptureUntilFault(bytes);
  if (!r.ok) return r;
  const { format, interfaces, records, stopped } = r.value;
  if (stopped !== undefined) return fail(stopped.layer, stopped.code, stopped.message);
  return ok({ format, interfaces, records });
}

/**
 * Reads the records of a pcap or pcapng file up to its first fault (a file
 * cut in the middle of a record, a corrupt block): those records come back
 * with `stopped` naming the fault. Fails only when the file's header is
 * unreadable (too short, bad magic, bad version). Never throws.
 */
export function readCaptureUntilFault(bytes: Uint8Array): Decoded<PartialCapture> {
  if (bytes.length < 4) return fail('pcap', 'truncated', `capture is ${bytes.length} bytes, too short for a magic number`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (magic === PCAPNG_BLOCK.SECTION_HEADER) return readPcapng(bytes, view);
  if (magic === PCAP_MAGIC_US || magic === PCAP_MAGIC_NS) return readPcap(bytes, view, false, magic === PCAP_MAGIC_NS);
  const swapped = view.getUint32(0, true);
  if (swapped === PCAP_MAGIC_US || swapped === PCAP_MAGIC_NS) return readPcap(bytes, view, true, swapped === PCAP_MAGIC_NS);
  return fail('pcap', 'unsupported', `magic number 0x${magic.toString(16).padStart(8, '0')} is neither pcap nor pcapng`);
}

const NS_PER_SECOND = 1_000_000_000n;

function readPcap(bytes: Uint8Array, view: DataView, le: boolean, nanos: boolean): Decoded<PartialCapture> {
  if (bytes.length < PCAP_HEADER_LENGTH) {
    return fail('pcap', 'truncated', `file header needs ${PCAP_HEADER_LENGTH} bytes, file has ${bytes.length}`);
  }
  const major = view.getUint16(4, le);
  const minor = view.getUint16(6, le);
  if (major !== 2) return fail('pcap', 'bad-version', `version ${major}.${minor}, expected 2.x`);
  const snaplen = view.getUint32(16, le);
  // The upper bits of the link type field carry FCS information.
  const linkType = view.getUint32(20, le) & 0x0fffffff;
  const interfaces: CaptureInterface[] = [{ linkType, snaplen, tsResolution: nanos ? 1e9 : 1e6 }];
  const records: CaptureRecord[] = [];
  const fractionScale = nanos ? 1n : 1000n;
  let off = PCAP_HEADER_LENGTH;
  const stop = (e: WireError, at: number): Decoded<PartialCapture> =>
    ok({ format: 'pcap', interfaces, records, stopped: { ...e, offset: at } });
  while (off < bytes.length) {
    if (bytes.length - off < PCAP_RECORD_HEADER_LENGTH) {
      return stop(fail('pcap', 'truncated', `record header at offset ${off} needs 16 bytes, ${bytes.length - off} left`), off);
    }
    const seconds = view.getUint32(off, le);
    const fraction = view.getUint32(off + 4, le);
    const capturedLength = view.getUint32(off + 8, le);
    const originalLength = view.getUint32(off + 12, le);
    const dataStart = off + PCAP_RECORD_HEADER_LENGTH;
    if (capturedLength > bytes.length - dataStart) {
      return stop(fail(
        'pcap',
        'truncated',
        `record at offset ${off} has ${capturedLength} captured bytes, ${bytes.length - dataStart} left`,
      ), off);
    }
    records.push({
      interfaceId: 0,
      timestampNs: BigInt(seconds) * NS_PER_SECOND + BigInt(fraction) * fractionScale,
      capturedLength,
      originalLength,
      data: bytes.subarray(dataStart, dataStart + capturedLength),
    });
    off = dataStart + capturedLength;
  }
  return ok({ format: 'pcap', interfaces, records });
}

/** How to turn an interface's timestamp units into nanoseconds: units * mul / div >> shift. */
interface TimeScale {
  mul: bigint;
  div: bigint;
  shift: bigint;
}

const MIN_BLOCK = 12;
const SHB_MIN = 28;
const decoder = new TextDecoder();

function readPcapng(bytes: Uint8Array, view: DataView): Decoded<PartialCapture> {
  const interfaces: CaptureInterface[] = [];
  const scales: TimeScale[] = [];
  const records: CaptureRecord[] = [];
  let le = true;
  /** Index in `interfaces` of the current section's interface 0. */
  let sectionBase = 0;
  // A fault in the first block means the file has no readable header: fail.
  // Later, keep what was read and say where it stopped.
  const stop = (e: WireError): Decoded<PartialCapture> =>
    off === 0 ? e : ok({ format: 'pcapng', interfaces, records, stopped: { ...e, offset: off } });
  let off = 0;
  while (off < bytes.length) {
    const left = bytes.length - off;
    if (left < MIN_BLOCK) return stop(fail('pcapng', 'truncated', `block at offset ${off}: ${left} bytes left, a block needs at least 12`));
    const isSection = view.getUint32(off, false) === PCAPNG_BLOCK.SECTION_HEADER;
    if (isSection) {
      if (left < SHB_MIN) return stop(fail('pcapng', 'truncated', `section header at offset ${off}: ${left} bytes left, it needs 28`));
      const bom = view.getUint32(off + 8, true);
      if (bom === PCAPNG_BYTE_ORDER_MAGIC) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else return stop(fail('pcapng', 'unsupported', `section header at offset ${off}: byte-order magic 0x${bom.toString(16)}`));
    } else if (off === 0) {
      return stop(fail('pcapng', 'unsupported', 'file does not start with a section header block'));
    }
    const type = view.getUint32(off, le);
    const length = view.getUint32(off + 4, le);
    if (length < MIN_BLOCK || length % 4 !== 0) {
      return stop(fail('pcapng', 'bad-length', `block type 0x${type.toString(16)} at offset ${off}: length ${length} is below 12 or not a multiple of 4`));
    }
    if (length > left) {
      return stop(fail('pcapng', 'truncated', `block type 0x${type.toString(16)} at offset ${off}: length ${length}, ${left} bytes left`));
    }
    const trailing = view.getUint32(off + length - 4, le);
    if (trailing !== length) {
      return stop(fail('pcapng', 'bad-length', `block type 0x${type.toString(16)} at offset ${off}: length ${length} but trailing length ${trailing}`));
    }
    const end = off + length - 4; // end of the block body
    switch (type) {
      case PCAPNG_BLOCK.SECTION_HEADER: {
        if (length < SHB_MIN) return stop(fail('pcapng', 'bad-length', `section header at offset ${off}: length ${length}, minimum 28`));
        const major = view.getUint16(off + 12, le);
        if (major !== 1) return stop(fail('pcapng', 'bad-version', `section header at offset ${off}: version ${major}, expected 1`));
        sectionBase = interfaces.length;
        break;
      }
      case PCAPNG_BLOCK.INTERFACE_DESCRIPTION: {
        if (length < 20) return stop(fail('pcapng', 'bad-length', `interface description at offset ${off}: length ${length}, minimum 20`));
        const ifc: CaptureInterface = { linkType: view.getUint16(off + 8, le), snaplen: view.getUint32(off + 12, le), tsResolution: 1e6 };
        let scale: TimeScale = { mul: 1000n, div: 1n, shift: 0n };
        const bad = walkOptions(view, off + 16, end, le, (code, start, len) => {
          if (code === PCAPNG_OPTION.IF_NAME) ifc.name = readString(bytes, start, len);
          else if (code === PCAPNG_OPTION.IF_DESCRIPTION) ifc.description = readString(bytes, start, len);
          else if (code === PCAPNG_OPTION.IF_TSRESOL && len >= 1) {
            const resol = bytes[start] ?? 6;
            const exponent = resol & 0x7f;
            if (resol & 0x80) {
              ifc.tsResolution = 2 ** exponent;
              scale = { mul: NS_PER_SECOND, div: 1n, shift: BigInt(exponent) };
            } else {
              ifc.tsResolution = 10 ** exponent;
              scale =
                exponent <= 9
                  ? { mul: 10n ** BigInt(9 - exponent), div: 1n, shift: 0n }
                  : { mul: 1n, div: 10n ** BigInt(exponent - 9), shift: 0n };
            }
          }
        });
        if (bad !== undefined) return stop(fail('pcapng', 'bad-option', `interface description at offset ${off}: ${bad}`));
        interfaces.push(ifc);
        scales.push(scale);
        break;
      }
      case PCAPNG_BLOCK.ENHANCED_PACKET:
      case PCAPNG_BLOCK.PACKET_OBSOLETE: {
        if (length < 32) return stop(fail('pcapng', 'bad-length', `packet block at offset ${off}: length ${length}, minimum 32`));
        const enhanced = type === PCAPNG_BLOCK.ENHANCED_PACKET;
        const localId = enhanced ? view.getUint32(off + 8, le) : view.getUint16(off + 8, le);
        const capturedLength = view.getUint32(off + 20, le);
        const originalLength = view.getUint32(off + 24, le);
        const dataStart = off + 28;
        const interfaceId = sectionBase + localId;
        const scale = scales[interfaceId];
        if (scale === undefined || localId >= interfaces.length - sectionBase) {
          return stop(fail('pcapng', 'bad-length', `packet block at offset ${off}: interface id ${localId}, but the section describes ${interfaces.length - sectionBase}`));
        }
        if (capturedLength > end - dataStart) {
          return stop(fail('pcapng', 'bad-length', `packet block at offset ${off}: captured length ${capturedLength} exceeds the block's ${end - dataStart} data bytes`));
        }
        const units = (BigInt(view.getUint32(off + 12, le)) << 32n) | BigInt(view.getUint32(off + 16, le));
        const rec: CaptureRecord = {
          interfaceId,
          timestampNs: ((units * scale.mul) / scale.div) >> scale.shift,
          capturedLength,
          originalLength,
          data: bytes.subarray(dataStart, dataStart + capturedLength),
        };
        if (enhanced) {
          // epb_flags; malformed options are left alone here (the record's bytes are whole).
          walkOptions(view, dataStart + ((capturedLength + 3) & ~3), end, le, (code, start, len) => {
            if (code === PCAPNG_OPTION.EPB_FLAGS && len >= 4) rec.flags = view.getUint32(start, le);
          });
        }
        records.push(rec);
        break;
      }
      case PCAPNG_BLOCK.SIMPLE_PACKET: {
        if (length < 16) return stop(fail('pcapng', 'bad-length', `simple packet block at offset ${off}: length ${length}, minimum 16`));
        const ifc = interfaces[sectionBase];
        if (ifc === undefined || sectionBase >= interfaces.length) {
          return stop(fail('pcapng', 'bad-length', `simple packet block at offset ${off}: the section describes no interface`));
        }
        const originalLength = view.getUint32(off + 8, le);
        const dataStart = off + 12;
        const limit = ifc.snaplen === 0 ? end - dataStart : Math.min(ifc.snaplen, end - dataStart);
        const capturedLength = Math.min(originalLength, limit);
        records.push({
          interfaceId: sectionBase,
          timestampNs: 0n,
          capturedLength,
          originalLength,
          data: bytes.subarray(dataStart, dataStart + capturedLength),
        });
        break;
      }
      default:
        // Name resolution, statistics, decryption secrets, custom blocks: skipped.
        break;
    }
    off += length;
  }
  return ok({ format: 'pcapng', interfaces, records });
}

/** Calls `visit` for each option in [start, end); returns a description of a malformed one. */
function walkOptions(
  view: DataView,
  start: number,
  end: number,
  le: boolean,
  visit: (code: number, valueStart: number, valueLength: number) => void,
): string | undefined {
  let p = start;
  while (p < end) {
    if (end - p < 4) return `option at offset ${p}: ${end - p} bytes left, an option header needs 4`;
    const code = view.getUint16(p, le);
    const len = view.getUint16(p + 2, le);
    if (code === PCAPNG_OPTION.END) return undefined;
    if (len > end - p - 4) return `option ${code} at offset ${p}: length ${len}, ${end - p - 4} bytes left`;
    visit(code, p + 4, len);
    p += 4 + ((len + 3) & ~3);
  }
  return undefined;
}

function readString(bytes: Uint8Array, start: number, len: number): string {
  let n = len;
  while (n > 0 && bytes[start + n - 1] === 0) n--; // some writers add a NUL terminator
  return decoder.decode(bytes.subarray(start, start + n));
}
