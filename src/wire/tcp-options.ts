/**
 * TCP options (RFC 9293 §3.1, RFC 7323 window scale and timestamps, RFC 2018
 * SACK): parse the option area of a TCP header and emit it again.
 *
 * Hand-written rather than taken from a packet library: the option area is
 * hostile input read at an offset into a borrowed receive buffer, and every
 * malformed byte must become a typed `bad-option` error naming the kind,
 * offset and length — never an exception. No JavaScript library does that.
 *
 * Wire format: a sequence of options, each either one byte (EOL = 0,
 * NOP = 1) or `kind, length, data…` with `length` counting both leading
 * bytes. EOL ends the list; whatever follows it up to the data offset is
 * padding.
 *
 * ## The list is literal
 *
 * A decoded list contains every option in wire order, NOPs included, and ends
 * with `{kind:'eol'}` if an EOL byte was present (padding after it is not in
 * the list). Emitting a list writes exactly those options, in that order, and
 * then pads with zero bytes (EOL) to a multiple of 4. So a list whose bytes are
 * already a multiple of 4, or which ends with `eol`, survives
 * `decode(encode(list))` unchanged; any other list comes back with a trailing
 * `{kind:'eol'}` (the padding made visible).
 *
 * Alignment NOPs are the builder's choice, not the encoder's: `linuxTcpOptions`
 * builds the list the way Linux lays options out (MSS, SACK_PERM, TS, NOP,
 * WSCALE on a SYN; NOP NOP TS on data segments), so wirelab's segments match
 * the kernel's byte for byte. Byte identity for captured segments (arbitrary
 * padding after EOL, extra zero words) is kept by `TcpSegment.optionBytes`;
 * see `tcp.ts` for when those bytes are re-emitted.
 */
import { type Decoded, fail, ok } from './result.js';

export const TCP_OPTION_KIND = {
  EOL: 0,
  NOP: 1,
  MSS: 2,
  WSCALE: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMPS: 8,
} as const;

/** Fixed total lengths (kind + length byte + data) of the known kinds. */
export const TCP_OPTION_LENGTH = {
  MSS: 4,
  WSCALE: 3,
  SACK_PERMITTED: 2,
  TIMESTAMPS: 10,
} as const;

/** The option area is at most 40 bytes: data offset 15 words minus the 5-word fixed header. */
export const TCP_MAX_OPTIONS_LENGTH = 40;
/** SACK carries 1..4 blocks (4 fill 34 of the 40 bytes). */
export const TCP_MAX_SACK_BLOCKS = 4;

/** One SACK block: the sequence space [left, right). Both are uint32. */
export interface TcpSackBlock {
  left: number;
  right: number;
}

export type TcpOption =
  | { kind: 'eol' }
  | { kind: 'nop' }
  | { kind: 'mss'; value: number }
  | { kind: 'wscale'; shift: number }
  | { kind: 'sack-permitted' }
  | { kind: 'sack'; blocks: TcpSackBlock[] }
  | { kind: 'timestamps'; value: number; echo: number }
  /** Any other kind, its data (after kind and length bytes) kept byte for byte. */
  | { kind: 'unknown'; type: number; data: Uint8Array };

export type TcpOptionKind = TcpOption['kind'];

function u16(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}

function u32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

function badLength(kind: number, offset: number, length: number, expected: string): Decoded<never> {
  return fail('tcp', 'bad-option', `option kind ${kind} at offset ${offset} has length ${length}, expected ${expected}`);
}

/**
 * Parses the option area `buf[off, end)`. Offsets in error messages are
 * indices into `buf` (so, called on a whole segment with `off = 20`, they are
 * offsets in the TCP header). Never throws.
 */
