/**
 * Ethernet II frames with 802.1Q / 802.1ad VLAN tags.
 *
 * Hand-written rather than taken from a packet library: wirelab decodes
 * frames in place, at offsets into a borrowed receive slab, returning typed
 * errors instead of throwing, and the switch's hot path needs allocation-free
 * field reads (destination MAC, EtherType after the tags, outer VLAN id).
 * No JavaScript library offers that.
 *
 * Layout (IEEE 802.3 / 802.1Q):
 *
 *   0      6      12            12+4n        14+4n
 *   | dst  | src  | [TPID TCI]* | EtherType  | payload ... (padding included)
 *
 * A tag is recognised by its TPID: 0x8100 (C-tag), 0x88a8 (S-tag) or the
 * pre-standard 0x9100. Any of them may appear at any tag position; the TPID
 * is kept in the tag so that a frame re-encodes byte for byte. The frame
 * check sequence is never present (TAP devices strip it).
 */
import { type Mac, formatMac, readMac, writeMac } from './address.js';
import { type Decoded, fail, ok } from './result.js';

export const ETHERTYPE = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  QINQ: 0x88a8,
  IPV6: 0x86dd,
} as const;

/** Pre-standard QinQ TPID, still sent by some switches as the outer tag. */
export const TPID_9100 = 0x9100;

export const ETHERNET_FIELD = {
  DST: 0,
  SRC: 6,
  /** EtherType of an untagged frame, or the TPID of the first tag. */
  ETHERTYPE: 12,
  /** Payload of an untagged frame. */
  PAYLOAD: 14,
} as const;

/** Offsets inside one 4-byte tag, relative to the tag's start. */
export const VLAN_TAG_FIELD = { TPID: 0, TCI: 2 } as const;

export const ETHERNET_HEADER_LENGTH = 14;
export const VLAN_TAG_LENGTH = 4;
/** Deepest tag stack decoded; more is refused as 'unsupported'. */
export const MAX_VLAN_TAGS = 4;

export interface VlanTag {
  /** 0x8100, 0x88a8 or 0x9100. */
  tpid: number;
  /** Priority code point, 0..7. */
  pcp: number;
  /** Drop eligible indicator (formerly CFI). */
  dei: boolean;
  /** VLAN id, 0..4095. */
  vid: number;
}

export interface EthernetHeader {
  dst: Mac;
  src: Mac;
  /** Outermost first. */
  tags: VlanTag[];
  /** The EtherType after the tags. Values <= 1500 are 802.3 lengths and are kept as they are. */
  etherType: number;
}

export interface EthernetFrame extends EthernetHeader {
  /** 14 + 4 * tags.length. */
  headerLength: number;
  /** Everything after the header, including any trailing padding. A view, not a copy. */
  payload: Uint8Array;
}

/** True for the TPIDs that introduce a VLAN tag. */
export function isVlanTpid(type: number): boolean {
  return type === ETHERTYPE.VLAN || type === ETHERTYPE.QINQ || type === TPID_9100;
}

// ---------------------------------------------------------------------------
// Fast accessors. None allocates; each assumes `buf.length >= 14` unless it
// says otherwise (the switch checks the length once per frame).

export function ethernetDst(buf: Uint8Array): Mac {
  return readMac(buf, ETHERNET_FIELD.DST);
}

export function ethernetSrc(buf: Uint8Array): Mac {
  return readMac(buf, ETHERNET_FIELD.SRC);
}

/** The I/G bit of the destination: multicast or broadcast. */
export function ethernetIsMulticastDst(buf: Uint8Array): boolean {
  return (buf[ETHERNET_FIELD.DST]! & 1) === 1;
}

/** The 16 bits at offset 12: the EtherType, or the first tag's TPID. */
export function ethernetOuterType(buf: Uint8Array): number {
  return (buf[12]! << 8) | buf[13]!;
}

/**
 * Header length including tags (14, 18, 22, …), or -1 if the frame is shorter
 * than its tags need or has more than MAX_VLAN_TAGS tags. Safe on any length.
 */
export function ethernetHeaderLength(buf: Uint8Array): number {
  let off = ETHERNET_FIELD.ETHERTYPE;
  for (let n = 0; ; n++) {
    if (off + 2 > buf.length) return -1;
    const type = (buf[off]! << 8) | buf[off + 1]!;
    if (!isVlanTpid(type)) return off + 2;
    if (n === MAX_VLAN_TAGS) return -1;
    off += VLAN_TAG_LENGTH;
  }
}

/** The EtherType after all tags, or -1 when `ethernetHeaderLength` is -1. Safe on any length. */
export function ethernetEtherType(buf: Uint8Array): number {
  const hl = ethernetHeaderLength(buf);
  return hl < 0 ? -1 : (buf[hl - 2]! << 8) | buf[hl - 1]!;
}

/** VLAN id of the outermost tag, or -1 if the frame is untagged (or too short to hold the tag). */
export function ethernetOuterVid(buf: Uint8Array): number {
  if (buf.length < ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH) return -1;
  if (!isVlanTpid(ethernetOuterType(buf))) return -1;
  return ((buf[14]! << 8) | buf[15]!) & 0x0fff;
}

// ---------------------------------------------------------------------------
// Representation.

