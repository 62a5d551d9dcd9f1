/**
 * The conntrack hash table: tuple -> entry, numeric keys only, a size limit
 * with nf_conntrack_max semantics (early drop of an unassured entry, else a
 * counted refusal), and expiry on the stack's clock.
 *
 * Early drop: Linux's early_drop looks in up to eight hash buckets from the
 * new tuple's and drops the unassured entries it finds there, so a table
 * full of unassured entries (a flood of flows nobody answers) always makes
 * room, however many assured connections it also holds. wirelab keeps the
 * unassured entries in a second list, oldest first, and drops the oldest
 * one: the same outcome, deterministic and O(1). (Looking only at the eight
 * oldest entries, as this table once did, refused every new flow as soon as
 * the eight oldest were established connections.)
 *
 * Keys: a 30-bit hash of (protocol, src, dst, sport, dport) mixed with a
 * per-table seed picks a bucket in a Map (a small integer key, no strings
 * and no BigInts); collisions chain through `TupleNode.next`. A lookup
 * allocates nothing.
 *
 * Expiry: each entry has one Timer armed at its deadline. A packet only moves
 * `expiresAt` forward (a number write); when the timer fires early it re-arms
 * to the new deadline, so a busy flow costs one timer operation per timeout
 * period, not per packet. A shortened deadline (ESTABLISHED -> TIME_WAIT)
 * re-arms at once. Lookups also treat a passed deadline as gone, so virtual
 * time and the table agree to the millisecond.
 */
import { Timer, type Clock } from '../time/index.js';
import { ConnEntry, CT_STATUS, TupleNode } from './entry.js';

export interface ConntrackTableStats {
  /** Entries in the table now. */
  entries: number;
  /** Entries created (conntrack -S "insert"). */
  inserted: number;
  /** Packets that found their entry. */
  found: number;
  /** New entries refused because the table was full (conntrack -S "drop"). */
  refusedTableFull: number;
  /** Unassured entries dropped to make room (conntrack -S "early_drop"). */
  earlyDrop: number;
  /** Entries that timed out. */
  expired: number;
  /** Entries removed otherwise (RST before a reply, TCP reopen, flush). */
  deleted: number;
}

export function tupleHash(seed: number, protocol: number, src: number, dst: number, sport: number, dport: number): number {
  let h = Math.imul(seed ^ src, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ dst, 0x85ebca77);
  h = Math.imul(h ^ (h >>> 13) ^ ((sport << 16) | dport), 0xc2b2ae3d);
  h = Math.imul(h ^ (h >>> 16) ^ protocol, 0x27d4eb2f);
  return (h ^ (h >>> 15)) & 0x3fffffff;
}

/** How many of the oldest entries early drop looks at for one already expired (Linux: NF_CT_EVICTION_RANGE, 8). */
const EVICTION_RANGE = 8;

export class ConntrackTable {
  readonly stats: ConntrackTableStats = { entries: 0, inserted: 0, found: 0, refusedTableFull: 0, earlyDrop: 0, expired: 0, deleted: 0 };
  /** Every live entry, oldest first. */
  readonly entries = new Set<ConnEntry>();
  /** The live entries not (yet) ASSURED, oldest first: early drop's candidates. */
  private readonly unassured = new Set<ConnEntry>();
  private readonly buckets = new Map<number, TupleNode>();
  private nextId = 1;
  /** Called as an entry leaves the table (to release its NAT port). */
  onRemove: ((e: ConnEntry) => void) | null = null;

