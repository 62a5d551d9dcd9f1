/**
 * The forwarding database: which port each (VLAN, MAC) was last seen on.
 *
 * Hand-written because the key is the hot path: VLAN + MAC is 60 bits, past
 * what a JS number holds exactly, and building a string or BigInt key per
 * frame is exactly the per-packet cost DESIGN.md rules out. So the table is
 * an array indexed by VID of Maps. Inside a VLAN the MAC is split into two
 * 24-bit halves: the Map is keyed by the low half (a small integer, which V8
 * hashes without boxing — a 48-bit number key would allocate a HeapNumber on
 * every Map.get) and each entry chains to the entries sharing that low half,
 * told apart by the high half. A lookup is an array read, one Map.get and
 * usually one comparison; refreshing a known station writes one field.
 *
 * Aging follows the Linux bridge: a learned entry expires `agingMs` after it
 * was last refreshed (default 300 s). Expiry is lazy on lookup (an expired
 * entry is deleted the moment it is looked up), plus a sweep on one Timer so
 * entries nobody looks up still go; the timer is armed only while dynamic
 * entries exist, so an idle bridge leaves the clock idle. Static entries never
 * age and never move. At most `maxEntries` learned entries exist; learning
 * beyond that is refused and counted (static entries do not count).
 */
import type { Mac } from '../wire/address.js';
import { Timer, type Clock, type TableUsage } from '../time/index.js';

export const DEFAULT_AGING_MS = 300_000;
export const DEFAULT_MAX_FDB_ENTRIES = 8192;

export interface FdbRecord<P> {
  readonly mac: Mac;
  readonly vid: number;
  /** The MAC's upper and lower 24 bits. */
  readonly hi: number;
  readonly lo: number;
  port: P;
  readonly isStatic: boolean;
  /** Clock time of the last frame from this MAC (or of creation, for a static entry never heard from). */
  lastSeen: number;
  /** @internal Next entry in this VLAN with the same `lo`. */
  next: FdbRecord<P> | undefined;
}

export interface FdbStats {
  /** Dynamic entries currently held. */
  entries: number;
  staticEntries: number;
  learned: number;
  /** A learned MAC seen on another port: the entry moved. */
  moves: number;
  /** Learning refused because the table held maxEntries dynamic entries. */
  refused: number;
  /** A static MAC seen on another port than its entry's (the entry stays). */
  staticConflicts: number;
  expired: number;
}

/** What `learn` did. */
export const LEARN = { REFRESHED: 0, LEARNED: 1, MOVED: 2, REFUSED: 3, STATIC_CONFLICT: 4 } as const;

export interface FdbOptions {
  agingMs?: number;
  maxEntries?: number;
}

const VID_COUNT = 4096;
const HALF = 0x1000000;

