/**
 * The NAT of one wirelab router: netfilter's nat table on top of conntrack,
 * hooked into ip/ through IpHooks (PREROUTING: DNAT of published ports and
 * de-SNAT of replies; POSTROUTING: masquerade, hairpin SNAT, and this
 * host's own output). Rules are consulted once, for a flow's first packet;
 * every later packet is a table lookup by numbers and an in-place rewrite
 * with incremental checksums (./rewrite.ts).
 *
 *   router.nat.masquerade('eth1', { portRange: [1024, 65535] });
 *   const web = router.nat.publish({ protocol: 'tcp', port: 8080, toAddress: '172.30.0.2', toPort: 80 });
 *   console.log(router.nat.conntrack.format());
 *   web.close();
 *
 * Hairpin (Docker's --userland-proxy=false): a flow DNAT'ed back out of the
 * interface it came in on also gets SNAT to the router's address there, so
 * the sibling's reply returns through the router to be un-translated.
 *
 * Bad input never throws here: malformed or out-of-window packets, a full
 * table and an exhausted port range are counters in `stats` (and a
 * rate-limited log line for the two refusals).
 */
import type { IpHooks, IpLayer } from '../ip/ipv4.js';
import type { NetInterface } from '../ip/interface.js';
import { VNET_HDR_F_NEEDS_CSUM } from '../link/vnet-hdr.js';
import type { Clock } from '../time/index.js';
import { formatIPv4, type IPv4Address } from '../wire/address.js';
import { IP_PROTOCOL } from '../wire/ipv4.js';
import { Conntrack, VERDICT, type ConntrackOptions, type ConntrackStats } from './conntrack.js';
import { CT_STATUS, type ConnEntry, type TupleNode } from './entry.js';
import { protocolName } from './format.js';
import { newPacketInfo, parsePacket, PKT, type PacketInfo } from './packet.js';
import { choosePort, defaultRange } from './ports.js';
import { RELATED, translateRelated } from './related.js';
import { newQuotedTuple, rewriteEndpoint, type QuotedTuple } from './rewrite.js';
import {
  checkPortRange, describeMapping, makeMapping, PublishedPorts,
  type MasqueradeOptions, type MasqueradeRule, type NatHandle, type PublishedPort, type PublishOptions,
} from './rules.js';

export interface NatOptions {
  /** Router name for log lines. */
  name?: string;
  /** Where refusals are logged (one line, rate-limited). Default console.warn. */
  log?: (line: string) => void;
  conntrack?: ConntrackOptions;
}

export interface NatCounters {
  /** Flows given a new source (masquerade or hairpin). */
  snat: number;
  /** Flows sent to a published port's container. */
  dnat: number;
  /** Flows that were both (a container reaching a sibling through the published address). */
  hairpin: number;
  /** Packets rewritten (address or port). */
  translated: number;
  /** ICMP errors whose quoted header and outer addresses were translated. */
  icmpErrorsTranslated: number;
  /** ICMP errors quoting no tracked flow (passed unchanged). */
  icmpErrorsUnmatched: number;
  /** Packets of no protocol conntrack follows (passed untracked). */
  untracked: number;
  /** New flows refused, by reason: tableFull, portExhausted, dnatClash. */
  refused: Record<string, number>;
  /** Packets dropped as invalid for their entry (bad TCP state or out of window). */
  droppedInvalid: number;
}

export interface NatStats extends NatCounters {
  conntrack: ConntrackStats;
}

export interface PortUsage {
  /** NAT ports held by translated flows, per protocol, with how many flows share each. */
  tcp: { inUse: number; ports: Record<number, number> };
  udp: { inUse: number; ports: Record<number, number> };
  icmp: { inUse: number; ports: Record<number, number> };
  /** Published ports (DNAT mappings). */
  published: string[];
}

/** One log line per reason at most every 10 s, with how many were suppressed. */
const LOG_INTERVAL_MS = 10_000;