export function decodeEthernet(buf: Uint8Array): Decoded<EthernetFrame> {
  if (buf.length < ETHERNET_HEADER_LENGTH) {
    return fail('ethernet', 'truncated', `frame of ${buf.length} bytes is shorter than the 14-byte Ethernet header`);
  }
  const tags: VlanTag[] = [];
  let off = ETHERNET_FIELD.ETHERTYPE;
  let type = (buf[off]! << 8) | buf[off + 1]!;
  while (isVlanTpid(type)) {
    if (tags.length === MAX_VLAN_TAGS) {
      return fail('ethernet', 'unsupported', `more than ${MAX_VLAN_TAGS} VLAN tags (next TPID 0x${hex16(type)})`);
    }
    // The tag's TCI plus the following EtherType/TPID must be present.
    if (off + VLAN_TAG_LENGTH + 2 > buf.length) {
      return fail(
        'ethernet',
        'truncated',
        `frame of ${buf.length} bytes ends inside VLAN tag ${tags.length + 1} (needs ${off + VLAN_TAG_LENGTH + 2})`,
      );
    }
    const tci = (buf[off + 2]! << 8) | buf[off + 3]!;
    tags.push({ tpid: type, pcp: tci >>> 13, dei: (tci & 0x1000) !== 0, vid: tci & 0x0fff });
    off += VLAN_TAG_LENGTH;
    type = (buf[off]! << 8) | buf[off + 1]!;
  }
  const headerLength = off + 2;
  return ok({
    dst: readMac(buf, ETHERNET_FIELD.DST),
    src: readMac(buf, ETHERNET_FIELD.SRC),
    tags,
    etherType: type,
    headerLength,
    payload: buf.subarray(headerLength),
  });
}

/** Header length `h` encodes to: 14 + 4 per tag. */
export function ethernetHeaderLengthOf(h: EthernetHeader): number {
  return ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH * h.tags.length;
}

/**
 * Writes the header (not the payload) at `off`; returns the bytes written.
 * Throws RangeError for values that do not fit their fields: that is a bug in
 * the caller, not hostile input.
 */
export function writeEthernet(h: EthernetHeader, buf: Uint8Array, off: number): number {
  if (h.tags.length > MAX_VLAN_TAGS) throw new RangeError(`${h.tags.length} VLAN tags: at most ${MAX_VLAN_TAGS}`);
  checkUint('etherType', h.etherType, 0xffff);
  writeMac(buf, off + ETHERNET_FIELD.DST, h.dst);
  writeMac(buf, off + ETHERNET_FIELD.SRC, h.src);
  let p = off + ETHERNET_FIELD.ETHERTYPE;
  for (const t of h.tags) {
    checkUint('tpid', t.tpid, 0xffff);
    checkUint('pcp', t.pcp, 7);
    checkUint('vid', t.vid, 0xfff);
    const tci = (t.pcp << 13) | (t.dei ? 0x1000 : 0) | t.vid;
    buf[p] = t.tpid >>> 8;
    buf[p + 1] = t.tpid & 0xff;
    buf[p + 2] = tci >>> 8;
    buf[p + 3] = tci & 0xff;
    p += VLAN_TAG_LENGTH;
  }
  buf[p] = h.etherType >>> 8;
  buf[p + 1] = h.etherType & 0xff;
  return p + 2 - off;
}

/** A new frame: the header with its tags in order (outermost first), then `payload`. No padding is added. */
export function encodeEthernet(h: EthernetHeader, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const hl = ethernetHeaderLengthOf(h);
  const out = new Uint8Array(hl + payload.length);
  writeEthernet(h, out, 0);
  out.set(payload, hl);
  return out;
}

const ETHERTYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [ETHERTYPE.IPV4, 'IPv4'],
  [ETHERTYPE.ARP, 'ARP'],
  [ETHERTYPE.VLAN, '802.1Q'],
  [ETHERTYPE.QINQ, '802.1Q-QinQ'],
  [TPID_9100, '802.1Q-9100'],
  [ETHERTYPE.IPV6, 'IPv6'],
  [0x8035, 'Reverse ARP'],
  [0x88cc, 'LLDP'],
  [0x8809, 'Slow Protocols'],
  [0x888e, 'EAPOL'],
  [0x8847, 'MPLS unicast'],
]);

/** `IPv4 (0x0800)`, `Unknown (0x1234)`, or `802.3 length 46` — the words tcpdump uses. */
export function formatEtherType(type: number): string {
  if (type <= 1500) return `802.3 length ${type}`;
  return `ethertype ${ETHERTYPE_NAMES.get(type) ?? 'Unknown'} (0x${hex16(type)})`;
}

/**
 * One line like `tcpdump -e`:
 * `02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 802.1Q (0x8100), length 64: vlan 10, p 0, ethertype IPv4 (0x0800)`.
 */
export function describeEthernet(f: EthernetFrame): string {
  const first = f.tags[0]?.tpid ?? f.etherType;
  let s = `${formatMac(f.src)} > ${formatMac(f.dst)}, ${formatEtherType(first)}, length ${f.headerLength + f.payload.length}`;
  if (f.tags.length > 0) {
    const parts = f.tags.map((t, i) => {
      const next = f.tags[i + 1]?.tpid ?? f.etherType;
      return `vlan ${t.vid}, p ${t.pcp}${t.dei ? ', DEI' : ''}, ${formatEtherType(next)}`;
    });
    s += `: ${parts.join(', ')}`;
  }
  return s;
}

function hex16(n: number): string {
  return n.toString(16).padStart(4, '0');
}

function checkUint(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${name} ${v} out of range 0..${max}`);
}