/** Upper 24 bits of a MAC read at `off` (no allocation). */
export function macHi(buf: Uint8Array, off: number): number {
  return (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
}
/** Lower 24 bits of a MAC read at `off`. */
export function macLo(buf: Uint8Array, off: number): number {
  return (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!;
}

type VlanTable<P> = Map<number, FdbRecord<P>>;

export class Fdb<P> {
  readonly agingMs: number;
  readonly maxEntries: number;
  readonly stats: FdbStats = { entries: 0, staticEntries: 0, learned: 0, moves: 0, refused: 0, staticConflicts: 0, expired: 0 };
  private readonly byVid: Array<VlanTable<P> | undefined> = new Array<VlanTable<P> | undefined>(VID_COUNT).fill(undefined);
  private readonly timer: Timer;
  /** At most one sweep per this many ms, however many entries expire in between. */
  private readonly sweepGranularityMs: number;
  private lastSweep = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    opts: FdbOptions = {},
  ) {
    const aging = opts.agingMs ?? DEFAULT_AGING_MS;
    if (!(aging > 0)) throw new RangeError(`agingMs must be > 0 (Infinity: never age), got ${aging}`);
    const max = opts.maxEntries ?? DEFAULT_MAX_FDB_ENTRIES;
    if (!Number.isInteger(max) || max < 0) throw new RangeError(`maxFdbEntries must be an integer >= 0, got ${max}`);
    this.agingMs = aging;
    this.maxEntries = max;
    this.sweepGranularityMs = Math.min(1000, aging);
    this.timer = new Timer(clock.timers, () => this.onTimer());
  }

  /** Learned entries against maxEntries (the bridge's fdb_max_learned); they age out on the clock. */
  usage(): TableUsage {
    return { table: 'fdb', size: this.stats.entries, limit: this.maxEntries, unit: 'entries', refused: this.stats.refused, evicted: 0, like: 'fdb_max_learned' };
  }

  /** The live entry for (vid, mac), deleting it if it has expired. */
  lookup(vid: number, mac: Mac, now: number): FdbRecord<P> | undefined {
    const hi = Math.floor(mac / HALF);
    return this.lookupHalves(vid, hi, mac - hi * HALF, now);
  }

  /** `lookup` with the MAC given as its two 24-bit halves (the hot path: no number above 2^31). */
  lookupHalves(vid: number, hi: number, lo: number, now: number): FdbRecord<P> | undefined {
    const m = this.byVid[vid];
    if (m === undefined) return undefined;
    let e = m.get(lo);
    while (e !== undefined && e.hi !== hi) e = e.next;
    if (e === undefined || e.isStatic || now - e.lastSeen < this.agingMs) return e;
    this.remove(m, e);
    this.stats.expired++;
    return undefined;
  }

  /** Records that `mac` sent from `port` in `vid` at `now`. Returns a LEARN.* value. */
  learn(vid: number, mac: Mac, port: P, now: number): number {
    const hi = Math.floor(mac / HALF);
    return this.learnHalves(vid, hi, mac - hi * HALF, port, now);
  }

  learnHalves(vid: number, hi: number, lo: number, port: P, now: number): number {
    let m = this.byVid[vid];
    if (m === undefined) {
      m = new Map();
      this.byVid[vid] = m;
    }
    let e = m.get(lo);
    while (e !== undefined && e.hi !== hi) e = e.next;
    if (e !== undefined) {
      if (e.port === port) {
        e.lastSeen = now;
        return LEARN.REFRESHED;
      }
      if (e.isStatic) {
        this.stats.staticConflicts++;
        return LEARN.STATIC_CONFLICT;
      }
      if (now - e.lastSeen < this.agingMs) {
        e.port = port;
        e.lastSeen = now;
        this.stats.moves++;
        return LEARN.MOVED;
      }
      // Expired but not yet swept: learned afresh, not a move.
      this.remove(m, e);
      this.stats.expired++;
    }
    if (this.stats.entries >= this.maxEntries) {
      // Full: reclaim what has expired, at most once per granule of time.
      if (now - this.lastSweep >= this.sweepGranularityMs) this.sweep(now);
      if (this.stats.entries >= this.maxEntries) {
        this.stats.refused++;
        return LEARN.REFUSED;
      }
    }
    this.insert(m, { mac: hi * HALF + lo, vid, hi, lo, port, isStatic: false, lastSeen: now, next: undefined });
    this.stats.entries++;
    this.stats.learned++;
    if (!this.timer.armed && this.agingMs !== Number.POSITIVE_INFINITY) this.timer.armAt(now + this.agingMs);
    return LEARN.LEARNED;
  }

  /** Adds or replaces a static entry (it never ages, never moves). */
  addStatic(vid: number, mac: Mac, port: P, now: number): void {
    let m = this.byVid[vid];
    if (m === undefined) {
      m = new Map();
      this.byVid[vid] = m;
    }
    const hi = Math.floor(mac / HALF);
    const lo = mac - hi * HALF;
    const old = this.find(m, hi, lo);
    if (old !== undefined) this.remove(m, old);
    this.insert(m, { mac, vid, hi, lo, port, isStatic: true, lastSeen: now, next: undefined });
    this.stats.staticEntries++;
  }

  /** Deletes the entry for (vid, mac), static or not. Returns whether there was one. */
  delete(vid: number, mac: Mac): boolean {
    const m = this.byVid[vid];
    if (m === undefined) return false;
    const hi = Math.floor(mac / HALF);
    const e = this.find(m, hi, mac - hi * HALF);
    if (e === undefined) return false;
    this.remove(m, e);
    return true;
  }

  /** Deletes the entries pointing at `port`: learned ones only, or static ones too. Returns how many. */
  flushPort(port: P, includeStatic: boolean): number {
    return this.removeWhere((e) => e.port === port && (includeStatic || !e.isStatic));
  }

  /** Deletes every expired learned entry. Returns how many. */
  sweep(now: number): number {
    this.lastSweep = now;
    const n = this.removeWhere((e) => !e.isStatic && now - e.lastSeen >= this.agingMs);
    this.stats.expired += n;
    return n;
  }

  /** Every live entry (sweeping first), by VID then MAC. */
  entries(now: number): Array<FdbRecord<P>> {
    this.sweep(now);
    const out: Array<FdbRecord<P>> = [];
    for (const m of this.byVid) {
      if (m === undefined) continue;
      const vlan: Array<FdbRecord<P>> = [];
      for (const head of m.values()) for (let e: FdbRecord<P> | undefined = head; e !== undefined; e = e.next) vlan.push(e);
      vlan.sort((a, b) => a.mac - b.mac);
      out.push(...vlan);
    }
    return out;
  }

  /** Stops the sweep timer and forgets every entry. */
  clear(): void {
    this.timer.cancel();
    this.byVid.fill(undefined);
    this.stats.entries = 0;
    this.stats.staticEntries = 0;
  }

  private find(m: VlanTable<P>, hi: number, lo: number): FdbRecord<P> | undefined {
    let e = m.get(lo);
    while (e !== undefined && e.hi !== hi) e = e.next;
    return e;
  }

  private insert(m: VlanTable<P>, e: FdbRecord<P>): void {
    e.next = m.get(e.lo);
    m.set(e.lo, e);
  }

  private remove(m: VlanTable<P>, e: FdbRecord<P>): void {
    const head = m.get(e.lo);
    if (head === e) {
      if (e.next === undefined) m.delete(e.lo);
      else m.set(e.lo, e.next);
    } else {
      let p = head;
      while (p !== undefined && p.next !== e) p = p.next;
      if (p === undefined) return;
      p.next = e.next;
    }
    e.next = undefined;
    if (e.isStatic) this.stats.staticEntries--;
    else this.stats.entries--;
  }

  private removeWhere(pred: (e: FdbRecord<P>) => boolean): number {
    const doomed: Array<FdbRecord<P>> = [];
    for (const m of this.byVid) {
      if (m === undefined) continue;
      for (const head of m.values()) for (let e: FdbRecord<P> | undefined = head; e !== undefined; e = e.next) if (pred(e)) doomed.push(e);
    }
    for (const e of doomed) this.remove(this.byVid[e.vid]!, e);
    return doomed.length;
  }

  /** Sweeps, then re-arms for the oldest remaining learned entry (not sooner than one granule). */
  private onTimer(): void {
    const now = this.clock.now();
    this.sweep(now);
    if (this.stats.entries === 0) return;
    let oldest = Number.POSITIVE_INFINITY;
    for (const m of this.byVid) {
      if (m === undefined) continue;
      for (const head of m.values()) {
        for (let e: FdbRecord<P> | undefined = head; e !== undefined; e = e.next) if (!e.isStatic && e.lastSeen < oldest) oldest = e.lastSeen;
      }
    }
    this.timer.armAt(Math.max(oldest + this.agingMs, now + this.sweepGranularityMs));
  }
}
