/**
 * The ARP cache (neighbour table) of a wirelab host or router: RFC 826's
 * merge rule driven by Linux's NUD state machine, shown like `ip neigh`.
 *
 * Hand-written: it is the stack's own state machine, tied to the stack's
 * clock and hooks; there is nothing to borrow.
 *
 * States and timing (opts in brackets, Linux's defaults):
 *
 *   (none)/FAILED --resolve()--> INCOMPLETE: a broadcast solicit now and every
 *       [retransMs] until [maxProbes] were sent; [retransMs] after the last
 *       one → FAILED, and the `failed` hook gets the queued packets (the
 *       caller sends ICMP host unreachable). Up to [queueLen] packets wait;
 *       the oldest is dropped (stats.queueDrops) to make room.
 *   an ARP reply → REACHABLE for [reachableMs] after the last confirmation
 *       (a reply or confirm()); Linux randomises this time, wirelab does not,
 *       so virtual-time runs are exact. At expiry → STALE, or straight to
 *       DELAY if the entry was used in the last [delayMs] (as Linux).
 *   STALE: still used to send; the first use (lookup/resolve) → DELAY.
 *   DELAY for [delayMs]: confirmed meanwhile → REACHABLE, else → PROBE.
 *   PROBE: a unicast solicit (to the cached MAC) now and every [retransMs],
 *       [maxProbes] in all; a reply → REACHABLE; else → FAILED.
 *   PERMANENT: set by addPermanent, never changed by ARP, never collected.
 *
 * input() applies RFC 826: an existing entry is updated from any ARP packet
 * (a reply → REACHABLE; a request → STALE, except that a request repeating
 * the known address leaves the state alone, as Linux); a missing entry is
 * created only when the packet targets us. A gratuitous ARP (targetIsUs
 * false) therefore updates only an entry that exists, and a changed MAC
 * makes it STALE. Linux's 1 s `locktime` (ignore a second answer within 1 s)
 * is not modelled: the latest ARP wins.
 *
 * confirm() (upper-layer advice, e.g. TCP saw new data acknowledged): in
 * REACHABLE and DELAY it only records the time — no timer is touched, which
 * keeps it cheap on every ACK; the entry's timer looks at that time when it
 * fires (exactly Linux's neigh_confirm). In STALE and PROBE it makes the
 * entry REACHABLE at once (RFC 4861 §7.3.3; Linux ignores it there).
 *
 * Table limit: at most [maxEntries] non-permanent entries (Linux's
 * gc_thresh3). A new entry evicts the oldest FAILED entry, else the oldest
 * STALE one (stats.evicted); with neither, it is refused (stats.tableFull).
 * Garbage collection: a STALE entry neither used nor confirmed for
 * [gcStaleMs] (Linux looks at use only) and a FAILED entry [gcStaleMs] after
 * it failed are removed (stats.gcRemoved).
 *
 * Timers: one `Timer` per entry, created with the entry and re-armed on each
 * transition (never a new Timer). It carries the NUD timers and, in STALE
 * and FAILED, the entry's GC deadline. Chosen over a periodic sweep because
 * every deadline is then exact to the millisecond in virtual time, nothing
 * scans the table, and re-arming is an allocation-free O(log n) heap move;
 * Linux also keeps a timer per neighbour. The eviction candidates are two
 * intrusive lists (FAILED, STALE) in the order entries entered those states,
 * so choosing a victim is O(1).
 *
 * Pending packets are kept as given: pass a copy of borrowed bytes.
 */
import { type IPv4Address, type Mac, formatIPv4, formatMac, parseIPv4, parseMac } from '../wire/address.js';
import type { Clock } from '../time/clock.js';
import { MAX_TIMER_DELAY_MS, Timer } from '../time/scheduler.js';
import type { TableUsage } from '../time/table-usage.js';

export type NeighState = 'INCOMPLETE' | 'REACHABLE' | 'STALE' | 'DELAY' | 'PROBE' | 'FAILED' | 'PERMANENT';

