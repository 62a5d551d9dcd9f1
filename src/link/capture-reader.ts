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
 */

import { fail, ok, type Decoded } from '../wire/result.js';
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
}

export interface Capture {
  format: 'pcap' | 'pcapng';
  interfaces: CaptureInterface[];
  records: CaptureRecord[];
}

/** Reads a whole pcap or pcapng file. Never throws. */
export function readCapture(bytes: Uint8Array): Decoded<Capture> {
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

function readPcap(bytes: Uint8Array, view: DataView, le: boolean, nanos: boolean): Decoded<Capture> {
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
  while (off < bytes.length) {
    if (bytes.length - off < PCAP_RECORD_HEADER_LENGTH) {
      return fail('pcap', 'truncated', `record header at offset ${off} needs 16 bytes, ${bytes.length - off} left`);
    }
    const seconds = view.getUint32(off, le);
    const fraction = view.getUint32(off + 4, le);
    const capturedLength = view.getUint32(off + 8, le);
    const originalLength = view.getUint32(off + 12, le);
    const dataStart = off + PCAP_RECORD_HEADER_LENGTH;
    if (capturedLength > bytes.length - dataStart) {
      return fail(
        'pcap',
        'truncated',
        `record at offset ${off} has ${capturedLength} captured bytes, ${bytes.length - dataStart} left`,
      );
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

function readPcapng(bytes: Uint8Array, view: DataView): Decoded<Capture> {
  const interfaces: CaptureInterface[] = [];
  const scales: TimeScale[] = [];
  const records: CaptureRecord[] = [];
  let le = true;
  /** Index in `interfaces` of the current section's interface 0. */
  let sectionBase = 0;
  let off = 0;
  while (off < bytes.length) {
    const left = bytes.length - off;
    if (left < MIN_BLOCK) return fail('pcapng', 'truncated', `block at offset ${off}: ${left} bytes left, a block needs at least 12`);
    const isSection = view.getUint32(off, false) === PCAPNG_BLOCK.SECTION_HEADER;
    if (isSection) {
      if (left < SHB_MIN) return fail('pcapng', 'truncated', `section header at offset ${off}: ${left} bytes left, it needs 28`);
      const bom = view.getUint32(off + 8, true);
      if (bom === PCAPNG_BYTE_ORDER_MAGIC) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else return fail('pcapng', 'unsupported', `section header at offset ${off}: byte-order magic 0x${bom.toString(16)}`);
    } else if (off === 0) {
      return fail('pcapng', 'unsupported', 'file does not start with a section header block');
    }
    const type = view.getUint32(off, le);
    const length = view.getUint32(off + 4, le);
    if (length < MIN_BLOCK || length % 4 !== 0) {
      return fail('pcapng', 'bad-length', `block type 0x${type.toString(16)} at offset ${off}: length ${length} is below 12 or not a multiple of 4`);
    }
    if (length > left) {
      return fail('pcapng', 'truncated', `block type 0x${type.toString(16)} at offset ${off}: length ${length}, ${left} bytes left`);
    }
    const trailing = view.getUint32(off + length - 4, le);
    if (trailing !== length) {
      return fail('pcapng', 'bad-length', `block type 0x${type.toString(16)} at offset ${off}: length ${length} but trailing length ${trailing}`);
    }
    const end = off + length - 4; // end of the block body
    switch (type) {
      case PCAPNG_BLOCK.SECTION_HEADER: {
        if (length < SHB_MIN) return fail('pcapng', 'bad-length', `section header at offset ${off}: length ${length}, minimum 28`);
        const major = view.getUint16(off + 12, le);
        if (major !== 1) return fail('pcapng', 'bad-version', `section header at offset ${off}: version ${major}, expected 1`);
        sectionBase = interfaces.length;
        break;
      }
      case PCAPNG_BLOCK.INTERFACE_DESCRIPTION: {
        if (length < 20) return fail('pcapng', 'bad-length', `interface description at offset ${off}: length ${length}, minimum 20`);
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
        if (bad !== undefined) return fail('pcapng', 'bad-option', `interface description at offset ${off}: ${bad}`);
        interfaces.push(ifc);
        scales.push(scale);
        break;
      }
      case PCAPNG_BLOCK.ENHANCED_PACKET:
      case PCAPNG_BLOCK.PACKET_OBSOLETE: {
        if (length < 32) return fail('pcapng', 'bad-length', `packet block at offset ${off}: length ${length}, minimum 32`);
        const enhanced = type === PCAPNG_BLOCK.ENHANCED_PACKET;
        const localId = enhanced ? view.getUint32(off + 8, le) : view.getUint16(off + 8, le);
        const capturedLength = view.getUint32(off + 20, le);
        const originalLength = view.getUint32(off + 24, le);
        const dataStart = off + 28;
        const interfaceId = sectionBase + localId;
        const scale = scales[interfaceId];
        if (scale === undefined || localId >= interfaces.length - sectionBase) {
          return fail('pcapng', 'bad-length', `packet block at offset ${off}: interface id ${localId}, but the section describes ${interfaces.length - sectionBase}`);
        }
        if (capturedLength > end - dataStart) {
          return fail('pcapng', 'bad-length', `packet block at offset ${off}: captured length ${capturedLength} exceeds the block's ${end - dataStart} data bytes`);
        }
        const units = (BigInt(view.getUint32(off + 12, le)) << 32n) | BigInt(view.getUint32(off + 16, le));
        records.push({
          interfaceId,
          timestampNs: ((units * scale.mul) / scale.div) >> scale.shift,
          capturedLength,
          originalLength,
          data: bytes.subarray(dataStart, dataStart + capturedLength),
        });
        break;
      }
      case PCAPNG_BLOCK.SIMPLE_PACKET: {
        if (length < 16) return fail('pcapng', 'bad-length', `simple packet block at offset ${off}: length ${length}, minimum 16`);
        const ifc = interfaces[sectionBase];
        if (ifc === undefined || sectionBase >= interfaces.length) {
          return fail('pcapng', 'bad-length', `simple packet block at offset ${off}: the section describes no interface`);
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
