/**
 * DnsResolver: name lookup for a wirelab host, `stack.dns`, shaped like
 * Node's `dns.promises`:
 *
 *   host.dns.setServers(['10.0.0.1']);
 *   const { address, family } = await host.dns.lookup('web');    // { address: '10.0.0.2', family: 4 }
 *   const all = await host.dns.lookup('web', { all: true });      // [{ address, family: 4 }, ...]
 *   const a = await host.dns.resolve4('web', { ttl: true });      // [{ address, ttl }]
 *
 * It behaves as glibc's stub resolver configured by resolv.conf does: the
 * servers in order, `tries` rounds over them, `timeout` per query, UDP first
 * and TCP when the answer is truncated, search domains tried before the bare
 * name when it has fewer than `ndots` dots. Answers are cached by their TTL
 * and NXDOMAIN/NODATA by the SOA minimum (./cache.ts). IPv4 only: wirelab has
 * no IPv6, so `family: 6` finds nothing.
 *
 * Errors are Node's: `lookup` rejects with `getaddrinfo ENOTFOUND web`
 * (code ENOTFOUND) when the name does not exist and `getaddrinfo EAI_AGAIN
 * web` when no server answered; `resolve4` with `queryA ENOTFOUND|ENODATA|
 * ETIMEOUT|ESERVFAIL|ECONNREFUSED web`, each with `code`, `syscall` and
 * `hostname`.
 */
import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import { nodeError, notFound, systemError, type SocketError } from '../ip/socket-errors.js';
import { parseIPv4 } from '../wire/address.js';
import { cacheKey, DnsCache, type DnsCacheOptions } from './cache.js';
import { DnsExchanger, newExchangeStats, type DnsEndpoint, type DnsHost, type ExchangeStats } from './exchange.js';
import { parseEndpoint } from './forwarder.js';
import { encodeQuery, RCODE, readRcode, readU32, ttlOffsets } from './message.js';

export interface ResolverOptions {
  /** Servers as for `setServers`. Default none (set them before looking up). */
  servers?: readonly string[];
  /** Per-query timeout, ms. Default 5000 (resolv.conf `timeout:5`). */
  timeout?: number;
  /** Rounds over the server list. Default 2 (resolv.conf `attempts:2`). */
  tries?: number;
  /** Search domains, tried in order (resolv.conf `search`). */
  search?: readonly string[];
  /** Names with fewer dots than this try the search list first. Default 1. */
  ndots?: number;
  cache?: DnsCacheOptions;
  /** Source of query IDs, 0..65535. */
  randomId?: () => number;
}

export interface LookupOptions {
  /** 0 or 4 (or 'IPv4'); 6 finds nothing, as wirelab has no IPv6. */
  family?: 0 | 4 | 6 | 'IPv4' | 'IPv6';
  all?: boolean;
  /** Accepted for Node compatibility; answers keep the server's order. */
  verbatim?: boolean;
  hints?: number;
}

export interface LookupAddress {
  address: string;
  family: 4;
}

export interface ResolverStats extends ExchangeStats {
  lookups: number;
  /** Answered from the resolver's cache. */
  cacheHits: number;
  notFound: number;
  /** Lookups no server answered (EAI_AGAIN). */
  failed: number;
}

/** The outcome of asking for one name's A records. */
type QueryOutcome =
  | { kind: 'addresses'; records: Array<{ address: string; ttl: number }> }
  | { kind: 'nxdomain' }
  | { kind: 'nodata' }
  | { kind: 'failed'; code: 'ETIMEOUT' | 'ESERVFAIL' | 'ECONNREFUSED'; message: string };

export class DnsResolver {
  readonly cache: DnsCache;
  readonly stats: ResolverStats = { ...newExchangeStats(), lookups: 0, cacheHits: 0, notFound: 0, failed: 0 };
  private servers: DnsEndpoint[] = [];
  private timeoutMs: number;
  private tries: number;
  private search: string[];
  private ndots: number;
  private readonly exchanger: DnsExchanger;
  private readonly randomId: () => number;
  private readonly inFlight = new Map<string, Promise<QueryOutcome>>();

  constructor(host: DnsHost, opts: ResolverOptions = {}) {
    this.cache = new DnsCache(host.clock, opts.cache ?? { maxEntries: 1000 });
    this.exchanger = new DnsExchanger(host, this.stats);
    this.randomId = opts.randomId ?? (() => randomInt(0x10000));
    this.timeoutMs = 5000;
    this.tries = 2;
    this.search = [];
    this.ndots = 1;
    this.configure(opts);
  }