export interface NeighbourHooks<P> {
  /** Send an ARP request for `ip` on `dev`: broadcast when `unicastMac` is undefined, else to that MAC (PROBE). */
  solicit(ip: IPv4Address, dev: string, unicastMac: Mac | undefined): void;
  /** `ip` resolved to `mac`: send the packets that waited, in the order they were queued. */
  resolved(ip: IPv4Address, dev: string, mac: Mac, pending: P[]): void;
  /** Resolution failed (or an entry being resolved or probed was deleted): the packets that waited, in order. */
  failed(ip: IPv4Address, dev: string, pending: P[]): void;
}

export interface NeighbourOptions {
  /** Default 30000 (Linux base_reachable_time_ms). */
  reachableMs?: number;
  /** Default 5000 (delay_first_probe_time). */
  delayMs?: number;
  /** Default 1000 (retrans_time_ms). */
  retransMs?: number;
  /** Solicits in INCOMPLETE and in PROBE. Default 3 (mcast_solicit, ucast_solicit). */
  maxProbes?: number;
  /** Packets waiting per unresolved entry. Default 3. */
  queueLen?: number;
  /** Non-permanent entries. Default 1024 (gc_thresh3). */
  maxEntries?: number;
  /** Default 60000 (gc_stale_time). */
  gcStaleMs?: number;
}

export interface NeighbourStats {
  /** ARP requests asked of the `solicit` hook. */
  solicits: number;
  /** INCOMPLETE entries that got an address. */
  resolved: number;
  /** Entries that went FAILED (each one call of the `failed` hook). */
  failed: number;
  /** Pending packets dropped: queue full, or their entry flushed. */
  queueDrops: number;
  /** New entries refused because the table was full. */
  tableFull: number;
  /** FAILED/STALE entries evicted to make room for a new one. */
  evicted: number;
  /** Entries removed by garbage collection. */
  gcRemoved: number;
}

export interface NeighbourEntryInfo {
  ip: IPv4Address;
  dev: string;
  mac?: Mac;
  state: NeighState;
  /** Milliseconds since the entry last changed (Linux's `updated`). */
  ageMs: number;
}

/** One entry as `ip -j neigh` prints it. */
export interface NeighbourJson {
  dst: string;
  dev: string;
  lladdr?: string;
  state: NeighState[];
}

/** Bad arguments to the table's public methods (`code` 'EINVAL'). */
export class NeighbourError extends Error {
  readonly code = 'EINVAL';
  constructor(message: string) {
    super(message);
    this.name = 'NeighbourError';
  }
}

class Entry<P> {
  state: NeighState = 'INCOMPLETE';
  mac: Mac = 0;
  pending: P[] = [];
  probes = 0;
  /** Last state or address change. */
  updated: number;
  /** Last time the entry was used to send. */
  used: number;
  /** Last reachability confirmation (reply or confirm()). */
  confirmed = Number.NEGATIVE_INFINITY;
  timer!: Timer;
  list: EntryList<P> | undefined;
  prev: Entry<P> | undefined;
  next: Entry<P> | undefined;

  constructor(
    readonly ip: IPv4Address,
    readonly dev: string,
    now: number,
  ) {
    this.updated = now;
    this.used = now;
  }
}

/** An intrusive doubly linked list, oldest first. */
class EntryList<P> {
  head: Entry<P> | undefined;
  tail: Entry<P> | undefined;

  push(e: Entry<P>): void {
    e.list = this;
    e.prev = this.tail;
    e.next = undefined;
    if (this.tail === undefined) this.head = e;
    else this.tail.next = e;
    this.tail = e;
  }

  unlink(e: Entry<P>): void {
    if (e.prev === undefined) this.head = e.next;
    else e.prev.next = e.next;
    if (e.next === undefined) this.tail = e.prev;
    else e.next.prev = e.prev;
    e.list = e.prev = e.next = undefined;
  }
}

const DEFAULTS: Required<NeighbourOptions> = {
  reachableMs: 30_000,
  delayMs: 5_000,
  retransMs: 1_000,
  maxProbes: 3,
  queueLen: 3,
  maxEntries: 1024,
  gcStaleMs: 60_000,
};

