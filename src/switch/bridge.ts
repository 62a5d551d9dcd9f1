/**
 * A managed 802.1Q switch in software: any number of `Port`s (TAP devices,
 * pipes, VXLAN…), MAC learning per VLAN with aging, flooding, access and
 * trunk ports, per-port counters, port up/down and pcapng mirroring. Where
 * this file is silent it does what the Linux bridge with vlan_filtering does.
 *
 * Hand-written: the bridge *is* the hot path DESIGN.md describes, so it runs
 * on borrowed receive slabs with no allocation per frame in the steady state
 * (see datapath.ts), which no switch library for Node does.
 *
 * NO SPANNING TREE. Loops in the topology are not detected or blocked: two
 * paths between the same bridges will storm broadcast traffic forever, as a
 * Linux bridge with `stp_state 0` does. Build trees.
 *
 * The bridge has no port of its own (no "br0" address): to talk to the
 * switched network, attach a host through a port (a pipe).
 *
 * Frames leave byte for byte as they came in (zero copy) whenever the egress
 * wants the same tagging the ingress had; a tag to push, pop or re-number is
 * written into a scratch slab reused batch after batch, with the
 * virtio_net_hdr copied in front and its csum_start moved by ±4 so checksum
 * and segmentation offloads stay valid. Egress ports that do not take vnet
 * headers still receive `vnetOff`: the port completes checksums or segments
 * (TapPort and PipePort do). The per-frame work is in datapath.ts.
 *
 * Ports must not deliver frames synchronously from inside `send()`; the
 * bridge copes with delivery from inside `flush()`.
 */
import { type Mac, formatMac } from '../wire/address.js';
import type { Clock, TableUsage } from '../time/index.js';
import type { Port, RxBatch } from '../link/port.js';
import type { PcapngWriter } from '../link/pcap.js';
import { type BridgePortCounters, copyBridgePortCounters, formatCounterTable, formatVlanConfig } from './counters.js';
import { BridgePort, Datapath } from './datapath.js';
import { Fdb, type FdbStats } from './fdb.js';
import { type MirrorOptions, type MirrorSession, newMirrorSession, openMirrorTap } from './mirror.js';
import { DEFAULT_VLAN_CONFIG, EGRESS, PortVlan, type PortVlanConfig } from './vlan.js';

export type { PortVlanConfig } from './vlan.js';

export interface BridgeOptions {
  clock: Clock;
  /** Shown in `formatFdb` ("master br0") and the counter table. Default 'br0'. */
  name?: string;
  /** Learned entries expire this long after their station was last heard. Default 300000 (Linux's 300 s). */
  agingMs?: number;
  /** Most learned entries; more are refused (counted in `fdbStats.refused`). Default 8192. */
  maxFdbEntries?: number;
}

/** One FDB entry, JSON-able. */
export interface FdbEntry {
  mac: Mac;
  vid: number;
  port: string;
  static: boolean;
  /** Milliseconds since the station was last heard (for a static entry never heard: since it was added). */
  ageMs: number;
}

export interface BridgePortInfo {
  name: string;
  up: boolean;
  vlan: PortVlanConfig;
  vnetHdr: boolean;
}

const MAC_LIMIT = 2 ** 48;

export class Bridge {
  readonly name: string;
  readonly clock: Clock;
  private readonly fdb: Fdb<BridgePort>;
  private readonly byName = new Map<string, BridgePort>();
  /** In the order they were added. */
  private list: BridgePort[] = [];
  private readonly dp: Datapath;
  private readonly sessions = new Set<MirrorSession>();
  private closed = false;

  constructor(opts: BridgeOptions) {
    this.clock = opts.clock;
    this.name = opts.name ?? 'br0';
    const fdbOpts: { agingMs?: number; maxEntries?: number } = {};
    if (opts.agingMs !== undefined) fdbOpts.agingMs = opts.agingMs;
    if (opts.maxFdbEntries !== undefined) fdbOpts.maxEntries = opts.maxFdbEntries;
    this.fdb = new Fdb<BridgePort>(opts.clock, fdbOpts);
    this.dp = new Datapath(opts.clock, this.fdb);
  }