  /** Changes timeout, tries, search, ndots (and servers, when given). */
  configure(opts: Pick<ResolverOptions, 'servers' | 'timeout' | 'tries' | 'search' | 'ndots'>): void {
    if (opts.timeout !== undefined) {
      if (!(opts.timeout > 0)) throw nodeError('ERR_OUT_OF_RANGE', `The value of "options.timeout" is out of range. It must be > 0. Received ${opts.timeout}`, RangeError);
      this.timeoutMs = opts.timeout;
    }
    if (opts.tries !== undefined) {
      if (!Number.isInteger(opts.tries) || opts.tries < 1) throw nodeError('ERR_OUT_OF_RANGE', `The value of "options.tries" is out of range. It must be >= 1. Received ${opts.tries}`, RangeError);
      this.tries = opts.tries;
    }
    if (opts.ndots !== undefined) this.ndots = Math.max(0, Math.floor(opts.ndots));
    if (opts.search !== undefined) this.search = opts.search.map((d) => d.replace(/\.$/, '').toLowerCase()).filter((d) => d !== '');
    if (opts.servers !== undefined) this.setServers(opts.servers);
  }

  /** As Node's `dns.setServers`: IPv4 addresses, optionally with ':port'. Throws ERR_INVALID_IP_ADDRESS. */
  setServers(servers: readonly string[]): void {
    if (!Array.isArray(servers)) throw nodeError('ERR_INVALID_ARG_TYPE', 'The "servers" argument must be an instance of Array.', TypeError);
    this.servers = servers.map((s) => {
      try {
        return parseEndpoint(String(s));
      } catch {
        throw nodeError('ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${String(s)}`, TypeError);
      }
    });
    this.cache.delete();
  }

  /** As Node's `dns.getServers`: 'address' for port 53, else 'address:port'. */
  getServers(): string[] {
    return this.servers.map((s) => (s.port === 53 ? s.address : `${s.address}:${s.port}`));
  }

  /** As `dns.promises.lookup`. */
  lookup(hostname: string, options: LookupOptions & { all: true }): Promise<LookupAddress[]>;
  lookup(hostname: string, options?: LookupOptions & { all?: false }): Promise<LookupAddress>;
  lookup(hostname: string, options?: LookupOptions | number): Promise<LookupAddress | LookupAddress[]>;
  async lookup(hostname: string, options: LookupOptions | number = {}): Promise<LookupAddress | LookupAddress[]> {
    if (typeof hostname !== 'string') {
      throw nodeError('ERR_INVALID_ARG_TYPE', `The "hostname" argument must be of type string. Received ${typeof hostname}`, TypeError);
    }
    const opts: LookupOptions = typeof options === 'number' ? { family: options as LookupOptions['family'] } : options;
    const family = opts.family === 'IPv4' ? 4 : opts.family === 'IPv6' ? 6 : opts.family ?? 0;
    this.stats.lookups++;
    const shape = (addresses: string[]): LookupAddress | LookupAddress[] => {
      const list = addresses.map((address) => ({ address, family: 4 as const }));
      return opts.all === true ? list : list[0]!;
    };
    const literal = ipv4Literal(hostname);
    if (literal !== undefined) return shape(family === 6 ? [] : [literal]);
    if (hostname.toLowerCase() === 'localhost' || hostname.toLowerCase() === 'localhost.') return shape(['127.0.0.1']);
    if (family === 6 || !validHostname(hostname)) {
      this.stats.notFound++;
      throw notFound(hostname);
    }
    let failure: QueryOutcome | undefined;
    for (const candidate of this.candidates(hostname)) {
      const r = await this.queryA(candidate);
      if (r.kind === 'addresses' && r.records.length > 0) return shape(r.records.map((x) => x.address));
      if (r.kind === 'failed') failure ??= r;
    }
    if (failure !== undefined) {
      this.stats.failed++;
      const err = systemError('EAI_AGAIN', 'getaddrinfo', hostname);
      err.errno = -3001; // UV_EAI_AGAIN
      err.hostname = hostname;
      throw err;
    }
    this.stats.notFound++;
    throw notFound(hostname);
  }

  /** As `dns.promises.resolve4`: the A records of exactly `hostname` (no search list). */
  resolve4(hostname: string, options: { ttl: true }): Promise<Array<{ address: string; ttl: number }>>;
  resolve4(hostname: string, options?: { ttl?: false }): Promise<string[]>;
  async resolve4(hostname: string, options: { ttl?: boolean } = {}): Promise<string[] | Array<{ address: string; ttl: number }>> {
    const fail = (code: string): SocketError => {
      const err = systemError(code, 'queryA', hostname);
      err.hostname = hostname;
      return err;
    };
    if (typeof hostname !== 'string' || !validHostname(hostname)) throw fail('EBADNAME');
    const r = await this.queryA(hostname);
    if (r.kind === 'nxdomain') throw fail('ENOTFOUND');
    if (r.kind === 'nodata' || (r.kind === 'addresses' && r.records.length === 0)) throw fail('ENODATA');
    if (r.kind === 'failed') throw fail(r.code);
    return options.ttl === true ? r.records : r.records.map((x) => x.address);
  }

  /** The names to try, in order, as glibc's res_search does. */
  private candidates(name: string): string[] {
    if (name.endsWith('.')) return [name.slice(0, -1)];
    const searched = this.search.map((d) => `${name}.${d}`);
    const dots = name.split('.').length - 1;
    return dots >= this.ndots ? [name, ...searched] : [...searched, name];
  }

  private queryA(name: string): Promise<QueryOutcome> {
    const key = cacheKey(name, 'A');
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      this.stats.cacheHits++;
      return Promise.resolve(outcomeOf(cached));
    }
    const same = this.inFlight.get(key);
    if (same !== undefined) return same;
    const p = this.ask(name, key).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
    return p;
  }

