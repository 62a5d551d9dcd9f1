/**
 * The DNS server's way out: questions that are not the lab's go to the
 * configured upstream resolvers, each in turn, round after round, until one
 * answers (NOERROR or NXDOMAIN — an authoritative "no" is an answer) or the
 * attempts run out. SERVFAIL and REFUSED from one upstream move on to the
 * next, as dnsmasq and glibc's resolver do.
 *
 * Identical questions asked while one is already on its way share it (one
 * upstream query for a burst of clients), and the number of questions on
 * their way at once is bounded: beyond it the server refuses, counted, rather
 * than letting a flood of unique names hold unbounded sockets and timers.
 *
 * Each upstream query gets its own random ID and a fresh UDP socket (random
 * source port), and EDNS(0) with a 1232-byte payload; truncated answers are
 * asked again over TCP (./exchange.ts).
 */
import { randomInt } from 'node:crypto';
import type { Question } from 'dns-packet';
import { parseIPv4 } from '../wire/address.js';
import { DnsExchanger, newExchangeStats, type DnsEndpoint, type DnsHost, type ExchangeStats } from './exchange.js';
import { encodeQuery, RCODE, readRcode } from './message.js';
import { cacheKey } from './cache.js';

export interface ForwarderOptions {
  /** Upstream resolvers, 'address' or 'address:port' (port 53 by default). */
  upstreams?: readonly string[];
  /** Wait for one upstream's answer, ms. Default 2000. */
  timeoutMs?: number;
  /** Rounds over the whole upstream list. Default 2. */
  attempts?: number;
  /** Questions on their way upstream at once; more are refused. Default 256. */
  maxPending?: number;
  /** Source of query IDs, 0..65535 (deterministic runs can pass their own). */
  randomId?: () => number;
}

export interface ForwarderStats extends ExchangeStats {
  /** Questions sent on their way (after coalescing). */
  forwarded: number;
  /** Questions that joined one already on its way. */
  coalesced: number;
  /** Answers obtained. */
  answered: number;
  /** Questions no upstream answered (timeouts, errors, SERVFAIL/REFUSED everywhere). */
  failed: number;
  /** Questions refused because maxPending were on their way. */
  overload: number;
  /** SERVFAIL or REFUSED from an upstream (the next one is asked). */
  upstreamErrors: number;
}

export type ForwardResult =
  | { ok: true; response: Uint8Array; upstream: string }
  | { ok: false; reason: 'noUpstream' | 'overload' | 'failed'; message: string };

/** Parses 'a.b.c.d' or 'a.b.c.d:port'; throws an Error naming the bad entry. */
export function parseEndpoint(text: string, defaultPort = 53): DnsEndpoint {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(text.trim());
  if (m === null) throw new Error(`DNS server "${text}" is not an IPv4 address or address:port`);
  parseIPv4(m[1]!);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port < 1 || port > 65535) throw new Error(`DNS server "${text}": port ${port} is not 1..65535`);
  return { address: m[1]!, port };
}

export class Forwarder {
  readonly stats: ForwarderStats = { ...newExchangeStats(), forwarded: 0, coalesced: 0, answered: 0, failed: 0, overload: 0, upstreamErrors: 0 };
  readonly timeoutMs: number;
  readonly attempts: number;
  readonly maxPending: number;
  private upstreamList: DnsEndpoint[];
  private readonly exchanger: DnsExchanger;
  private readonly pending = new Map<string, Promise<ForwardResult>>();
  private readonly randomId: () => number;

  constructor(host: DnsHost, opts: ForwarderOptions = {}) {
    this.upstreamList = (opts.upstreams ?? []).map((u) => parseEndpoint(u));
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.attempts = opts.attempts ?? 2;
    this.maxPending = opts.maxPending ?? 256;
    if (!(this.timeoutMs > 0)) throw new RangeError(`forwarder timeoutMs must be > 0, got ${this.timeoutMs}`);
    if (!Number.isInteger(this.attempts) || this.attempts < 1) throw new RangeError(`forwarder attempts must be a positive integer, got ${this.attempts}`);
    if (!Number.isInteger(this.maxPending) || this.maxPending < 1) throw new RangeError(`forwarder maxPending must be a positive integer, got ${this.maxPending}`);
    this.randomId = opts.randomId ?? (() => randomInt(0x10000));
    this.exchanger = new DnsExchanger(host, this.stats);
  }

  /** The upstreams as 'address:port'. */
  get upstreams(): string[] {
    return this.upstreamList.map((u) => `${u.address}:${u.port}`);
  }

  setUpstreams(list: readonly string[]): void {
    this.upstreamList = list.map((u) => parseEndpoint(u));
  }

  /** Questions on their way now. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Asks the upstreams `question`; resolves with the raw answer (its ID is the forwarder's own). */
  forward(question: Question): Promise<ForwardResult> {
    if (this.upstreamList.length === 0) {
      return Promise.resolve({ ok: false, reason: 'noUpstream', message: 'no upstream DNS servers configured' });
    }
    const key = cacheKey(question.name, question.type, question.class ?? 'IN');
    const same = this.pending.get(key);
    if (same !== undefined) {
      this.stats.coalesced++;
      return same;
    }
    if (this.pending.size >= this.maxPending) {
      this.stats.overload++;
      return Promise.resolve({ ok: false, reason: 'overload', message: `${this.maxPending} questions already on their way upstream` });
    }
    this.stats.forwarded++;
    const p = this.ask(question).finally(() => this.pending.delete(key));
    this.pending.set(key, p);
    return p;
  }

  private async ask(question: Question): Promise<ForwardResult> {
    let last = 'no upstream answered';
    for (let round = 0; round < this.attempts; round++) {
      for (const up of this.upstreamList) {
        let query: Uint8Array;
        try {
          query = encodeQuery(this.randomId() & 0xffff, question, true);
        } catch (e) {
          // A question dns-packet decoded but cannot encode again (an odd class or type): nothing to send.
          this.stats.failed++;
          return { ok: false, reason: 'failed', message: `cannot forward ${question.name}: ${e instanceof Error ? e.message : String(e)}` };
        }
        const r = await this.exchanger.exchange(up, query, this.timeoutMs);
        const name = `${up.address}:${up.port}`;
        if (!r.ok) {
          last = r.message;
          continue;
        }
        const rcode = readRcode(r.response);
        if (rcode === RCODE.NOERROR || rcode === RCODE.NXDOMAIN) {
          this.stats.answered++;
          return { ok: true, response: r.response, upstream: name };
        }
        this.stats.upstreamErrors++;
        last = `${name} answered rcode ${rcode}`;
      }
    }
    this.stats.failed++;
    return { ok: false, reason: 'failed', message: last };
  }
}