function hasAddress(state: NeighState): boolean {
  return state === 'REACHABLE' || state === 'STALE' || state === 'DELAY' || state === 'PROBE' || state === 'PERMANENT';
}

export class NeighbourTable<P> {
  readonly stats: NeighbourStats = { solicits: 0, resolved: 0, failed: 0, queueDrops: 0, tableFull: 0, evicted: 0, gcRemoved: 0 };
  private readonly opts: Required<NeighbourOptions>;
  private readonly byDev = new Map<string, Map<IPv4Address, Entry<P>>>();
  private readonly failedList = new EntryList<P>();
  private readonly staleList = new EntryList<P>();
  /** Non-permanent entries (the ones maxEntries limits). */
  private dynamicCount = 0;
  private total = 0;

  constructor(
    private readonly clock: Clock,
    private readonly hooks: NeighbourHooks<P>,
    opts: NeighbourOptions = {},
  ) {
    const o = { ...DEFAULTS };
    for (const key of Object.keys(DEFAULTS) as Array<keyof NeighbourOptions>) {
      const v = opts[key];
      if (v === undefined) continue;
      const min = key === 'maxProbes' || key === 'maxEntries' ? 1 : 0;
      const max = key.endsWith('Ms') ? MAX_TIMER_DELAY_MS : Number.MAX_SAFE_INTEGER;
      if (!Number.isInteger(v) || v < min || v > max) {
        throw new NeighbourError(`invalid neighbour option ${key} = ${String(v)}: expected an integer from ${min} to ${max}`);
      }
      o[key] = v;
    }
    this.opts = o;
  }

  /** Number of entries, permanent ones included. */
  get size(): number {
    return this.total;
  }

  /** Non-permanent entries against maxEntries (gc_thresh3); they go as neighbour GC runs on the clock. */
  usage(): TableUsage {
    return { table: 'neighbours', size: this.dynamicCount, limit: this.opts.maxEntries, unit: 'entries', refused: this.stats.tableFull, evicted: this.stats.evicted, like: 'gc_thresh3' };
  }

  /**
   * The MAC to send to `ip` on `dev`, or undefined when it must be resolved
   * first (then call `resolve`). REACHABLE, STALE, DELAY, PROBE and PERMANENT
   * entries answer; a STALE entry moves to DELAY. Allocation-free.
   */
  lookup(ip: IPv4Address, dev: string): Mac | undefined {
    const e = this.byDev.get(dev)?.get(ip);
    if (e === undefined) return undefined;
    switch (e.state) {
      case 'REACHABLE':
      case 'DELAY':
      case 'PROBE':
        e.used = this.clock.now();
        return e.mac;
      case 'PERMANENT':
        return e.mac;
      case 'STALE':
        e.used = this.clock.now();
        this.enterDelay(e);
        return e.mac;
      default:
        return undefined;
    }
  }

  /**
   * Queues `pending` until `ip` resolves (starting resolution when the entry
   * is new or FAILED). If the entry already has an address the `resolved`
   * hook gets the packet at once. False when the packet was dropped: the
   * table is full, or the queue length is 0.
   */
  resolve(ip: IPv4Address, dev: string, pending: P): boolean {
    let e = this.byDev.get(dev)?.get(ip);
    if (e !== undefined && hasAddress(e.state)) {
      const mac = this.lookup(ip, dev) as Mac;
      this.hooks.resolved(ip, dev, mac, [pending]);
      return true;
    }
    if (e === undefined) {
      e = this.create(ip, dev);
      if (e === undefined) return false;
    } else if (e.state === 'INCOMPLETE') {
      return this.enqueue(e, pending);
    }
    // New or FAILED: start resolving.
    const queued = this.enqueue(e, pending);
    this.setState(e, 'INCOMPLETE');
    e.updated = this.clock.now();
    e.probes = 0;
    this.probe(e, undefined);
    return queued;
  }