  private async ask(name: string, key: string): Promise<QueryOutcome> {
    if (this.servers.length === 0) return { kind: 'failed', code: 'ECONNREFUSED', message: 'no DNS servers configured (stack.dns.setServers)' };
    let last: QueryOutcome = { kind: 'failed', code: 'ETIMEOUT', message: 'no answer' };
    for (let round = 0; round < this.tries; round++) {
      for (const server of this.servers) {
        const query = encodeQuery(this.randomId() & 0xffff, { name, type: 'A', class: 'IN' }, true);
        const r = await this.exchanger.exchange(server, query, this.timeoutMs);
        if (!r.ok) {
          last = { kind: 'failed', code: r.reason === 'refused' ? 'ECONNREFUSED' : 'ETIMEOUT', message: r.message };
          continue;
        }
        const rcode = readRcode(r.response);
        if (rcode !== RCODE.NOERROR && rcode !== RCODE.NXDOMAIN) {
          last = { kind: 'failed', code: rcode === RCODE.REFUSED ? 'ECONNREFUSED' : 'ESERVFAIL', message: `rcode ${rcode}` };
          continue;
        }
        this.cache.set(key, r.response);
        return outcomeOf(r.response);
      }
    }
    return last;
  }
}

/** Reads the A records (any owner: CNAME chains end in them) or the negative answer. */
function outcomeOf(response: Uint8Array): QueryOutcome {
  if (readRcode(response) === RCODE.NXDOMAIN) return { kind: 'nxdomain' };
  let p: ReturnType<typeof dnsPacket.decode>;
  try {
    p = dnsPacket.decode(Buffer.from(response.buffer, response.byteOffset, response.length));
  } catch {
    return { kind: 'failed', code: 'ESERVFAIL', message: 'unreadable answer' };
  }
  // TTLs as counted down by the cache: read them from the wire, in answer order.
  const offsets = ttlOffsets(response) ?? [];
  const records: Array<{ address: string; ttl: number }> = [];
  (p.answers ?? []).forEach((a, i) => {
    if (a.type === 'A') records.push({ address: a.data, ttl: offsets[i] !== undefined ? readU32(response, offsets[i]!) : a.ttl ?? 0 });
  });
  return records.length > 0 ? { kind: 'addresses', records } : { kind: 'nodata' };
}

/** 1-253 characters in labels of 1-63 (a trailing dot allowed): anything else cannot be asked. */
function validHostname(name: string): boolean {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  return n.length > 0 && n.length <= 253 && n.split('.').every((l) => l.length > 0 && l.length <= 63);
}

function ipv4Literal(text: string): string | undefined {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) return undefined;
  try {
    parseIPv4(text);
    return text;
  } catch {
    return undefined;
  }
}