  // ---------------------------------------------------------------------------
  // Ports

  /** Attaches `port` (its name must be unique on this bridge) and takes over its `onReceive`. */
  addPort(port: Port, vlan: PortVlanConfig = DEFAULT_VLAN_CONFIG): void {
    if (this.closed) throw new Error(`bridge ${this.name} is closed`);
    if (this.byName.has(port.name)) throw new Error(`bridge ${this.name} already has a port named ${port.name}`);
    if (port.onReceive !== null) throw new Error(`port ${port.name} already has a receiver; detach it first`);
    const bp = new BridgePort(port, new PortVlan(vlan), this.dp.onBatch);
    this.byName.set(port.name, bp);
    this.list.push(bp);
    for (const s of this.sessions) if (s.allPorts) this.attachTap(s, bp);
    this.rebuildMembers();
    port.onReceive = bp.handler;
  }

  /**
   * Takes `batch` as if port `name` had received it (a replay into a running
   * switch): counted, mirrored, learned and forwarded like any frame of that
   * port; dropped ('portDown') while the port is down.
   */
  receiveAs(name: string, batch: RxBatch): void {
    this.dp.onBatch(this.mustPort(name), batch);
  }

  /** Detaches a port (it is not closed) and forgets its FDB entries. Returns false if there was no such port. */
  removePort(name: string): boolean {
    const bp = this.byName.get(name);
    if (bp === undefined) return false;
    if (bp.port.onReceive === bp.handler) bp.port.onReceive = null;
    this.fdb.flushPort(bp, true);
    this.byName.delete(name);
    this.list = this.list.filter((p) => p !== bp);
    bp.taps = [];
    bp.up = false;
    this.rebuildMembers();
    return true;
  }

  /** A down port neither receives nor sends; going down flushes its learned entries (not static ones). */
  setPortUp(name: string, up: boolean): void {
    const bp = this.mustPort(name);
    if (bp.up === up) return;
    bp.up = up;
    if (!up) this.fdb.flushPort(bp, false);
  }

  /** Changes a port's VLAN configuration; its learned entries, and static ones outside its new VLANs, go. */
  setPortVlan(name: string, vlan: PortVlanConfig): void {
    const bp = this.mustPort(name);
    const next = new PortVlan(vlan);
    bp.vlan = next;
    this.fdb.flushPort(bp, false);
    for (const e of this.fdb.entries(this.clock.now())) {
      if (e.port === bp && next.egress[e.vid] === EGRESS.NONE) this.fdb.delete(e.vid, e.mac);
    }
    this.rebuildMembers();
  }

  ports(): BridgePortInfo[] {
    return this.list.map((bp) => ({ name: bp.port.name, up: bp.up, vlan: bp.vlan.config, vnetHdr: bp.port.vnetHdr }));
  }

  // ---------------------------------------------------------------------------
  // FDB

  /** A static entry: never ages, never moves. The port must be a member of `vid`; the MAC must be unicast. */
  addStaticEntry(mac: Mac, vid: number, portName: string): void {
    if (!Number.isInteger(mac) || mac < 0 || mac >= MAC_LIMIT) throw new RangeError(`${mac} is not a 48-bit MAC address`);
    if (Math.floor(mac / 2 ** 40) % 2 === 1) throw new RangeError(`${formatMac(mac)} is a group address; static entries are unicast`);
    const bp = this.mustPort(portName);
    if (!Number.isInteger(vid) || vid < 1 || vid > 4094 || bp.vlan.egress[vid] === EGRESS.NONE) {
      throw new RangeError(`port ${portName} is not a member of VLAN ${vid} (${formatVlanConfig(bp.vlan.config)})`);
    }
    this.fdb.addStatic(vid, mac, bp, this.clock.now());
  }