export function decodeTcpOptions(buf: Uint8Array, off = 0, end = buf.length): Decoded<TcpOption[]> {
  const options: TcpOption[] = [];
  let i = off;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === TCP_OPTION_KIND.EOL) {
      options.push({ kind: 'eol' });
      break; // the rest is padding
    }
    if (kind === TCP_OPTION_KIND.NOP) {
      options.push({ kind: 'nop' });
      i++;
      continue;
    }
    if (i + 1 >= end) {
      return fail('tcp', 'bad-option', `option kind ${kind} at offset ${i} has no length byte (option area ends at ${end})`);
    }
    const len = buf[i + 1]!;
    if (len < 2) return badLength(kind, i, len, 'at least 2');
    if (i + len > end) {
      return fail(
        'tcp',
        'bad-option',
        `option kind ${kind} at offset ${i} has length ${len}, overrunning the option area by ${i + len - end} bytes (area ends at ${end})`,
      );
    }
    switch (kind) {
      case TCP_OPTION_KIND.MSS:
        if (len !== TCP_OPTION_LENGTH.MSS) return badLength(kind, i, len, '4 (mss)');
        options.push({ kind: 'mss', value: u16(buf, i + 2) });
        break;
      case TCP_OPTION_KIND.WSCALE:
        if (len !== TCP_OPTION_LENGTH.WSCALE) return badLength(kind, i, len, '3 (wscale)');
        options.push({ kind: 'wscale', shift: buf[i + 2]! });
        break;
      case TCP_OPTION_KIND.SACK_PERMITTED:
        if (len !== TCP_OPTION_LENGTH.SACK_PERMITTED) return badLength(kind, i, len, '2 (sack-permitted)');
        options.push({ kind: 'sack-permitted' });
        break;
      case TCP_OPTION_KIND.SACK: {
        const n = (len - 2) / 8;
        if (!Number.isInteger(n) || n < 1 || n > TCP_MAX_SACK_BLOCKS) {
          return badLength(kind, i, len, '2 + 8n with n in 1..4 (sack)');
        }
        const blocks: TcpSackBlock[] = [];
        for (let b = 0; b < n; b++) {
          const p = i + 2 + b * 8;
          blocks.push({ left: u32(buf, p), right: u32(buf, p + 4) });
        }
        options.push({ kind: 'sack', blocks });
        break;
      }
      case TCP_OPTION_KIND.TIMESTAMPS:
        if (len !== TCP_OPTION_LENGTH.TIMESTAMPS) return badLength(kind, i, len, '10 (timestamps)');
        options.push({ kind: 'timestamps', value: u32(buf, i + 2), echo: u32(buf, i + 6) });
        break;
      default:
        options.push({ kind: 'unknown', type: kind, data: buf.subarray(i + 2, i + len) });
    }
    i += len;
  }
  return ok(options);
}

/** Bytes one option occupies on the wire. */
export function tcpOptionLength(o: TcpOption): number {
  switch (o.kind) {
    case 'eol':
    case 'nop':
      return 1;
    case 'mss':
      return TCP_OPTION_LENGTH.MSS;
    case 'wscale':
      return TCP_OPTION_LENGTH.WSCALE;
    case 'sack-permitted':
      return TCP_OPTION_LENGTH.SACK_PERMITTED;
    case 'sack':
      return 2 + 8 * o.blocks.length;
    case 'timestamps':
      return TCP_OPTION_LENGTH.TIMESTAMPS;
    case 'unknown':
      return 2 + o.data.length;
  }
}

/** Bytes the list occupies before padding. */
export function tcpOptionsLength(options: readonly TcpOption[]): number {
  let n = 0;
  for (const o of options) n += tcpOptionLength(o);
  return n;
}

/** Bytes the list occupies once padded to a multiple of 4 (what the data offset covers). */
export function tcpOptionsPaddedLength(options: readonly TcpOption[]): number {
  return (tcpOptionsLength(options) + 3) & ~3;
}

const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(TCP_OPTION_KIND));

function checkRange(what: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`TCP option ${what} ${v} is outside 0..${max}`);
}

function put16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 8;
  buf[off + 1] = v & 0xff;
}

function put32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

/**
 * Writes the options at `buf[off…]`, unpadded; returns the bytes written.
 * Throws RangeError for a value that cannot be encoded (an MSS above 65535, a
 * SACK with 0 or more than 4 blocks, an 'unknown' option using a known kind's
 * number) — those are programming errors, not input.
 */
