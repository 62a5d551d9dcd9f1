/**
 * A bounded DNS answer cache, shared by the server (forwarded answers) and
 * the resolver of wirelab hosts.
 *
 * It keeps the response bytes as the upstream sent them with the offset of
 * every record's TTL, and hands out a copy whose TTLs are counted down by the
 * time spent in the cache — as a caching forwarder (dnsmasq, unbound) does —
 * so no record type has to be understood to be cached. Positive answers live
 * for their smallest record TTL; NXDOMAIN and NODATA answers for the SOA's
 * min(TTL, MINIMUM) (RFC 2308 §5) and are not cached without an SOA.
 * Truncated, SERVFAIL, REFUSED and malformed answers are never cached.
 *
 * Bounded by entry count, least recently used first out (a Map's insertion
 * order, refreshed on every hit); a full cache that cannot make room counts
 * the refusal. Expired entries go on lookup and on a sweep timer (at most
 * one pass a second, armed only while entries exist), so a cache nobody asks
 * shrinks back on the clock. Time only from the injected clock.
 */
import { Timer, type Clock, type TableUsage } from '../time/index.js';
import {
  copyBytes,
  decodeResponse,
  isTruncated,
  RCODE,
  readRcode,
  readU32,
  skipName,
  skipQuestions,
  ttlOffsets,
  writeU32,
} from './message.js';

export interface DnsCacheOptions {
  /** Most entries kept; the least recently used goes first. Default 10,000 (dnsmasq's default is 150; unbound's a few MB). */
  maxEntries?: number;
  /** Cap on any positive TTL, seconds. Default 86,400. */
  maxTtl?: number;
  /** Cap on any negative TTL, seconds. Default 3,600 (RFC 2308 suggests 1-3 hours). */
  maxNegativeTtl?: number;
}

export interface DnsCacheStats {
  hits: number;
  misses: number;
  inserts: number;
  /** Entries pushed out to make room (LRU). */
  evictions: number;
  /** Entries found expired on lookup or pruning. */
  expired: number;
  /** Answers not cached: truncated, SERVFAIL/REFUSED, negative without SOA, TTL 0, unparsable. */
  uncacheable: number;
}

export interface DnsCacheRow {
  name: string;
  type: string;
  rcode: string;
  negative: boolean;
  /** Seconds left. */
  ttl: number;
  /** The answer records, as text ('10.0.0.2', 'CNAME www.example.', ...). */
  data: string[];
  hits: number;
}

interface Entry {
  bytes: Uint8Array;
  ttls: number[];
  offsets: number[];
  storedAt: number;
  expiresAt: number;
  negative: boolean;
  hits: number;
}

const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
export const rcodeName = (n: number): string => RCODE_NAMES[n] ?? `RCODE${n}`;

/** The cache key of a question: lower-case name without the trailing dot, type and class. */
export function cacheKey(name: string, type: string, cls = 'IN'): string {
  const n = name.toLowerCase();
  return `${n.endsWith('.') && n !== '.' ? n.slice(0, -1) : n}/${type}/${cls}`;
}

/** The sweep runs at most this often, however many entries expire in between. */
const SWEEP_GRANULARITY_MS = 1000;

export class DnsCache {
  readonly maxEntries: number;
  readonly maxTtl: number;
  readonly maxNegativeTtl: number;
  readonly stats: DnsCacheStats = { hits: 0, misses: 0, inserts: 0, evictions: 0, expired: 0, uncacheable: 0 };
  private readonly entries = new Map<string, Entry>();
  private readonly sweepTimer: Timer;

  constructor(
    private readonly clock: Clock,
    opts: DnsCacheOptions = {},
  ) {
    this.maxEntries = positive('maxEntries', opts.maxEntries ?? 10_000);
    this.maxTtl = positive('maxTtl', opts.maxTtl ?? 86_400);
    this.maxNegativeTtl = positive('maxNegativeTtl', opts.maxNegativeTtl ?? 3_600);
    this.sweepTimer = new Timer(clock.timers, () => this.sweep());
  }

  /** Entries against maxEntries (dnsmasq's cache-size); full, the least recently used goes (evicted). */
  usage(): TableUsage {
    return { table: 'dns.cache', size: this.entries.size, limit: this.maxEntries, unit: 'entries', refused: 0, evicted: this.stats.evictions, like: 'dnsmasq cache-size' };
  }

