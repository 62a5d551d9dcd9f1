/**
 * Capture filters: a small, documented subset of tcpdump's filter language
 * (pcap-filter(7)) compiled into a predicate over one Ethernet frame, so
 * that `wirelab capture` and the pcap writers can keep only what a person
 * asked for, in the words they already type at tcpdump.
 *
 * Hand-written because no maintained JavaScript library compiles
 * pcap-filter syntax (the npm bindings call the C libpcap, which wirelab
 * does not link), and because the predicate must run on borrowed frames at
 * an offset into a receive slab without allocating.
 *
 * The subset, exactly:
 *
 *   filter     := (empty: every frame matches) | expr
 *   expr       := unary (('and' | '&&' | 'or' | '||') (unary | repeat))*
 *   unary      := ('not' | '!') unary | '(' expr ')' | primitive
 *   primitive  := 'ether' ('host' | 'src' ['host'] | 'dst' ['host']) MAC
 *               | 'vlan' [ID]
 *               | 'arp' | 'ip' | 'icmp' | 'tcp' | 'udp'
 *               | ['src' | 'dst'] 'host' A
 *               | ['src' | 'dst'] 'net' CIDR
 *               | ['tcp' | 'udp'] ['src' | 'dst'] 'port' N
 *               | ['tcp' | 'udp'] ['src' | 'dst'] 'portrange' N '-' M
 *               | 'greater' N | 'less' N
 *   repeat     := ('not' | '!')* VALUE        (see "Repeated qualifiers")
 *
 *   MAC  six hex octets separated by ':' or '-' (02:42:ac:11:00:02)
 *   A    a dotted-quad IPv4 address; CIDR is A or A/LEN with no host bits set
 *   N    a decimal number without leading zeros (ports 0..65535, ID 0..4095)
 *
 * Precedence is tcpdump's: 'not' binds tightest; 'and' and 'or' have EQUAL
 * precedence and group left to right, so `a or b and c` is `(a or b) and c`.
 *
 * Repeated qualifiers: as in tcpdump, a bare value after and/or repeats the
 * qualifiers of the primitive before it: `port 80 or 443`, `tcp dst port 80
 * or not 8080`, `host 10.0.0.1 or 10.0.0.2`, and inside parentheses that
 * follow and/or: `host 10.0.0.1 and (10.0.0.2 or 10.0.0.3)`. After a word
 * without a value (`tcp`, `vlan`, `greater N`, …) there is nothing to repeat
 * and a bare value is an error, as in tcpdump.
 *
 * Semantics are libpcap's (1.10, checked against tcpdump by
 * test/link/capture-filter.test.ts), including its surprises:
 *
 *   - `host`/`net` without `ip` also match ARP and RARP frames by their
 *     sender/target protocol addresses; `port` without `tcp`/`udp` also
 *     matches SCTP.
 *   - `ip`, `tcp`, `host`, `port`, … look at the EtherType at offset 12, so
 *     they do NOT match an 802.1Q-tagged frame. `vlan` matches a tag (TPID
 *     0x8100, 0x88a8 or 0x9100, with ID: the VID) and shifts every primitive
 *     written AFTER it, anywhere in the text, 4 bytes further in (so `vlan
 *     and vlan 20` is QinQ with inner VID 20, and `vlan or ip` is a trap, as
 *     in tcpdump). MAC addresses are never shifted.
 *   - `port`/`portrange` only match the first fragment (offset 0), reading
 *     the ports past the IP header length; `tcp`, `udp`, `icmp` match every
 *     fragment.
 *   - a frame too short for a byte the filter reads fails the WHOLE filter
 *     (BPF's rule), so `not tcp` does not match a 10-byte runt. Each
 *     primitive reads in libpcap's order and `and`/`or` short-circuit left
 *     to right, as the BPF program libpcap generates does before its
 *     optimizer runs (`tcpdump -O`). The optimizer can accept a few frames
 *     cut short that this rejects (`host A or B`, source B, frame ending
 *     inside the destination: it tests B before loading the destination);
 *     on whole frames the two agree.
 *   - `greater N` is length >= N, `less N` is length <= N, on the frame's
 *     length on the wire (`wireLength`, default: the captured length).
 *
 * IPv4 only: `ip6` is refused, and on an IPv6 frame `tcp`, `port`, … do not
 * match (tcpdump's would). Anything else outside the subset (`tcp[13]`,
 * `proto`, `gateway`, service names, `src 10.0.0.1` without `host`, …) is an
 * Error naming the word and its column. Filters longer than 65536
 * characters or nested deeper than 64 parentheses/`not`s are refused, so
 * hostile text cannot overflow the stack.
 *
 * The compiled predicate is a tree of closures built once; `matches` reads
 * bytes with bounds checks, allocates nothing and never throws.
 */
