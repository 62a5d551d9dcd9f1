/**
 * DNS messages at the edges of wirelab's DNS server and resolver: decoding a
 * query defensively, building responses, and the few raw-wire walks that the
 * cache and the client need without a full decode (where the question ends,
 * where each record's TTL sits, whether a response's question matches ours).
 *
 * The record formats themselves come from `dns-packet`; this file adds what a
 * server facing hostile input needs on top of it: every failure is a named
 * reason (counted by the caller), never an exception. dns-packet already
 * refuses forward and self pointers ("only pointers to prior data"), so a
 * pointer loop cannot spin; the walks here refuse them the same way.
 */
import dnsPacket, { type Answer, type Packet, type Question } from 'dns-packet';

/** RFC 1035 RCODEs used by wirelab. */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type RcodeName = keyof typeof RCODE;

export const HEADER_BYTES = 12;
/** The classic UDP payload limit without EDNS (RFC 1035 §4.2.1). */
export const UDP_LIMIT = 512;
/** What wirelab advertises and accepts with EDNS(0): the DNS flag day 2020 value. */
export const EDNS_PAYLOAD = 1232;

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const FLAG_RA = 0x0080;
const TYPE_OPT = 41;

/** Why a query was refused before it could be answered (names of `stats.malformed.*`). */
export type MalformedReason = 'short' | 'response' | 'badCount' | 'decode' | 'badOpt';

export interface ParsedQuery {
  id: number;
  /** The 16-bit flags word as received. */
  flags: number;
  opcode: number;
  question: Question;
  /** Offset just past the question section. */
  questionEnd: number;
  /** The requester's EDNS UDP payload size, if it sent an OPT record. */
  ednsPayload: number | undefined;
}

export type QueryParse =
  | { ok: true; query: ParsedQuery }
  /** `id` is known when the header was readable, so a FORMERR can be sent back. */
  | { ok: false; reason: MalformedReason; id: number | undefined; flags: number };

/**
 * Decodes a query. A message shorter than a header, or one with QR set (a
 * response sent to a server: answering it could start a loop between two
 * servers), should get silence; every other failure can get a FORMERR.
 */
export function parseQuery(buf: Uint8Array): QueryParse {
  if (buf.length < HEADER_BYTES) return { ok: false, reason: 'short', id: undefined, flags: 0 };
  const id = (buf[0]! << 8) | buf[1]!;
  const flags = (buf[2]! << 8) | buf[3]!;
  if ((flags & FLAG_QR) !== 0) return { ok: false, reason: 'response', id, flags };
  const qd = (buf[4]! << 8) | buf[5]!;
  if (qd !== 1) return { ok: false, reason: 'badCount', id, flags };
  let packet: Packet;
  try {
    packet = dnsPacket.decode(Buffer.from(buf.buffer, buf.byteOffset, buf.length));
  } catch {
    return { ok: false, reason: 'decode', id, flags };
  }
  const question = packet.questions?.[0];
  const questionEnd = skipQuestions(buf, 1);
  if (question === undefined || questionEnd < 0) return { ok: false, reason: 'decode', id, flags };
  let ednsPayload: number | undefined;
  let opts = 0;
  for (const rr of packet.additionals ?? []) {
    if (rr.type !== 'OPT') continue;
    if (++opts > 1 || rr.name !== '.') return { ok: false, reason: 'badOpt', id, flags };
    ednsPayload = Math.max(UDP_LIMIT, rr.udpPayloadSize);
  }
  return { ok: true, query: { id, flags, opcode: (flags >> 11) & 0xf, question, questionEnd, ednsPayload } };
}

export interface ResponseParts {
  id: number;
  /** The query's flags: RD and the opcode are copied from them. */
  queryFlags: number;
  rcode: number;
  authoritative?: boolean;
  recursionAvailable?: boolean;
  question?: Question;
  answers?: Answer[];
  authorities?: Answer[];
  /** Add an OPT record advertising EDNS_PAYLOAD (when the query had one). */
  edns?: boolean;
}

/** Encodes a response. */
export function encodeResponse(p: ResponseParts): Buffer {
  const flags =
    (p.queryFlags & (0x7800 | FLAG_RD)) |
    (p.authoritative === true ? FLAG_AA : 0) |
    (p.recursionAvailable === false ? 0 : FLAG_RA) |
    (p.rcode & 0xf);
  return dnsPacket.encode({
    type: 'response',
    id: p.id,
    flags,
    questions: p.question !== undefined ? [p.question] : [],
    answers: p.answers ?? [],
    authorities: p.authorities ?? [],
    additionals: p.edns === true ? [ednsOpt()] : [],
  });
}

/** The OPT pseudo-record of EDNS(0) advertising EDNS_PAYLOAD. */
function ednsOpt(): Answer {
  return { type: 'OPT', name: '.', udpPayloadSize: EDNS_PAYLOAD, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
}

/** Encodes a recursive query for `question` (RD set), optionally with EDNS(0). */
export function encodeQuery(id: number, question: Question, edns: boolean): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name: question.name, type: question.type, class: question.class ?? 'IN' }],
    additionals: edns ? [ednsOpt()] : [],
  });
}

/** Decodes a response, or undefined if it is not one dns-packet can read. */
export function decodeResponse(buf: Uint8Array): Packet | undefined {
  try {
    return dnsPacket.decode(Buffer.from(buf.buffer, buf.byteOffset, buf.length));
  } catch {
    return undefined;
  }
}