  /** Deletes the entry for (mac, vid), static or learned. */
  deleteFdbEntry(mac: Mac, vid: number): boolean {
    return this.fdb.delete(vid, mac);
  }

  /** Every live entry, by VLAN then MAC. */
  fdbEntries(): FdbEntry[] {
    const now = this.clock.now();
    return this.fdb.entries(now).map((e) => ({
      mac: e.mac,
      vid: e.vid,
      port: e.port.port.name,
      static: e.isStatic,
      ageMs: now - e.lastSeen,
    }));
  }

  /** Like `bridge fdb show`: `02:00:00:00:00:01 dev port1 vlan 10 master br0` (+ ` permanent` for static). */
  formatFdb(): string {
    return this.fdbEntries()
      .map((e) => `${formatMac(e.mac)} dev ${e.port} vlan ${e.vid} master ${this.name}${e.static ? ' permanent' : ''}\n`)
      .join('');
  }

  get fdbStats(): FdbStats {
    return { ...this.fdb.stats };
  }

  /** The FDB's size against its limit (for `wirelab stats` and the soak). */
  fdbUsage(): TableUsage {
    return this.fdb.usage();
  }

  // ---------------------------------------------------------------------------
  // Counters

  /** A snapshot of the bridge's counters for one port. */
  portCounters(name: string): BridgePortCounters {
    return copyBridgePortCounters(this.mustPort(name).counters);
  }

  /** Every port's counters, by name (JSON-able). */
  allPortCounters(): Record<string, BridgePortCounters> {
    const out: Record<string, BridgePortCounters> = {};
    for (const bp of this.list) out[bp.port.name] = copyBridgePortCounters(bp.counters);
    return out;
  }

  /** Like `ip -s link`, one block per port. */
  formatPortCounters(): string {
    return formatCounterTable(
      this.name,
      this.list.map((bp) => ({ name: bp.port.name, up: bp.up, vlan: bp.vlan.config, counters: bp.counters })),
    );
  }

  // ---------------------------------------------------------------------------
  // Mirroring

  /**
   * Writes every frame of `ports` (default: every port, including ports
   * added later) to `writer`, one pcapng interface per port named after it
   * (or `opts.interfaceNames`). `opts` adds a filter, a frame budget with
   * `onDone`, and direction flags (mirror.ts). Returns a function that stops
   * mirroring (the writer stays open); a session whose budget ran out has
   * stopped itself.
   */
  mirror(writer: PcapngWriter, ports?: string[], opts: MirrorOptions = {}): () => void {
    const targets = ports === undefined ? this.list : ports.map((n) => this.mustPort(n));
    const session = newMirrorSession(writer, ports === undefined, opts);
    session.stop = () => {
      if (session.stopped) return;
      session.stopped = true;
      this.sessions.delete(session);
      for (const bp of this.list) if (bp.taps.length !== 0) bp.taps = bp.taps.filter((t) => t.session !== session);
    };
    for (const bp of targets) this.attachTap(session, bp);
    this.sessions.add(session);
    return session.stop;
  }

  /** Detaches every port (they stay open: their owner closes them), stops the aging timer and mirroring. */
  close(): void {
    if (this.closed) return;
    for (const bp of [...this.list]) this.removePort(bp.port.name);
    this.sessions.clear();
    this.fdb.clear();
    this.closed = true;
  }

  private attachTap(session: MirrorSession, bp: BridgePort): void {
    const tap = openMirrorTap(session, bp.port.name, `${this.name} ${formatVlanConfig(bp.vlan.config)}`);
    if (tap !== null) bp.taps = [...bp.taps, tap];
  }

  private mustPort(name: string): BridgePort {
    const bp = this.byName.get(name);
    if (bp === undefined) throw new Error(`bridge ${this.name} has no port named ${name}`);
    return bp;
  }

  private rebuildMembers(): void {
    this.dp.rebuildMembers(this.list);
  }
}