export function writeTcpOptions(options: readonly TcpOption[], buf: Uint8Array, off: number): number {
  let i = off;
  for (const o of options) {
    switch (o.kind) {
      case 'eol':
        buf[i++] = TCP_OPTION_KIND.EOL;
        break;
      case 'nop':
        buf[i++] = TCP_OPTION_KIND.NOP;
        break;
      case 'mss':
        checkRange('mss', o.value, 0xffff);
        buf[i] = TCP_OPTION_KIND.MSS;
        buf[i + 1] = TCP_OPTION_LENGTH.MSS;
        put16(buf, i + 2, o.value);
        i += TCP_OPTION_LENGTH.MSS;
        break;
      case 'wscale':
        checkRange('wscale shift', o.shift, 0xff);
        buf[i] = TCP_OPTION_KIND.WSCALE;
        buf[i + 1] = TCP_OPTION_LENGTH.WSCALE;
        buf[i + 2] = o.shift;
        i += TCP_OPTION_LENGTH.WSCALE;
        break;
      case 'sack-permitted':
        buf[i] = TCP_OPTION_KIND.SACK_PERMITTED;
        buf[i + 1] = TCP_OPTION_LENGTH.SACK_PERMITTED;
        i += TCP_OPTION_LENGTH.SACK_PERMITTED;
        break;
      case 'sack': {
        const n = o.blocks.length;
        if (n < 1 || n > TCP_MAX_SACK_BLOCKS) throw new RangeError(`TCP SACK option has ${n} blocks, expected 1..4`);
        buf[i] = TCP_OPTION_KIND.SACK;
        buf[i + 1] = 2 + 8 * n;
        let p = i + 2;
        for (const b of o.blocks) {
          checkRange('sack left edge', b.left, 0xffffffff);
          checkRange('sack right edge', b.right, 0xffffffff);
          put32(buf, p, b.left);
          put32(buf, p + 4, b.right);
          p += 8;
        }
        i = p;
        break;
      }
      case 'timestamps':
        checkRange('timestamp value', o.value, 0xffffffff);
        checkRange('timestamp echo', o.echo, 0xffffffff);
        buf[i] = TCP_OPTION_KIND.TIMESTAMPS;
        buf[i + 1] = TCP_OPTION_LENGTH.TIMESTAMPS;
        put32(buf, i + 2, o.value);
        put32(buf, i + 6, o.echo);
        i += TCP_OPTION_LENGTH.TIMESTAMPS;
        break;
      case 'unknown':
        checkRange('kind', o.type, 0xff);
        if (KNOWN_TYPES.has(o.type)) {
          throw new RangeError(`TCP option kind ${o.type} is a known kind; use its own representation, not 'unknown'`);
        }
        if (o.data.length > 0xff - 2) throw new RangeError(`TCP option kind ${o.type} has ${o.data.length} data bytes, at most 253 fit`);
        buf[i] = o.type;
        buf[i + 1] = 2 + o.data.length;
        buf.set(o.data, i + 2);
        i += 2 + o.data.length;
        break;
    }
  }
  return i - off;
}

/**
 * The option area for a list: the options in order, then zero (EOL) bytes up
 * to a multiple of 4. Throws RangeError past 40 bytes.
 */
export function encodeTcpOptions(options: readonly TcpOption[]): Uint8Array {
  const padded = tcpOptionsPaddedLength(options);
  if (padded > TCP_MAX_OPTIONS_LENGTH) {
    throw new RangeError(`TCP options need ${padded} bytes, at most ${TCP_MAX_OPTIONS_LENGTH} fit in the header`);
  }
  const out = new Uint8Array(padded);
  writeTcpOptions(options, out, 0);
  return out;
}