/**
 * A copy of `bytes` in a plain Uint8Array. Not `.slice()`: on a Buffer (what
 * dgram-shaped sockets deliver) that is a view sharing memory, and the cache
 * and the server write IDs and TTLs into their copies.
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

// ---------------------------------------------------------------------------
// Header fields

export const readId = (buf: Uint8Array): number => (buf[0]! << 8) | buf[1]!;
export const readRcode = (buf: Uint8Array): number => buf[3]! & 0xf;
export const isTruncated = (buf: Uint8Array): boolean => (buf[2]! & (FLAG_TC >> 8)) !== 0;
export const isResponse = (buf: Uint8Array): boolean => (buf[2]! & (FLAG_QR >> 8)) !== 0;

export function writeId(buf: Uint8Array, id: number): void {
  buf[0] = (id >> 8) & 0xff;
  buf[1] = id & 0xff;
}

// ---------------------------------------------------------------------------
// Raw walks

/** Offset just past the (possibly compressed) name at `off`, or -1 if it is malformed or runs off the end. */
export function skipName(buf: Uint8Array, off: number): number {
  for (let labels = 0; labels < 128; labels++) {
    if (off >= buf.length) return -1;
    const len = buf[off]!;
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2 <= buf.length ? off + 2 : -1;
    if ((len & 0xc0) !== 0) return -1;
    off += 1 + len;
  }
  return -1;
}

/** Offset just past `count` questions starting at the header's end, or -1. */
export function skipQuestions(buf: Uint8Array, count: number): number {
  let off = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    off = skipName(buf, off);
    if (off < 0 || off + 4 > buf.length) return -1;
    off += 4;
  }
  return off;
}

/**
 * Offsets of the TTL field of every resource record (OPT excluded: its "TTL"
 * carries EDNS flags), or undefined when the records do not parse.
 */
export function ttlOffsets(buf: Uint8Array): number[] | undefined {
  if (buf.length < HEADER_BYTES) return undefined;
  const qd = (buf[4]! << 8) | buf[5]!;
  const rrs = ((buf[6]! << 8) | buf[7]!) + ((buf[8]! << 8) | buf[9]!) + ((buf[10]! << 8) | buf[11]!);
  let off = skipQuestions(buf, qd);
  if (off < 0) return undefined;
  const out: number[] = [];
  for (let i = 0; i < rrs; i++) {
    off = skipName(buf, off);
    if (off < 0 || off + 10 > buf.length) return undefined;
    const type = (buf[off]! << 8) | buf[off + 1]!;
    if (type !== TYPE_OPT) out.push(off + 4);
    off += 10 + ((buf[off + 8]! << 8) | buf[off + 9]!);
    if (off > buf.length) return undefined;
  }
  return out;
}

/**
 * The message without its OPT record (RFC 6891 §7: no OPT in a response to a
 * query that had none), when the OPT is the last record, as servers put it.
 * Returns `buf` itself when there is none to strip.
 */
export function withoutOpt(buf: Uint8Array): Uint8Array {
  const ar = (buf[10]! << 8) | buf[11]!;
  if (ar === 0) return buf;
  const rrs = ((buf[6]! << 8) | buf[7]!) + ((buf[8]! << 8) | buf[9]!) + ar;
  let off = skipQuestions(buf, (buf[4]! << 8) | buf[5]!);
  for (let i = 0; i < rrs && off >= 0; i++) {
    const start = off;
    off = skipName(buf, off);
    if (off < 0 || off + 10 > buf.length) return buf;
    const type = (buf[off]! << 8) | buf[off + 1]!;
    off += 10 + ((buf[off + 8]! << 8) | buf[off + 9]!);
    if (type === TYPE_OPT && i === rrs - 1 && off === buf.length) {
      const out = copyBytes(buf.subarray(0, start));
      out[10] = ((ar - 1) >> 8) & 0xff;
      out[11] = (ar - 1) & 0xff;
      return out;
    }
  }
  return buf;
}

export const readU32 = (buf: Uint8Array, off: number): number =>
  ((buf[off]! << 24) >>> 0) + (buf[off + 1]! << 16) + (buf[off + 2]! << 8) + buf[off + 3]!;

export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 24) & 0xff;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

/**
 * True when `response` carries exactly the question section of `query`,
 * names compared without regard to ASCII case (RFC 4343). Both must have one
 * question and uncompressed question names, as every sane server sends.
 */
export function sameQuestion(query: Uint8Array, response: Uint8Array): boolean {
  if (response.length < HEADER_BYTES || response[4] !== 0 || response[5] !== 1) return false;
  const qEnd = skipQuestions(query, 1);
  if (qEnd < 0 || response.length < qEnd) return false;
  for (let i = HEADER_BYTES; i < qEnd; i++) {
    let a = query[i]!;
    let b = response[i]!;
    if (a >= 0x41 && a <= 0x5a) a |= 0x20;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (a !== b) return false;
  }
  return true;
}

/**
 * The response cut to fit `limit` bytes for a UDP requester: the header with
 * TC set and the question only (RFC 2181 §9), which tells the requester to
 * retry over TCP. Returns `response` itself when it fits.
 */
export function truncateTo(response: Uint8Array, limit: number): Uint8Array {
  if (response.length <= limit) return response;
  const qEnd = skipQuestions(response, (response[4]! << 8) | response[5]!);
  const keep = qEnd < 0 ? HEADER_BYTES : qEnd;
  const out = new Uint8Array(keep);
  out.set(response.subarray(0, keep));
  if (qEnd < 0) out[4] = out[5] = 0;
  out[2] = out[2]! | (FLAG_TC >> 8);
  out[6] = out[7] = out[8] = out[9] = out[10] = out[11] = 0;
  return out;
}

/** Lower-case name without the trailing dot ('.' for the root), as the zone and the cache key names. */
export function canonicalName(name: string): string {
  const n = name.toLowerCase();
  if (n === '' || n === '.') return '.';
  return n.endsWith('.') ? n.slice(0, -1) : n;
}