import { parseMac, prefixMask } from '../wire/address.js';

export interface CaptureFilter {
  /** The filter as written. */
  readonly text: string;
  /**
   * True when the frame in `buf[off, off + len)` matches. `len` is the
   * captured length; `wireLength` (default `len`) is the length on the wire,
   * which `greater`/`less` test. Never throws; short or malformed frames
   * simply do not match.
   */
  matches(buf: Uint8Array, off: number, len: number, wireLength?: number): boolean;
}

export const MAX_CAPTURE_FILTER_LENGTH = 65536;
/** Deepest nesting of parentheses and `not`. */
export const MAX_CAPTURE_FILTER_NESTING = 64;
/** Deepest tree of alternating and/or (evaluation recurses this deep). */
const MAX_TREE_HEIGHT = 256;

const SUPPORTED =
  'host, net, port, portrange, src, dst, ether, vlan, arp, ip, icmp, tcp, udp, greater, less, and, or, not, parentheses';

// ---------------------------------------------------------------------------
// Evaluation. A test returns MATCH, NO_MATCH or ABORT; ABORT means a read
// past the captured bytes, which rejects the frame whatever the rest of the
// filter says (a BPF program returns 0 on an out-of-bounds load).

const MATCH = 1;
const NO_MATCH = 0;
const ABORT = -1;

/** (frame bytes, frame offset, captured length, wire length) → MATCH | NO_MATCH | ABORT. */
type Test = (b: Uint8Array, o: number, n: number, wire: number) => number;