  constructor(
    readonly clock: Clock,
    public maxEntries: number,
    private readonly seed: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The live node with this exact tuple, or null. */
  lookup(protocol: number, src: number, dst: number, sport: number, dport: number): TupleNode | null {
    let n = this.buckets.get(tupleHash(this.seed, protocol, src, dst, sport, dport)) ?? null;
    while (n !== null) {
      if (n.entry.protocol === protocol && n.equals(src, dst, sport, dport)) {
        if (n.entry.expiresAt <= this.clock.now()) {
          this.expire(n.entry);
          return null;
        }
        return n;
      }
      n = n.next;
    }
    return null;
  }

  /** True when some entry (either direction) holds this tuple. */
  taken(protocol: number, src: number, dst: number, sport: number, dport: number): boolean {
    return this.lookup(protocol, src, dst, sport, dport) !== null;
  }

  /**
   * A new entry, not yet in the table (fill its tuples, then `insert`), or
   * null when the table is full and nothing could be dropped to make room.
   */
  create(protocol: number): ConnEntry | null {
    if (this.entries.size >= this.maxEntries && !this.earlyDrop()) {
      this.stats.refusedTableFull++;
      return null;
    }
    return new ConnEntry(this.nextId++, protocol, this.clock.now());
  }

  insert(e: ConnEntry, timeoutMs: number): void {
    this.link(e.orig);
    this.link(e.reply);
    e.status |= CT_STATUS.CONFIRMED;
    this.entries.add(e);
    if (!e.has(CT_STATUS.ASSURED)) this.unassured.add(e);
    this.stats.inserted++;
    this.stats.entries = this.entries.size;
    e.expiresAt = this.clock.now() + timeoutMs;
    e.timer = new Timer(this.clock.timers, () => this.timerFired(e));
    e.timer.armAt(e.expiresAt);
  }

  /** Moves a node to a new tuple (a NAT decision changed the reply tuple). */
  retuple(n: TupleNode, src: number, dst: number, sport: number, dport: number): void {
    this.unlink(n);
    n.set(src, dst, sport, dport);
    this.link(n);
  }

  /** Sets the entry's timeout from now (nf_ct_refresh). */
  refresh(e: ConnEntry, timeoutMs: number): void {
    const at = this.clock.now() + timeoutMs;
    e.expiresAt = at;
    if (e.timer !== null && at < e.timer.deadline) e.timer.armAt(at);
  }

  /** Marks `e` ASSURED: early drop no longer takes it. */
  assure(e: ConnEntry): void {
    e.status |= CT_STATUS.ASSURED;
    this.unassured.delete(e);
  }

  remove(e: ConnEntry): void {
    if (!this.entries.delete(e)) return;
    this.unassured.delete(e);
    e.status |= CT_STATUS.DYING;
    this.unlink(e.orig);
    this.unlink(e.reply);
    e.timer?.cancel();
    this.stats.entries = this.entries.size;
    this.onRemove?.(e);
  }

  delete(e: ConnEntry): void {
    if (this.entries.has(e)) this.stats.deleted++;
    this.remove(e);
  }

  flush(): void {
    for (const e of [...this.entries]) this.delete(e);
  }

  /** Removes `e` if its deadline has passed (counted as expired); true when it did. */
  reapIfExpired(e: ConnEntry): boolean {
    if (e.expiresAt > this.clock.now()) return false;
    this.expire(e);
    return true;
  }

  private expire(e: ConnEntry): void {
    if (this.entries.has(e)) this.stats.expired++;
    this.remove(e);
  }

  private timerFired(e: ConnEntry): void {
    if (e.expiresAt > this.clock.now()) e.timer!.armAt(e.expiresAt);
    else this.expire(e);
  }

  /** Linux's early_drop: make room by reaping an expired entry among the oldest few, else dropping the oldest unassured one. */
  private earlyDrop(): boolean {
    let looked = 0;
    for (const e of this.entries) {
      if (e.expiresAt <= this.clock.now()) {
        this.expire(e);
        return true;
      }
      if (++looked >= EVICTION_RANGE) break;
    }
    for (const e of this.unassured) {
      this.stats.earlyDrop++;
      this.remove(e);
      return true;
    }
    return false;
  }

  private link(n: TupleNode): void {
    const key = tupleHash(this.seed, n.entry.protocol, n.src, n.dst, n.sport, n.dport);
    n.bucket = key;
    n.next = this.buckets.get(key) ?? null;
    this.buckets.set(key, n);
  }

  private unlink(n: TupleNode): void {
    if (n.bucket < 0) return;
    let head = this.buckets.get(n.bucket) ?? null;
    if (head === n) {
      if (n.next === null) this.buckets.delete(n.bucket);
      else this.buckets.set(n.bucket, n.next);
    } else {
      while (head !== null && head.next !== n) head = head.next;
      if (head !== null) head.next = n.next;
    }
    n.next = null;
    n.bucket = -1;
  }
}