  /** Drops what has expired, then waits for the next expiry (no sooner than a second from now). */
  private sweep(): void {
    const now = this.clock.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [key, e] of this.entries) {
      if (now >= e.expiresAt) {
        this.entries.delete(key);
        this.stats.expired++;
      } else if (e.expiresAt < next) {
        next = e.expiresAt;
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.sweepTimer.armAt(Math.max(next, now + SWEEP_GRANULARITY_MS));
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * A fresh copy of the cached response for `key` with every TTL reduced by
   * the whole seconds it has spent here, or undefined (a miss). The caller
   * sets the ID (and may copy its own question bytes over, same length).
   */
  get(key: string): Uint8Array | undefined {
    const e = this.entries.get(key);
    const now = this.clock.now();
    if (e === undefined || now >= e.expiresAt) {
      if (e !== undefined) {
        this.entries.delete(key);
        this.stats.expired++;
      }
      this.stats.misses++;
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, e); // most recently used
    e.hits++;
    this.stats.hits++;
    const elapsed = Math.floor((now - e.storedAt) / 1000);
    const out = copyBytes(e.bytes);
    for (let i = 0; i < e.offsets.length; i++) writeU32(out, e.offsets[i]!, Math.max(0, e.ttls[i]! - elapsed));
    return out;
  }

  /** Stores an upstream response under `key` if it may be cached. Returns the seconds it will live, or 0. */
  set(key: string, response: Uint8Array): number {
    const ttl = this.lifetime(response);
    if (ttl === undefined || ttl <= 0) {
      this.stats.uncacheable++;
      return 0;
    }
    const offsets = ttlOffsets(response)!;
    const bytes = copyBytes(response);
    const now = this.clock.now();
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.makeRoom(now);
    this.entries.set(key, {
      bytes,
      offsets,
      ttls: offsets.map((o) => Math.min(readU32(bytes, o), ttl)),
      storedAt: now,
      expiresAt: now + ttl * 1000,
      negative: readRcode(bytes) !== RCODE.NOERROR || answerCount(bytes) === 0,
      hits: 0,
    });
    this.stats.inserts++;
    const expiresAt = now + ttl * 1000;
    if (!this.sweepTimer.armed || this.sweepTimer.deadline > expiresAt) this.sweepTimer.armAt(Math.max(expiresAt, now + SWEEP_GRANULARITY_MS));
    return ttl;
  }

  /** Forgets every entry and stops the sweep timer. */
  close(): void {
    this.delete();
  }

  /** Forgets one entry (or all with no key). */
  delete(key?: string): void {
    if (key === undefined) this.entries.clear();
    else this.entries.delete(key);
    if (this.entries.size === 0) this.sweepTimer.cancel();
  }

  /** Seconds an answer may be cached, or undefined when it must not be. */
  lifetime(response: Uint8Array): number | undefined {
    if (response.length < 12 || isTruncated(response)) return undefined;
    const rcode = readRcode(response);
    if (rcode !== RCODE.NOERROR && rcode !== RCODE.NXDOMAIN) return undefined;
    const offsets = ttlOffsets(response);
    if (offsets === undefined) return undefined;
    const an = answerCount(response);
    if (rcode === RCODE.NOERROR && an > 0) {
      let min = this.maxTtl;
      // Only the answer section decides; the first `an` offsets are the answers'.
      for (let i = 0; i < an && i < offsets.length; i++) min = Math.min(min, readU32(response, offsets[i]!));
      return min;
    }
    const soa = negativeTtl(response);
    return soa === undefined ? undefined : Math.min(soa, this.maxNegativeTtl);
  }

  /** Every live entry (expired ones are dropped on the way), most recently used last. */
  rows(): DnsCacheRow[] {
    const now = this.clock.now();
    const rows: DnsCacheRow[] = [];
    for (const [key, e] of this.entries) {
      if (now >= e.expiresAt) {
        this.entries.delete(key);
        this.stats.expired++;
        continue;
      }
      const [name = '', type = '', cls = ''] = key.split('/');
      const p = decodeResponse(e.bytes);
      rows.push({
        name,
        type: cls === 'IN' ? type : `${type}/${cls}`,
        rcode: rcodeName(readRcode(e.bytes)),
        negative: e.negative,
        ttl: Math.max(0, Math.ceil((e.expiresAt - now) / 1000)),
        data: (p?.answers ?? []).map((a) => ('data' in a ? (a.type === 'A' || a.type === 'AAAA' ? String(a.data) : `${a.type} ${recordText(a.data)}`) : a.type)),
        hits: e.hits,
      });
    }
    return rows;
  }

  /** The cache as a table, like `dnsmasq --dump` or `unbound-control dump_cache`, one row per question. */
  format(): string {
    const rows = this.rows();
    const head = ['NAME', 'TYPE', 'RCODE', 'TTL', 'HITS', 'DATA'];
    const body = rows.map((r) => [r.name, r.type, r.rcode, String(r.ttl), String(r.hits), r.data.join(', ') || (r.negative ? '(negative)' : '')]);
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
    const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
    return [line(head), ...body.map(line)].join('\n');
  }

  toJSON(): { size: number; maxEntries: number; stats: DnsCacheStats; entries: DnsCacheRow[] } {
    return { size: this.entries.size, maxEntries: this.maxEntries, stats: { ...this.stats }, entries: this.rows() };
  }

  private makeRoom(now: number): void {
    for (const [key, e] of this.entries) {
      if (now >= e.expiresAt) {
        this.entries.delete(key);
        this.stats.expired++;
      }
    }
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
      this.stats.evictions++;
    }
  }
}

const answerCount = (b: Uint8Array): number => (b[6]! << 8) | b[7]!;

/** min(SOA TTL, SOA MINIMUM) of the first SOA in the authority section (RFC 2308 §5), or undefined. */
function negativeTtl(buf: Uint8Array): number | undefined {
  const an = answerCount(buf);
  const ns = (buf[8]! << 8) | buf[9]!;
  let off = skipQuestions(buf, (buf[4]! << 8) | buf[5]!);
  for (let i = 0; i < an + ns && off >= 0; i++) {
    off = skipName(buf, off);
    if (off < 0 || off + 10 > buf.length) return undefined;
    const type = (buf[off]! << 8) | buf[off + 1]!;
    const ttl = readU32(buf, off + 4);
    const rdlen = (buf[off + 8]! << 8) | buf[off + 9]!;
    const rdata = off + 10;
    off = rdata + rdlen;
    if (off > buf.length) return undefined;
    if (i < an || type !== 6) continue;
    // SOA RDATA: mname, rname, then serial, refresh, retry, expire, minimum.
    let p = skipName(buf, rdata);
    if (p >= 0) p = skipName(buf, p);
    if (p < 0 || p + 20 > off) return undefined;
    return Math.min(ttl, readU32(buf, p + 16));
  }
  return undefined;
}

function recordText(data: unknown): string {
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return `\\# ${data.length}`;
  try {
    return JSON.stringify(data, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v));
  } catch {
    return '?';
  }
}

function positive(what: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`DnsCache: ${what} must be a positive integer, got ${v}`);
  return v;
}