  /**
   * An ARP packet from `senderIp`/`senderMac` arrived on `dev` (RFC 826's
   * merge rule; see the header). `targetIsUs`: its target address is ours.
   */
  input(senderIp: IPv4Address, senderMac: Mac, dev: string, opts: { isReply?: boolean; targetIsUs: boolean }): void {
    const state = opts.isReply === true ? 'REACHABLE' : 'STALE';
    const e = this.byDev.get(dev)?.get(senderIp);
    if (e !== undefined) {
      this.update(e, senderMac, state);
      return;
    }
    if (!opts.targetIsUs) return;
    const created = this.create(senderIp, dev);
    if (created === undefined) return;
    const now = this.clock.now();
    created.mac = senderMac;
    if (state === 'REACHABLE') {
      created.confirmed = now;
      this.enterReachable(created);
    } else {
      this.enterStale(created);
    }
  }

  /** Whether `ip` has an entry on `dev` (any state). */
  has(ip: IPv4Address, dev: string): boolean {
    return this.byDev.get(dev)?.has(ip) ?? false;
  }

  /** Upper-layer proof that `ip` is reachable (see the header). */
  confirm(ip: IPv4Address, dev: string): void {
    const e = this.byDev.get(dev)?.get(ip);
    if (e === undefined) return;
    switch (e.state) {
      case 'REACHABLE':
      case 'DELAY':
        e.confirmed = this.clock.now();
        return;
      case 'STALE':
      case 'PROBE':
        e.confirmed = this.clock.now();
        e.updated = e.confirmed;
        this.enterReachable(e);
        return;
      default:
        return;
    }
  }

  /**
   * Adds or replaces a PERMANENT entry (`ip neigh replace … nud permanent`).
   * Packets waiting on an INCOMPLETE entry go to the `resolved` hook.
   */
  addPermanent(ip: IPv4Address | string, mac: Mac | string, dev: string): void {
    const addr = parseIp(ip);
    const lladdr = parseLladdr(mac);
    checkDev(dev);
    let e = this.byDev.get(dev)?.get(addr);
    let pending: P[] | undefined;
    if (e === undefined) {
      e = this.insert(addr, dev);
    } else {
      if (e.state === 'INCOMPLETE') pending = this.takePending(e);
      if (e.state !== 'PERMANENT') this.dynamicCount--;
      e.timer.cancel();
    }
    this.setState(e, 'PERMANENT');
    e.mac = lladdr;
    e.updated = this.clock.now();
    if (pending !== undefined) {
      this.stats.resolved++;
      this.hooks.resolved(addr, dev, lladdr, pending);
    }
  }

  /**
   * Removes an entry (`ip neigh del`). An entry that was INCOMPLETE or PROBE
   * fails first: the `failed` hook gets its waiting packets, as Linux's
   * neigh_invalidate. Returns whether there was an entry.
   */
  delete(ip: IPv4Address | string, dev: string): boolean {
    const addr = parseIp(ip);
    const e = this.byDev.get(dev)?.get(addr);
    if (e === undefined) return false;
    const wasResolving = e.state === 'INCOMPLETE' || e.state === 'PROBE';
    const pending = this.takePending(e);
    this.remove(e);
    if (wasResolving) {
      this.stats.failed++;
      this.hooks.failed(addr, dev, pending);
    }
    return true;
  }

  /** Removes every entry of `dev`, permanent ones included (the interface went away); waiting packets are dropped and counted. */
  flushDev(dev: string): void {
    const map = this.byDev.get(dev);
    if (map === undefined) return;
    for (const e of [...map.values()]) {
      this.stats.queueDrops += e.pending.length;
      e.pending = [];
      this.remove(e);
    }
    this.byDev.delete(dev);
  }

  /** Cancels every timer and empties the table (waiting packets are dropped). */
  close(): void {
    for (const dev of [...this.byDev.keys()]) this.flushDev(dev);
  }

  /** Every entry, sorted by device then address. */
  entries(): NeighbourEntryInfo[] {
    const now = this.clock.now();
    const out: NeighbourEntryInfo[] = [];
    for (const e of this.sorted()) {
      out.push({
        ip: e.ip,
        dev: e.dev,
        ...(hasAddress(e.state) ? { mac: e.mac } : {}),
        state: e.state,
        ageMs: now - e.updated,
      });
    }
    return out;
  }

