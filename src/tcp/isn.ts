/**
 * Secrets derived per connection: initial sequence numbers (RFC 6528:
 * ISN = M + F(4-tuple, secret), M a 4 µs clock), per-connection timestamp
 * offsets (as Linux's secure_tcp_ts_off), the ephemeral-port search start
 * (RFC 6056 algorithm 3) and SYN cookies (Linux's layout: 8-bit minute
 * counter, 24-bit keyed hash carrying a 2-bit MSS index; window scale,
 * SACK-permitted and ECN in the low 6 bits of the SYN-ACK's TSval).
 *
 * F is HalfSipHash-2-4 (Aumasson & Bernstein; the 32-bit SipHash Linux uses
 * for the same purposes on 32-bit machines), written here over 32-bit words
 * so that it runs without allocation or BigInt; node:crypto's HMACs would
 * cost an object per SYN. The key comes from a seed (deterministic virtual
 * runs) or Math.random.
 */
import type { IPv4Address } from '../wire/address.js';

function rotl(x: number, b: number): number {
  return ((x << b) | (x >>> (32 - b))) >>> 0;
}

/** HalfSipHash-2-4 of four 32-bit words under the 64-bit key (k0, k1); 32-bit result. */
export function halfSipHash4(k0: number, k1: number, w0: number, w1: number, w2: number, w3: number): number {
  let v0 = k0 >>> 0;
  let v1 = k1 >>> 0;
  let v2 = (0x6c796765 ^ k0) >>> 0;
  let v3 = (0x74656462 ^ k1) >>> 0;
  const round = (): void => {
    v0 = (v0 + v1) >>> 0;
    v1 = rotl(v1, 5) ^ v0;
    v0 = rotl(v0, 16);
    v2 = (v2 + v3) >>> 0;
    v3 = rotl(v3, 8) ^ v2;
    v0 = (v0 + v3) >>> 0;
    v3 = rotl(v3, 7) ^ v0;
    v2 = (v2 + v1) >>> 0;
    v1 = rotl(v1, 13) ^ v2;
    v2 = rotl(v2, 16);
  };
  const absorb = (m: number): void => {
    v3 = (v3 ^ m) >>> 0;
    round();
    round();
    v0 = (v0 ^ m) >>> 0;
  };
  absorb(w0 >>> 0);
  absorb(w1 >>> 0);
  absorb(w2 >>> 0);
  absorb(w3 >>> 0);
  absorb((16 << 24) >>> 0); // length byte, no tail
  v2 = (v2 ^ 0xff) >>> 0;
  round();
  round();
  round();
  round();
  return (v1 ^ v3) >>> 0;
}

/** Linux's SYN-cookie MSS table (msstab in syncookies.c). */
export const COOKIE_MSS_TABLE: readonly number[] = [536, 1300, 1440, 1460];
/** Cookies older than this many counter periods are refused (MAX_SYNCOOKIE_AGE). */
const MAX_COOKIE_AGE = 2;
/** Counter period: Linux's TCP_SYNCOOKIE_PERIOD is 60 s. */
export const COOKIE_PERIOD_MS = 60_000;
const COOKIE_BITS = 24;
const COOKIE_MASK = (1 << COOKIE_BITS) - 1;
/** Low TSval bits carrying options in a cookie SYN-ACK (TSBITS). */
const TS_OPT_BITS = 6;
const TS_OPT_MASK = (1 << TS_OPT_BITS) - 1;
const TS_OPT_WSCALE_MASK = 0xf;
const TS_OPT_SACK = 1 << 4;
/** Linux's TS_OPT_ECN: the SYN asked for ECN and we agreed. */
const TS_OPT_ECN = 1 << 5;

export class TcpSecrets {
  private readonly keys: number[];

  constructor(seed?: number) {
    const rnd = seed === undefined ? () => (Math.random() * 0x100000000) >>> 0 : splitmix(seed);
    this.keys = [rnd(), rnd(), rnd(), rnd(), rnd(), rnd(), rnd(), rnd()];
  }

  private h(pair: number, w0: number, w1: number, w2: number, w3: number): number {
    return halfSipHash4(this.keys[pair * 2]!, this.keys[pair * 2 + 1]!, w0, w1, w2, w3);
  }