export class NatLayer implements IpHooks {
  readonly conntrack: Conntrack;
  readonly counters: NatCounters = {
    snat: 0, dnat: 0, hairpin: 0, translated: 0, icmpErrorsTranslated: 0, icmpErrorsUnmatched: 0, untracked: 0,
    refused: {}, droppedInvalid: 0,
  };
  private readonly masq = new Map<string, MasqueradeRule>();
  private readonly published = new PublishedPorts();
  private nextMappingId = 1;
  private readonly usage = new Map<number, Map<number, number>>();
  private readonly p: PacketInfo = newPacketInfo();
  private readonly q: QuotedTuple = newQuotedTuple();
  /** The entry node of the datagram PREROUTING just passed, for its POSTROUTING if it is forwarded. */
  private forwardedNode: TupleNode | null = null;
  private readonly name: string;
  private readonly log: (line: string) => void;
  private readonly lastLog = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly ip: IpLayer,
    private readonly clock: Clock,
    opts: NatOptions = {},
  ) {
    this.name = opts.name ?? 'router';
    this.log = opts.log ?? ((line) => console.warn(line));
    this.conntrack = new Conntrack(clock, opts.conntrack);
    this.conntrack.table.onRemove = (e) => this.release(e);
  }

  /** Hooks the NAT (and conntrack) into the router's IP layer. Done by masquerade() and publish(). */
  enable(): void {
    this.ip.hooks = this;
  }

  /** Unhooks it: packets pass untouched again (entries stay until flushed or expired). */
  disable(): void {
    if (this.ip.hooks === this) this.ip.hooks = null;
  }

  get enabled(): boolean {
    return this.ip.hooks === this;
  }

  get stats(): NatStats {
    return { ...this.counters, conntrack: this.conntrack.stats };
  }

  /** `iptables -t nat -A POSTROUTING -o <uplink> -j MASQUERADE [--to-ports lo-hi]`. */
  masquerade(uplink: string, opts: MasqueradeOptions = {}): NatHandle {
    if (this.ip.interfaceByName(uplink) === undefined) {
      throw Object.assign(new Error(`masquerade: no interface ${uplink} on ${this.name}`), { code: 'ENODEV' });
    }
    const rule: MasqueradeRule = { uplink, portRange: opts.portRange ? checkPortRange(opts.portRange) : undefined };
    this.masq.set(uplink, rule);
    this.enable();
    return { close: () => { if (this.masq.get(uplink) === rule) this.masq.delete(uplink); } };
  }

  /**
   * Publishes a port (DNAT): new flows to the router's address (or the
   * uplink's, or `address`) on `port` go to `toAddress`:`toPort`, keeping
   * the client's source address. Throws EADDRINUSE naming the owner of a
   * mapping it overlaps, EINVAL for bad numbers, ENODEV for a bad uplink.
   */
  publish(opts: PublishOptions): NatHandle & { readonly mapping: PublishedPort } {
    if (opts.uplink !== undefined && this.ip.interfaceByName(opts.uplink) === undefined) {
      throw Object.assign(new Error(`publish: no interface ${opts.uplink} on ${this.name}`), { code: 'ENODEV' });
    }
    const m = makeMapping(this.nextMappingId++, opts);
    this.published.add(m, (dev) => this.ip.interfaceByName(dev)?.addresses.map((a) => a.address) ?? []);
    this.enable();
    return { mapping: m, close: () => this.published.remove(m) };
  }

  /** Published ports, as `docker port` would list them. */
  mappings(): PublishedPort[] {
    return this.published.list();
  }

  portUsage(): PortUsage {
    const of = (proto: number) => {
      const m = this.usage.get(proto);
      const ports: Record<number, number> = {};
      if (m) for (const [port, n] of m) ports[port] = n;
      return { inUse: m?.size ?? 0, ports };
    };
    return {
      tcp: of(IP_PROTOCOL.TCP), udp: of(IP_PROTOCOL.UDP), icmp: of(IP_PROTOCOL.ICMP),
      published: this.published.list().map(describeMapping),
    };
  }

  toJSON(): Record<string, unknown> {
    return {
      enabled: this.enabled,
      masquerade: [...this.masq.values()],
      published: this.published.list().map((m) => ({ ...m, toAddress: formatIPv4(m.toAddress), address: m.address === 0 ? '0.0.0.0' : formatIPv4(m.address) })),
      portUsage: this.portUsage(),
      stats: this.stats,
      conntrack: this.conntrack.toJSON(),
    };
  }

  // ---- hooks -------------------------------------------------------------

  /** The verdict of the last `findAndUpdate` (a field, not an object per packet). */
  private verdict: number = VERDICT.ACCEPT;

  /**
   * The parsed packet's entry, updated by it: the node it matched, null when
   * there is none (or a REPEAT — a new connection reusing an old tuple —
   * removed the old one), false when the update says drop. The verdict is
   * left in `this.verdict`. Shared by both hooks.
   */
  private findAndUpdate(b: Uint8Array, off: number, len: number): TupleNode | null | false {
    const p = this.p;
    this.verdict = VERDICT.ACCEPT;
    const node = this.conntrack.find(p);
    if (node === null) return null;
    this.verdict = this.conntrack.update(node, p, b, off, len);
    if (this.verdict === VERDICT.DROP) return false;
    if (this.verdict === VERDICT.REPEAT) {
      this.conntrack.delete(node.entry);
      return null;
    }
    return node;
  }

  prerouting(b: Uint8Array, off: number, len: number, ingress: NetInterface, vnetOff: number): boolean {
    const p = this.p;
    this.forwardedNode = null;
    const kind = parsePacket(b, off, len, p);
    if (kind === PKT.ICMP_ERROR) return this.relatedError(b, off, len);
    if (kind !== PKT.TRACKABLE) return this.untracked(kind);
    let node = this.findAndUpdate(b, off, len);
    if (node === false) return this.invalidDrop();
    const verdict = this.verdict;
    if (node === null) {
      const e = this.newEntry(b, off, ingress.index);
      if (e === 'pass') return true;
      if (e === null) return false;
      this.dnatDecision(e, p);
      if (e.has(CT_STATUS.DYING)) return false;
      this.conntrack.insert(e);
      e.packets[0]!++;
      e.bytes[0]! += len;
      node = e.orig;
    }
    const e = node.entry;
    if (node.dir === 0 ? e.has(CT_STATUS.DST_NAT) : e.has(CT_STATUS.SRC_NAT)) {
      const other = node.dir === 0 ? e.reply : e.orig;
      rewriteEndpoint(b, off, p.hl, p.protocol, false, other.src, other.sport, this.partial(b, vnetOff, p.protocol), p.l4Len);
      this.counters.translated++;
    }
    if (verdict === VERDICT.ACCEPT_KILL) this.conntrack.delete(e);
    this.forwardedNode = node;
    return true;
  }

  postrouting(b: Uint8Array, off: number, len: number, egress: NetInterface, ingress: NetInterface | undefined, vnetOff: number): boolean {
    const p = this.p;
    const kind = parsePacket(b, off, len, p);
    if (kind === PKT.ICMP_ERROR) return ingress === undefined ? this.relatedError(b, off, len) : true;
    if (kind !== PKT.TRACKABLE) return ingress === undefined ? this.untracked(kind) : true;
    let node: TupleNode | null;
    let verdict: number = VERDICT.ACCEPT;
    if (ingress !== undefined) {
      // Forwarded: PREROUTING found or made the entry and updated it just
      // before (ip/ forwards synchronously), as Linux keeps skb->_nfct.
      node = this.forwardedNode;
      this.forwardedNode = null;
      if (node === null) return true; // untracked (invalid at PREROUTING)
    } else {
      const found = this.findAndUpdate(b, off, len);
      if (found === false) return this.invalidDrop();
      node = found;
      verdict = this.verdict;
      if (node === null) {
        const e = this.newEntry(b, off, 0);
        if (e === 'pass') return true;
        if (e === null) return false;
        e.status |= CT_STATUS.DST_NAT_DONE;
        this.conntrack.insert(e);
        e.packets[0]!++;
        e.bytes[0]! += len;
        node = e.orig;
      }
    }
    const e = node.entry;
    if (node.dir === 0 && !e.has(CT_STATUS.SRC_NAT_DONE)) {
      if (!this.snatDecision(e, egress, p)) {
        this.conntrack.delete(e);
        return false;
      }
    }
    if (node.dir === 0 ? e.has(CT_STATUS.SRC_NAT) : e.has(CT_STATUS.DST_NAT)) {
      const other = node.dir === 0 ? e.reply : e.orig;
      const port = p.protocol === IP_PROTOCOL.ICMP ? other.sport : other.dport;
      rewriteEndpoint(b, off, p.hl, p.protocol, true, other.dst, port, this.partial(b, vnetOff, p.protocol), p.l4Len);
      this.counters.translated++;
    }
    if (verdict === VERDICT.ACCEPT_KILL) this.conntrack.delete(e);
    return true;
  }

  // ---- internals -----------------------------------------------------------

  private partial(b: Uint8Array, vnetOff: number, protocol: number): boolean {
    return vnetOff >= 0 && protocol === IP_PROTOCOL.TCP && (b[vnetOff]! & VNET_HDR_F_NEEDS_CSUM) !== 0;
  }

  private untracked(kind: number): boolean {
    if (kind === PKT.MALFORMED) this.conntrack.countInvalid('malformed');
    else this.counters.untracked++;
    return true;
  }

  private invalidDrop(): boolean {
    this.counters.droppedInvalid++;
    return false;
  }

  private refuse(reason: string, line: string): void {
    this.counters.refused[reason] = (this.counters.refused[reason] ?? 0) + 1;
    const now = this.clock.now();
    const last = this.lastLog.get(reason);
    if (last !== undefined && now - last.at < LOG_INTERVAL_MS) {
      last.suppressed++;
      return;
    }
    const more = last !== undefined && last.suppressed > 0 ? ` (${last.suppressed} more since the last report)` : '';
    this.lastLog.set(reason, { at: now, suppressed: 0 });
    this.log(`wirelab nat ${this.name}: ${line}${more}`);
  }

  /** A new entry for the packet in `this.p`; 'pass' when it cannot open a flow (counted invalid), null when refused. */
  private newEntry(b: Uint8Array, off: number, ingressIndex: number): ConnEntry | 'pass' | null {
    const p = this.p;
    const e = this.conntrack.create(p, b, off);
    if (e === 'invalid') return 'pass';
    if (e === null) {
      this.refuse('tableFull', `conntrack table full (${this.conntrack.maxEntries} entries), dropping the first packet of ${protocolName(p.protocol)} ${formatIPv4(p.src)} -> ${formatIPv4(p.dst)}`);
      return null;
    }
    e.ingressIndex = ingressIndex;
    return e;
  }

  private isMine = (m: PublishedPort, dst: IPv4Address): boolean => {
    if (m.address !== 0) return m.address === dst;
    if (m.uplink !== undefined) return this.ip.interfaceByName(m.uplink)?.hasAddress(dst) ?? false;
    return this.ip.isLocalAddress(dst);
  };

  private dnatDecision(e: ConnEntry, p: PacketInfo): void {
    e.status |= CT_STATUS.DST_NAT_DONE;
    if (p.protocol !== IP_PROTOCOL.TCP && p.protocol !== IP_PROTOCOL.UDP) return;
    if (this.published.size === 0) return;
    const m = this.published.match(p.protocol, p.dport, p.dst, this.isMine);
    if (m === undefined) return;
    const toPort = m.toPort + (p.dport - m.port);
    if (this.conntrack.table.taken(p.protocol, m.toAddress, p.src, toPort, p.sport)) {
      e.status |= CT_STATUS.DYING;
      this.refuse('dnatClash', `${protocolName(p.protocol)} ${formatIPv4(p.src)}:${p.sport} -> ${formatIPv4(m.toAddress)}:${toPort} is already tracked; dropping`);
      return;
    }
    e.reply.set(m.toAddress, p.src, toPort, p.sport);
    e.status |= CT_STATUS.DST_NAT;
    e.mappingId = m.id;
    this.counters.dnat++;
  }

  /** Masquerade or hairpin SNAT for a flow's first packet out of `egress`; false when no port is free. */
  private snatDecision(e: ConnEntry, egress: NetInterface, p: PacketInfo): boolean {
    e.status |= CT_STATUS.SRC_NAT_DONE;
    let natAddr: IPv4Address | undefined;
    let range: readonly [number, number] | undefined;
    const hairpin = e.has(CT_STATUS.DST_NAT) && e.ingressIndex === egress.index;
    if (hairpin) {
      natAddr = egress.sourceFor(e.reply.src);
    } else {
      const rule = this.masq.get(egress.name);
      if (rule === undefined) return true;
      natAddr = egress.sourceFor(p.dst);
      range = rule.portRange;
    }
    if (natAddr === undefined) return true;
    const icmp = e.protocol === IP_PROTOCOL.ICMP;
    const preferred = e.orig.sport;
    const r = icmp || range === undefined ? defaultRange(e.protocol, preferred) : range;
    const port = choosePort(this.conntrack.table, e, natAddr, preferred, r);
    if (port < 0) {
      this.refuse(
        'portExhausted',
        `no free ${protocolName(e.protocol)} ${icmp ? 'identifier' : 'port'} in ${r[0]}-${r[1]} on ${formatIPv4(natAddr)} for ${formatIPv4(e.orig.src)}:${e.orig.sport} -> ${formatIPv4(e.orig.dst)}:${e.orig.dport}; dropping the flow's first packet`,
      );
      return false;
    }
    const rep = e.reply;
    const current = icmp ? rep.sport : rep.dport;
    if (natAddr !== rep.dst || port !== current) {
      if (icmp) this.conntrack.table.retuple(rep, rep.src, natAddr, port, rep.dport);
      else this.conntrack.table.retuple(rep, rep.src, natAddr, rep.sport, port);
      e.status |= CT_STATUS.SRC_NAT;
      this.counters.snat++;
      if (hairpin) this.counters.hairpin++;
      this.hold(e, port);
    }
    return true;
  }

  private hold(e: ConnEntry, port: number): void {
    let m = this.usage.get(e.protocol);
    if (m === undefined) this.usage.set(e.protocol, (m = new Map()));
    m.set(port, (m.get(port) ?? 0) + 1);
    e.heldPort = port;
  }

  private release(e: ConnEntry): void {
    if (e.heldPort < 0) return;
    const m = this.usage.get(e.protocol);
    const n = m?.get(e.heldPort) ?? 0;
    if (n <= 1) m?.delete(e.heldPort);
    else m!.set(e.heldPort, n - 1);
    e.heldPort = -1;
  }

  /** An ICMP error (RELATED to a flow): translated by ./related.ts; always passed. */
  private relatedError(b: Uint8Array, off: number, len: number): boolean {
    const r = translateRelated(this.conntrack, b, off, len, this.q);
    if (r === RELATED.TRANSLATED) this.counters.icmpErrorsTranslated++;
    else if (r === RELATED.UNMATCHED) this.counters.icmpErrorsUnmatched++;
    return true;
  }
}