  /** The table as `ip neigh` prints it, one entry per line (no trailing newline). */
  format(): string {
    return this.sorted()
      .map((e) => `${formatIPv4(e.ip)} dev ${e.dev}${hasAddress(e.state) ? ` lladdr ${formatMac(e.mac)}` : ''} ${e.state}`)
      .join('\n');
  }

  /** The table as `ip -j neigh` prints it. */
  toJSON(): NeighbourJson[] {
    return this.sorted().map((e) => ({
      dst: formatIPv4(e.ip),
      dev: e.dev,
      ...(hasAddress(e.state) ? { lladdr: formatMac(e.mac) } : {}),
      state: [e.state],
    }));
  }

  // ---- internals -------------------------------------------------------

  private sorted(): Array<Entry<P>> {
    const all: Array<Entry<P>> = [];
    for (const map of this.byDev.values()) for (const e of map.values()) all.push(e);
    return all.sort((a, b) => (a.dev < b.dev ? -1 : a.dev > b.dev ? 1 : a.ip - b.ip));
  }

  /** A new dynamic entry (state INCOMPLETE, no timer armed), or undefined when the table is full. */
  private create(ip: IPv4Address, dev: string): Entry<P> | undefined {
    if (this.dynamicCount >= this.opts.maxEntries) {
      const victim = this.failedList.head ?? this.staleList.head;
      if (victim === undefined) {
        this.stats.tableFull++;
        return undefined;
      }
      this.remove(victim);
      this.stats.evicted++;
    }
    this.dynamicCount++;
    return this.insert(ip, dev);
  }

  private insert(ip: IPv4Address, dev: string): Entry<P> {
    const e = new Entry<P>(ip, dev, this.clock.now());
    e.timer = new Timer(this.clock.timers, () => this.onTimer(e));
    let map = this.byDev.get(dev);
    if (map === undefined) {
      map = new Map();
      this.byDev.set(dev, map);
    }
    map.set(ip, e);
    this.total++;
    return e;
  }

  private remove(e: Entry<P>): void {
    e.timer.cancel();
    e.list?.unlink(e);
    const map = this.byDev.get(e.dev);
    if (map?.get(e.ip) === e) {
      map.delete(e.ip);
      this.total--;
      if (e.state !== 'PERMANENT') this.dynamicCount--;
    }
  }

  private setState(e: Entry<P>, state: NeighState): void {
    e.list?.unlink(e);
    e.state = state;
    if (state === 'STALE') this.staleList.push(e);
    else if (state === 'FAILED') this.failedList.push(e);
  }

  private takePending(e: Entry<P>): P[] {
    const pending = e.pending;
    if (pending.length > 0) e.pending = [];
    return pending;
  }

  private enqueue(e: Entry<P>, p: P): boolean {
    if (this.opts.queueLen === 0) {
      this.stats.queueDrops++;
      return false;
    }
    if (e.pending.length >= this.opts.queueLen) {
      e.pending.shift();
      this.stats.queueDrops++;
    }
    e.pending.push(p);
    return true;
  }

  /** Sends one solicit (broadcast, or unicast in PROBE) and arms the retransmit timer. */
  private probe(e: Entry<P>, unicastMac: Mac | undefined): void {
    e.probes++;
    e.timer.arm(this.opts.retransMs);
    this.stats.solicits++;
    this.hooks.solicit(e.ip, e.dev, unicastMac);
  }

  private enterReachable(e: Entry<P>): void {
    this.setState(e, 'REACHABLE');
    e.timer.armAt(e.confirmed + this.opts.reachableMs);
  }

  private enterStale(e: Entry<P>): void {
    this.setState(e, 'STALE');
    e.timer.armAt(Math.max(this.clock.now(), this.staleDeadline(e)));
  }

  /** When a STALE entry is collected: gcStaleMs after its last use or confirmation. */
  private staleDeadline(e: Entry<P>): number {
    return Math.max(e.used, e.confirmed) + this.opts.gcStaleMs;
  }