/** Structural equality of two option lists (unknown data compared byte by byte). */
export function tcpOptionsEqual(a: readonly TcpOption[], b: readonly TcpOption[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.kind !== y.kind) return false;
    switch (x.kind) {
      case 'mss':
        if (x.value !== (y as typeof x).value) return false;
        break;
      case 'wscale':
        if (x.shift !== (y as typeof x).shift) return false;
        break;
      case 'timestamps':
        if (x.value !== (y as typeof x).value || x.echo !== (y as typeof x).echo) return false;
        break;
      case 'sack': {
        const yb = (y as typeof x).blocks;
        if (x.blocks.length !== yb.length) return false;
        for (let j = 0; j < yb.length; j++) {
          if (x.blocks[j]!.left !== yb[j]!.left || x.blocks[j]!.right !== yb[j]!.right) return false;
        }
        break;
      }
      case 'unknown': {
        const yu = y as typeof x;
        if (x.type !== yu.type || x.data.length !== yu.data.length) return false;
        for (let j = 0; j < yu.data.length; j++) if (x.data[j] !== yu.data[j]) return false;
        break;
      }
      default:
        break; // eol, nop, sack-permitted carry nothing
    }
  }
  return true;
}

/** The first option of a kind, typed: `findTcpOption(opts, 'mss')?.value`. */
export function findTcpOption<K extends TcpOptionKind>(
  options: readonly TcpOption[],
  kind: K,
): Extract<TcpOption, { kind: K }> | undefined {
  for (const o of options) if (o.kind === kind) return o as Extract<TcpOption, { kind: K }>;
  return undefined;
}

/** What a segment wants to say; `linuxTcpOptions` arranges it. */
export interface TcpOptionRequest {
  mss?: number;
  sackPermitted?: boolean;
  timestamps?: { value: number; echo: number };
  wscale?: number;
  sack?: TcpSackBlock[];
}

/**
 * Builds an option list laid out as Linux does (tcp_options_write): MSS;
 * SACK_PERM sharing a word with TS (or NOP NOP TS / NOP NOP SACK_PERM
 * when alone); NOP WSCALE; NOP NOP SACK. Every option is 4-byte aligned, so
 * the list needs no padding and round-trips exactly. A Linux SYN with all of
 * them is `02 04 05 b4 04 02 08 0a …ts… 01 03 03 07`.
 */
export function linuxTcpOptions(req: TcpOptionRequest): TcpOption[] {
  const out: TcpOption[] = [];
  if (req.mss !== undefined) out.push({ kind: 'mss', value: req.mss });
  if (req.timestamps !== undefined) {
    if (req.sackPermitted) out.push({ kind: 'sack-permitted' });
    else out.push({ kind: 'nop' }, { kind: 'nop' });
    out.push({ kind: 'timestamps', value: req.timestamps.value, echo: req.timestamps.echo });
  } else if (req.sackPermitted) {
    out.push({ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack-permitted' });
  }
  if (req.wscale !== undefined) out.push({ kind: 'nop' }, { kind: 'wscale', shift: req.wscale });
  if (req.sack !== undefined && req.sack.length > 0) {
    out.push({ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: req.sack });
  }
  return out;
}

function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += (b < 16 ? '0' : '') + b.toString(16);
  return s;
}

/** One option as tcpdump prints it: `mss 1460`, `sackOK`, `TS val 1 ecr 0`, `sack 1 {100:200}`. */
export function describeTcpOption(o: TcpOption): string {
  switch (o.kind) {
    case 'eol':
      return 'eol';
    case 'nop':
      return 'nop';
    case 'mss':
      return `mss ${o.value}`;
    case 'wscale':
      return `wscale ${o.shift}`;
    case 'sack-permitted':
      return 'sackOK';
    case 'sack':
      return `sack ${o.blocks.length} ${o.blocks.map((b) => `{${b.left}:${b.right}}`).join('')}`;
    case 'timestamps':
      return `TS val ${o.value} ecr ${o.echo}`;
    case 'unknown':
      return o.data.length > 0 ? `unknown-${o.type} 0x${hex(o.data)}` : `unknown-${o.type}`;
  }
}

/** The list inside tcpdump's `options [...]`: `mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7`. */
export function describeTcpOptions(options: readonly TcpOption[]): string {
  return options.map(describeTcpOption).join(',');
}