  /** RFC 6528 ISN: F(4-tuple) plus a clock ticking every 4 µs. */
  isn(localAddress: IPv4Address, localPort: number, remoteAddress: IPv4Address, remotePort: number, nowMs: number): number {
    const f = this.h(0, localAddress, remoteAddress, (localPort << 16) | remotePort, 0);
    return (f + Math.floor(nowMs * 250)) >>> 0;
  }

  /** Per-connection random offset added to TSval (Linux's ts_off). */
  tsOffset(localAddress: IPv4Address, remoteAddress: IPv4Address): number {
    return this.h(1, localAddress, remoteAddress, 0, 1);
  }

  /** Where the ephemeral-port search starts for a destination (RFC 6056 algorithm 3). */
  portOffset(localAddress: IPv4Address, remoteAddress: IPv4Address, remotePort: number): number {
    return this.h(1, localAddress, remoteAddress, remotePort, 2);
  }

  /** The SYN-ACK's sequence number encoding the peer's MSS (Linux's cookie_v4_init_sequence). */
  cookie(
    localAddress: IPv4Address,
    localPort: number,
    remoteAddress: IPv4Address,
    remotePort: number,
    peerIsn: number,
    peerMss: number,
    nowMs: number,
  ): { isn: number; mss: number } {
    let idx = COOKIE_MSS_TABLE.length - 1;
    while (idx > 0 && peerMss < COOKIE_MSS_TABLE[idx]!) idx--;
    const count = Math.floor(nowMs / COOKIE_PERIOD_MS) >>> 0;
    const ports = (remotePort << 16) | localPort;
    const h1 = this.h(2, remoteAddress, localAddress, ports, 0);
    const h2 = this.h(3, remoteAddress, localAddress, ports, count);
    const isn = (h1 + peerIsn + ((count << COOKIE_BITS) >>> 0) + ((h2 + idx) & COOKIE_MASK)) >>> 0;
    return { isn, mss: COOKIE_MSS_TABLE[idx]! };
  }

  /** The MSS a returning cookie encodes (ack − 1 = our cookie, seq − 1 = the peer's ISN), or undefined if it does not verify. */
  checkCookie(
    localAddress: IPv4Address,
    localPort: number,
    remoteAddress: IPv4Address,
    remotePort: number,
    cookie: number,
    peerIsn: number,
    nowMs: number,
  ): number | undefined {
    const count = Math.floor(nowMs / COOKIE_PERIOD_MS) >>> 0;
    const ports = (remotePort << 16) | localPort;
    const x = (cookie - this.h(2, remoteAddress, localAddress, ports, 0) - peerIsn) >>> 0;
    const diff = (count - (x >>> COOKIE_BITS)) & 0xff;
    if (diff >= MAX_COOKIE_AGE) return undefined;
    const idx = (x - this.h(3, remoteAddress, localAddress, ports, (count - diff) >>> 0)) & COOKIE_MASK;
    return idx < COOKIE_MSS_TABLE.length ? COOKIE_MSS_TABLE[idx] : undefined;
  }
}

/** TSval for a cookie SYN-ACK: the clock with its low 6 bits replaced by the peer's wscale, SACK-permitted and ECN. */
export function cookieTimestamp(tsNow: number, peerWscale: number, sackOk: boolean, ecnOk = false): number {
  const opts = (peerWscale < 0 ? TS_OPT_WSCALE_MASK : peerWscale & TS_OPT_WSCALE_MASK) | (sackOk ? TS_OPT_SACK : 0) | (ecnOk ? TS_OPT_ECN : 0);
  let ts = ((tsNow & ~TS_OPT_MASK) | opts) >>> 0;
  if (((ts - tsNow) | 0) > 0) ts = (ts - (1 << TS_OPT_BITS)) >>> 0;
  return ts;
}

/** Options a cookie ACK's TSecr carries back: the peer's window scale (-1: none), SACK-permitted and ECN. */
export function decodeCookieTimestamp(tsEcr: number): { wscale: number; sack: boolean; ecn: boolean } {
  const w = tsEcr & TS_OPT_WSCALE_MASK;
  return { wscale: w === TS_OPT_WSCALE_MASK ? -1 : Math.min(w, 14), sack: (tsEcr & TS_OPT_SACK) !== 0, ecn: (tsEcr & TS_OPT_ECN) !== 0 };
}

/** A small deterministic generator for keys from a seed (splitmix32). */
function splitmix(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}