  private enterDelay(e: Entry<P>): void {
    this.setState(e, 'DELAY');
    e.updated = this.clock.now();
    e.timer.arm(this.opts.delayMs);
  }

  private fail(e: Entry<P>): void {
    const pending = this.takePending(e);
    this.setState(e, 'FAILED');
    e.updated = this.clock.now();
    e.timer.arm(this.opts.gcStaleMs);
    this.stats.failed++;
    this.hooks.failed(e.ip, e.dev, pending);
  }

  /** Linux's neigh_update for an ARP packet: new state REACHABLE (reply) or STALE (request). */
  private update(e: Entry<P>, mac: Mac, state: 'REACHABLE' | 'STALE'): void {
    if (e.state === 'PERMANENT') return;
    const now = this.clock.now();
    if (state === 'REACHABLE') e.confirmed = now;
    const old = e.state;
    const hadAddress = hasAddress(old);
    if (hadAddress && mac === e.mac) {
      // Same address: a request changes nothing; a reply confirms.
      if (state === 'STALE' || old === 'REACHABLE') return;
    }
    e.mac = mac;
    e.updated = now;
    if (state === 'REACHABLE') this.enterReachable(e);
    else this.enterStale(e);
    if (old !== 'INCOMPLETE') return;
    const pending = this.takePending(e);
    this.stats.resolved++;
    if (pending.length > 0) {
      // Sending the queued packets is a use: a STALE entry goes to DELAY (Linux).
      e.used = now;
      if (state === 'STALE') this.enterDelay(e);
    }
    this.hooks.resolved(e.ip, e.dev, mac, pending);
  }

  private onTimer(e: Entry<P>): void {
    const now = this.clock.now();
    const o = this.opts;
    switch (e.state) {
      case 'INCOMPLETE':
      case 'PROBE':
        if (e.probes >= o.maxProbes) this.fail(e);
        else this.probe(e, e.state === 'PROBE' ? e.mac : undefined);
        return;
      case 'REACHABLE':
        if (now < e.confirmed + o.reachableMs) {
          e.timer.armAt(e.confirmed + o.reachableMs);
        } else if (now < e.used + o.delayMs) {
          this.enterDelay(e);
        } else {
          e.updated = now;
          this.enterStale(e);
        }
        return;
      case 'DELAY':
        e.updated = now;
        if (now <= e.confirmed + o.delayMs) {
          this.enterReachable(e);
        } else {
          this.setState(e, 'PROBE');
          e.probes = 0;
          this.probe(e, e.mac);
        }
        return;
      case 'STALE':
        if (now >= this.staleDeadline(e)) this.collect(e);
        else e.timer.armAt(this.staleDeadline(e));
        return;
      case 'FAILED':
        this.collect(e);
        return;
      default:
        return;
    }
  }

  private collect(e: Entry<P>): void {
    this.remove(e);
    this.stats.gcRemoved++;
  }
}

function parseIp(ip: IPv4Address | string): IPv4Address {
  if (typeof ip === 'number') {
    if (Number.isInteger(ip) && ip >= 0 && ip <= 0xffff_ffff) return ip;
    throw new NeighbourError(`invalid IPv4 address ${ip}: expected a 32-bit unsigned number`);
  }
  try {
    return parseIPv4(ip);
  } catch {
    throw new NeighbourError(`invalid IPv4 address "${ip}": expected a dotted quad like 10.0.0.2`);
  }
}

function parseLladdr(mac: Mac | string): Mac {
  if (typeof mac === 'number') {
    if (Number.isInteger(mac) && mac >= 0 && mac <= 0xffff_ffff_ffff) return mac;
    throw new NeighbourError(`invalid MAC address ${mac}: expected a 48-bit unsigned number`);
  }
  try {
    return parseMac(mac);
  } catch {
    throw new NeighbourError(`invalid MAC address "${mac}": expected six hex octets like 02:00:00:00:00:02`);
  }
}

function checkDev(dev: string): void {
  if (typeof dev !== 'string' || dev.length === 0) throw new NeighbourError(`invalid device name "${String(dev)}"`);
}