/** A byte, or -1 past the captured length. */
function u8(b: Uint8Array, o: number, n: number, k: number): number {
  return k + 1 <= n ? b[o + k]! : -1;
}
function u16(b: Uint8Array, o: number, n: number, k: number): number {
  return k + 2 <= n ? (b[o + k]! << 8) | b[o + k + 1]! : -1;
}
/** An unsigned 32-bit word, or -1. */
function u32(b: Uint8Array, o: number, n: number, k: number): number {
  return k + 4 <= n ? ((b[o + k]! << 24) | (b[o + k + 1]! << 16) | (b[o + k + 2]! << 8) | b[o + k + 3]!) >>> 0 : -1;
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_RARP = 0x8035;
const TPID_8021Q = 0x8100;
const TPID_8021AD = 0x88a8;
const TPID_QINQ_OLD = 0x9100;
const IP_PROTO = { icmp: 1, tcp: 6, udp: 17, sctp: 132 } as const;
/** Offsets into the IPv4 header, and into an ARP packet's addresses. */
const IP_FRAGMENT = 6;
const IP_PROTOCOL = 9;
const IP_SRC = 12;
const IP_DST = 16;
const ARP_SPA = 14;
const ARP_TPA = 24;

/** Where the EtherType and the payload are, after `vlanDepth` tags (libpcap's off_linktype, off_linkpl). */
function linkTypeAt(vlanDepth: number): number {
  return 12 + 4 * vlanDepth;
}
function payloadAt(vlanDepth: number): number {
  return 14 + 4 * vlanDepth;
}

function etherTypeIs(type: number, vlanDepth: number): Test {
  const at = linkTypeAt(vlanDepth);
  return (b, o, n) => {
    const t = u16(b, o, n, at);
    return t < 0 ? ABORT : t === type ? MATCH : NO_MATCH;
  };
}

/** One MAC field: the low word first, then the high half, as libpcap's gen_bcmp. */
function macIs(at: number, mac: number): Test {
  const hi = Math.floor(mac / 0x1_0000_0000);
  const lo = mac % 0x1_0000_0000;
  return (b, o, n) => {
    const w = u32(b, o, n, at + 2);
    if (w < 0) return ABORT;
    if (w !== lo) return NO_MATCH;
    const h = u16(b, o, n, at);
    return h < 0 ? ABORT : h === hi ? MATCH : NO_MATCH;
  };
}

function vlanIs(vid: number | null, vlanDepth: number): Test {
  const tpidAt = linkTypeAt(vlanDepth);
  const tciAt = payloadAt(vlanDepth);
  return (b, o, n) => {
    const t = u16(b, o, n, tpidAt);
    if (t < 0) return ABORT;
    if (t !== TPID_8021Q && t !== TPID_8021AD && t !== TPID_QINQ_OLD) return NO_MATCH;
    if (vid === null) return MATCH;
    const tci = u16(b, o, n, tciAt);
    return tci < 0 ? ABORT : (tci & 0x0fff) === vid ? MATCH : NO_MATCH;
  };
}

function ipProtocolIs(protocol: number, vlanDepth: number): Test {
  const typeAt = linkTypeAt(vlanDepth);
  const protoAt = payloadAt(vlanDepth) + IP_PROTOCOL;
  return (b, o, n) => {
    const t = u16(b, o, n, typeAt);
    if (t < 0) return ABORT;
    if (t !== ETHERTYPE_IPV4) return NO_MATCH;
    const p = u8(b, o, n, protoAt);
    return p < 0 ? ABORT : p === protocol ? MATCH : NO_MATCH;
  };
}

type Direction = 'src' | 'dst' | null;

/** `host`/`net`: IPv4 source/destination, else ARP/RARP sender/target protocol address (libpcap's Q_DEFAULT). */
function addressIs(addr: number, mask: number, dir: Direction, vlanDepth: number): Test {
  const typeAt = linkTypeAt(vlanDepth);
  const pl = payloadAt(vlanDepth);
  const wantSrc = dir !== 'dst';
  const wantDst = dir !== 'src';
  const field = (b: Uint8Array, o: number, n: number, srcAt: number, dstAt: number): number => {
    if (wantSrc) {
      const w = u32(b, o, n, srcAt);
      if (w < 0) return ABORT;
      if ((w & mask) >>> 0 === addr) return MATCH;
    }
    if (wantDst) {
      const w = u32(b, o, n, dstAt);
      if (w < 0) return ABORT;
      if ((w & mask) >>> 0 === addr) return MATCH;
    }
    return NO_MATCH;
  };
  return (b, o, n) => {
    const t = u16(b, o, n, typeAt);
    if (t < 0) return ABORT;
    if (t === ETHERTYPE_IPV4) return field(b, o, n, pl + IP_SRC, pl + IP_DST);
    if (t === ETHERTYPE_ARP || t === ETHERTYPE_RARP) return field(b, o, n, pl + ARP_SPA, pl + ARP_TPA);
    return NO_MATCH;
  };
}

/** `port`/`portrange`: an IPv4 first fragment of one of `protocols`, a port in [lo, hi]. */
function portIn(protocols: readonly number[], lo: number, hi: number, dir: Direction, vlanDepth: number): Test {
  const typeAt = linkTypeAt(vlanDepth);
  const pl = payloadAt(vlanDepth);
  const p0 = protocols[0]!;
  const p1 = protocols[1] ?? -2;
  const p2 = protocols[2] ?? -2;
  const wantSrc = dir !== 'dst';
  const wantDst = dir !== 'src';
  return (b, o, n) => {
    const t = u16(b, o, n, typeAt);
    if (t < 0) return ABORT;
    if (t !== ETHERTYPE_IPV4) return NO_MATCH;
    const p = u8(b, o, n, pl + IP_PROTOCOL);
    if (p < 0) return ABORT;
    if (p !== p0 && p !== p1 && p !== p2) return NO_MATCH;
    const frag = u16(b, o, n, pl + IP_FRAGMENT);
    if (frag < 0) return ABORT;
    if ((frag & 0x1fff) !== 0) return NO_MATCH;
    const ihl = u8(b, o, n, pl);
    if (ihl < 0) return ABORT;
    const transport = pl + (ihl & 0x0f) * 4;
    if (wantSrc) {
      const port = u16(b, o, n, transport);
      if (port < 0) return ABORT;
      if (port >= lo && port <= hi) return MATCH;
    }
    if (wantDst) {
      const port = u16(b, o, n, transport + 2);
      if (port < 0) return ABORT;
      if (port >= lo && port <= hi) return MATCH;
    }
    return NO_MATCH;
  };
}

function allOf(tests: readonly Test[]): Test {
  return (b, o, n, wire) => {
    for (let i = 0; i < tests.length; i++) {
      const r = tests[i]!(b, o, n, wire);
      if (r !== MATCH) return r;
    }
    return MATCH;
  };
}

function anyOf(tests: readonly Test[]): Test {
  return (b, o, n, wire) => {
    for (let i = 0; i < tests.length; i++) {
      const r = tests[i]!(b, o, n, wire);
      if (r !== NO_MATCH) return r;
    }
    return NO_MATCH;
  };
}

function negation(test: Test): Test {
  return (b, o, n, wire) => {
    const r = test(b, o, n, wire);
    return r === ABORT ? ABORT : r === MATCH ? NO_MATCH : MATCH;
  };
}

// ---------------------------------------------------------------------------
// Tokens

interface Token {
  /** 'word' for names and values; otherwise the operator itself, with and/or/not spelled as words. */
  kind: 'word' | '(' | ')' | 'and' | 'or' | 'not' | 'end';
  text: string;
  /** 1-based column of the first character. */
  column: number;
}

const WORD_CHAR = /[A-Za-z0-9_.:\/-]/;

function tokenize(text: string, fail: (column: number, message: string) => never): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const column = i + 1;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '(' || c === ')') {
      tokens.push({ kind: c, text: c, column });
      i++;
    } else if (c === '!') {
      tokens.push({ kind: 'not', text: c, column });
      i++;
    } else if ((c === '&' || c === '|') && text[i + 1] === c) {
      tokens.push({ kind: c === '&' ? 'and' : 'or', text: c + c, column });
      i += 2;
    } else if (WORD_CHAR.test(c)) {
      let j = i + 1;
      while (j < text.length && WORD_CHAR.test(text[j]!)) j++;
      const word = text.slice(i, j);
      const kind = word === 'and' ? 'and' : word === 'or' ? 'or' : word === 'not' ? 'not' : 'word';
      tokens.push({ kind, text: word, column });
      i = j;
    } else {
      fail(column, `${JSON.stringify(c)} at column ${column} is not supported (supported: ${SUPPORTED})`);
    }
  }
  tokens.push({ kind: 'end', text: '', column: text.length + 1 });
  return tokens;
}

// ---------------------------------------------------------------------------
// Parser: recursive descent for not/parentheses (depth-limited), a loop for
// and/or. Qualifiers travel alongside each result so that a bare value after
// and/or can repeat them (libpcap's `$<blk>0.q`).

/** The qualifiers of a primitive that takes a value; null after `tcp`, `vlan`, `greater N`, … */
interface Qualifiers {
  /** 'ether' for MACs; 'tcp'/'udp' restrict ports; null otherwise. */
  proto: 'ether' | 'tcp' | 'udp' | null;
  dir: Direction;
  type: 'host' | 'net' | 'port' | 'portrange';
}

interface Parsed {
  test: Test;
  /** What a bare value after this, following and/or, repeats. */
  q: Qualifiers | null;
  /** Height of the and/or tree, bounded so that evaluation cannot recurse without limit. */
  height: number;
}

const KEYWORDS = new Set([
  'ether', 'vlan', 'arp', 'ip', 'icmp', 'tcp', 'udp', 'host', 'net', 'port', 'portrange', 'src', 'dst', 'greater', 'less',
]);

class FilterParser {
  private pos = 0;
  private nesting = 0;
  /** `vlan` primitives parsed so far: every later primitive looks this many tags further in. */
  private vlanDepth = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly fail: (column: number, message: string) => never,
  ) {}

  parseFilter(): Test {
    if (this.peek().kind === 'end') return () => MATCH;
    const e = this.parseExpr(null);
    const t = this.peek();
    if (t.kind !== 'end') {
      this.failAt(t, t.kind === ')' ? 'has no matching "("' : 'where and, or or the end of the filter was expected');
    }
    return e.test;
  }

  private peek(): Token {
    return this.tokens[this.pos]!;
  }
  private next(): Token {
    const t = this.tokens[this.pos]!;
    if (t.kind !== 'end') this.pos++;
    return t;
  }

  private describe(t: Token): string {
    return t.kind === 'end' ? `the end of the filter (column ${t.column})` : `${JSON.stringify(t.text)} at column ${t.column}`;
  }
  private failAt(t: Token, what: string): never {
    return this.fail(t.column, `${this.describe(t)} ${what}`);
  }
  private expected(t: Token, what: string): never {
    return this.fail(t.column, `expected ${what}, found ${this.describe(t)}`);
  }

  private parseExpr(inherited: Qualifiers | null): Parsed {
    let left = this.parseUnary(inherited);
    // Children of the current and/or run: a run of one operator is one flat node.
    let op: 'and' | 'or' | null = null;
    let run: Test[] = [];
    let runHeight = 0;
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'and' && t.kind !== 'or') break;
      this.next();
      const right = this.parseUnary(left.q);
      if (op !== t.kind) {
        // The operator changed: everything so far becomes the first child (left to right, equal precedence).
        const first = op === null ? left.test : op === 'and' ? allOf(run) : anyOf(run);
        runHeight = (op === null ? left.height : runHeight) + 1;
        op = t.kind;
        run = [first];
      }
      run.push(right.test);
      runHeight = Math.max(runHeight, right.height + 1);
      if (runHeight > MAX_TREE_HEIGHT) {
        this.fail(t.column, `${JSON.stringify(t.text)} at column ${t.column}: the filter alternates and/or more than ${MAX_TREE_HEIGHT} times; group it with parentheses`);
      }
      left = { test: left.test, q: right.q, height: runHeight };
    }
    if (op === null) return left;
    return { test: op === 'and' ? allOf(run) : anyOf(run), q: left.q, height: runHeight };
  }

  private parseUnary(inherited: Qualifiers | null): Parsed {
    const t = this.peek();
    if (t.kind === 'not') {
      this.next();
      this.enter(t);
      const inner = this.parseUnary(inherited);
      this.nesting--;
      return { test: negation(inner.test), q: inner.q, height: inner.height };
    }
    if (t.kind === '(') {
      this.next();
      this.enter(t);
      const inner = this.parseExpr(inherited);
      this.nesting--;
      const close = this.next();
      if (close.kind !== ')') this.expected(close, `")" to close the "(" at column ${t.column}`);
      // libpcap: a parenthesised group passes on the qualifiers it was given, not its own.
      return { test: inner.test, q: inherited, height: inner.height };
    }
    if (t.kind === 'word') return this.parsePrimitive(inherited);
    return this.expected(t, `a primitive (${SUPPORTED})`);
  }

  private enter(t: Token): void {
    if (++this.nesting > MAX_CAPTURE_FILTER_NESTING) {
      this.fail(t.column, `${JSON.stringify(t.text)} at column ${t.column} nests deeper than ${MAX_CAPTURE_FILTER_NESTING} levels of parentheses and not`);
    }
  }

  private parsePrimitive(inherited: Qualifiers | null): Parsed {
    const t = this.next();
    const word = t.text;
    const depth = this.vlanDepth;
    const simple = (test: Test): Parsed => ({ test, q: null, height: 0 });
    switch (word) {
      case 'arp':
        return simple(etherTypeIs(ETHERTYPE_ARP, depth));
      case 'ip':
        return simple(etherTypeIs(ETHERTYPE_IPV4, depth));
      case 'icmp':
        return simple(ipProtocolIs(IP_PROTO.icmp, depth));
      case 'vlan': {
        let vid: number | null = null;
        if (this.peek().kind === 'word' && /^\d/.test(this.peek().text)) vid = this.number(this.next(), 4095, 'VLAN ID');
        this.vlanDepth++;
        return simple(vlanIs(vid, depth));
      }
      case 'greater':
      case 'less': {
        const v = this.number(this.next(), 0xffffffff, 'length');
        return simple(word === 'greater' ? (_b, _o, _n, wire) => (wire >= v ? MATCH : NO_MATCH) : (_b, _o, _n, wire) => (wire <= v ? MATCH : NO_MATCH));
      }
      case 'tcp':
      case 'udp': {
        const n = this.peek();
        if (n.kind === 'word' && (n.text === 'src' || n.text === 'dst' || n.text === 'port' || n.text === 'portrange')) {
          return this.qualified(word, t);
        }
        return simple(ipProtocolIs(IP_PROTO[word], depth));
      }
      case 'ether':
        return this.qualified('ether', t);
      case 'src':
      case 'dst':
      case 'host':
      case 'net':
      case 'port':
      case 'portrange':
        this.pos--;
        return this.qualified(null, t);
    }
    if (KEYWORDS.has(word)) this.failAt(t, 'is not supported here');
    if (/^[\d]/.test(word) || /^[0-9a-fA-F]{1,2}[:-]/.test(word)) {
      if (inherited === null) {
        return this.fail(t.column, `${JSON.stringify(word)} at column ${t.column} has no qualifier: write host, net, port or ether host before it (a bare value may only follow and/or after a primitive that takes one)`);
      }
      return { test: this.valueTest(inherited, t), q: inherited, height: 0 };
    }
    return this.failAt(t, `is not supported (supported: ${SUPPORTED})`);
  }

  /** `[ether|tcp|udp] [src|dst] (host|net|port|portrange)` and the value; `proto` has been read. */
  private qualified(proto: Qualifiers['proto'], first: Token): Parsed {
    let dir: Direction = null;
    let t = this.next();
    if (t.text === 'src' || t.text === 'dst') {
      dir = t.text;
      t = this.next();
    }
    let type: Qualifiers['type'];
    if (proto === 'ether') {
      if (t.text === 'host') type = 'host';
      else if (dir !== null && t.kind === 'word' && !KEYWORDS.has(t.text)) {
        type = 'host';
        this.pos--; // `ether src MAC`: the value follows directly
      } else return this.expected(t, `host, src or dst and a MAC address after "ether" at column ${first.column}`);
    } else if (proto === 'tcp' || proto === 'udp') {
      if (t.text !== 'port' && t.text !== 'portrange') return this.expected(t, `port or portrange after "${proto}${dir ? ' ' + dir : ''}"`);
      type = t.text;
    } else {
      if (t.text !== 'host' && t.text !== 'net' && t.text !== 'port' && t.text !== 'portrange') {
        return this.expected(t, `host, net, port or portrange after "${dir ?? first.text}" at column ${first.column}`);
      }
      type = t.text;
    }
    const q: Qualifiers = { proto, dir, type };
    const value = this.next();
    if (value.kind !== 'word') return this.expected(value, `a value after "${type}"`);
    return { test: this.valueTest(q, value), q, height: 0 };
  }

  private valueTest(q: Qualifiers, t: Token): Test {
    const depth = this.vlanDepth;
    const text = t.text;
    if (q.proto === 'ether') {
      let mac: number;
      try {
        mac = parseMac(text);
      } catch {
        return this.expected(t, 'a MAC address like 02:42:ac:11:00:02');
      }
      if (q.dir === 'src') return macIs(6, mac);
      if (q.dir === 'dst') return macIs(0, mac);
      return anyOf([macIs(6, mac), macIs(0, mac)]);
    }
    switch (q.type) {
      case 'host': {
        if (text.includes('/')) this.failAt(t, 'is a network: write "net" for a CIDR');
        return addressIs(this.ipv4(t, text), 0xffffffff, q.dir, depth);
      }
      case 'net': {
        const [addrText, lenText, extra] = text.split('/');
        if (extra !== undefined) return this.expected(t, 'a network like 10.0.0.0/8');
        const addr = this.ipv4(t, addrText!);
        let len = 32;
        if (lenText !== undefined) {
          if (!/^(\d|[12]\d|3[0-2])$/.test(lenText)) return this.expected(t, 'a prefix length 0..32 after "/"');
          len = Number(lenText);
        }
        const mask = prefixMask(len);
        if (((addr & ~mask) >>> 0) !== 0) this.failAt(t, 'has host bits set beyond the prefix length (as tcpdump, write the network address)');
        return addressIs(addr, mask, q.dir, depth);
      }
      case 'port': {
        const port = this.number(t, 65535, 'port');
        return portIn(this.portProtocols(q), port, port, q.dir, depth);
      }
      case 'portrange': {
        const m = /^(\d+)-(\d+)$/.exec(text);
        if (!m) return this.expected(t, 'a port range like 1024-2047');
        let lo = this.number({ ...t, text: m[1]! }, 65535, 'port');
        let hi = this.number({ ...t, text: m[2]! }, 65535, 'port');
        if (lo > hi) [lo, hi] = [hi, lo]; // as libpcap
        return portIn(this.portProtocols(q), lo, hi, q.dir, depth);
      }
    }
  }

  private portProtocols(q: Qualifiers): number[] {
    if (q.proto === 'tcp') return [IP_PROTO.tcp];
    if (q.proto === 'udp') return [IP_PROTO.udp];
    return [IP_PROTO.tcp, IP_PROTO.udp, IP_PROTO.sctp];
  }

  private ipv4(t: Token, text: string): number {
    const parts = text.split('.');
    if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
      return this.expected(t, 'a dotted-quad IPv4 address like 10.0.0.1');
    }
    return parts.reduce((a, p) => a * 256 + Number(p), 0) >>> 0;
  }

  private number(t: Token, max: number, what: string): number {
    if (t.kind !== 'word' || !/^(0|[1-9]\d*)$/.test(t.text)) return this.expected(t, `a decimal ${what}`);
    const v = Number(t.text);
    if (v > max) this.failAt(t, `is out of range for a ${what} (at most ${max})`);
    return v;
  }
}

/** Quotes the filter for an error message: escaped, and cut short when long. */
function quoteFilter(text: string): string {
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text);
}

/**
 * Compiles tcpdump filter text (the subset in the header comment) into a
 * predicate. Throws an Error naming the word, its column and what is
 * supported when the text is outside the subset.
 */
export function compileCaptureFilter(text: string): CaptureFilter {
  const fail = (_column: number, message: string): never => {
    throw new Error(`capture filter ${quoteFilter(text)}: ${message}`);
  };
  if (typeof text !== 'string') throw new TypeError('capture filter must be a string');
  if (text.length > MAX_CAPTURE_FILTER_LENGTH) {
    fail(1, `is ${text.length} characters long; at most ${MAX_CAPTURE_FILTER_LENGTH} are accepted`);
  }
  const root = new FilterParser(tokenize(text, fail), fail).parseFilter();
  return {
    text,
    matches(buf: Uint8Array, off: number, len: number, wireLength: number = len): boolean {
      if (!(off >= 0) || !(len >= 0) || !(off <= buf.length)) return false;
      const n = Math.min(len, buf.length - off);
      return root(buf, off, n, wireLength) === MATCH;
    },
  };
}
