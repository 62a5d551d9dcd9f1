/**
 * The lab's own names: the records wirelab's DNS server answers with
 * authority, as Docker's embedded DNS answers for containers.
 *
 * Every host is known by its name, each of its aliases, `name.<network>`
 * and `name.<domain>`; several hosts sharing a name (an alias of a scaled
 * service) give several A records whose order rotates on every query. The
 * lab's domains are the configured domain plus every network name: a name
 * under one of them that nobody has is NXDOMAIN, an existing name asked for
 * another type (AAAA, MX, ...) is NODATA, both with the domain's SOA in the
 * authority section so resolvers cache the negative answer (RFC 2308). PTR
 * records map each address back to `name.<network>` (Docker's form). Names
 * outside the lab (and unknown single-label names, as Docker does) are not
 * the zone's: the server forwards them.
 *
 * Hand-written: a few maps kept in step with the containers that come and go.
 */
import type { Answer, Question } from 'dns-packet';
import { formatIPv4, parseIPv4, type IPv4Address } from '../wire/address.js';
import { canonicalName } from './message.js';

export interface HostRecordOptions {
  /** Other names the host answers to on its network (`--network-alias`). */
  aliases?: readonly string[];
  /** The network's name: adds `name.<network>` and makes `<network>` a lab domain. */
  network?: string;
}

export interface LabZoneOptions {
  /** The lab's domain; `name.<domain>` resolves for every host. Default 'wirelab'. */
  domain?: string;
  /** TTL of A and PTR answers, seconds. Default 600 (Docker's). */
  ttl?: number;
  /** SOA minimum and TTL: how long resolvers cache NXDOMAIN/NODATA, seconds. Default 60. */
  negativeTtl?: number;
}

/** One host as added: JSON-able. */
export interface HostRecord {
  name: string;
  address: string;
  aliases: string[];
  network: string | undefined;
}

export type ZoneAnswer =
  | { kind: 'answer'; answers: Answer[] }
  | { kind: 'nodata'; authority: Answer[] }
  | { kind: 'nxdomain'; authority: Answer[] }
  /** Not a lab name: forward it. */
  | { kind: 'outside' };

interface NameEntry {
  addresses: IPv4Address[];
  /** Advanced on every answer: round robin. */
  rotation: number;
}

interface Host {
  name: string;
  address: IPv4Address;
  aliases: string[];
  network: string | undefined;
}

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** A host name, alias, network or domain: letters, digits, '-' and '_' in labels of 1-63, 253 in all. */
export function checkDnsName(kind: string, text: string): string {
  const n = canonicalName(text);
  if (n === '.' || n.length > 253) throw new Error(`DNS ${kind} "${text}" must be 1 to 253 characters`);
  for (const label of n.split('.')) {
    if (!LABEL.test(label)) {
      throw new Error(`DNS ${kind} "${text}": label "${label}" must be 1-63 letters, digits, '-' or '_', not starting or ending with '-'`);
    }
  }
  return n;
}

export class LabZone {
  readonly domain: string;
  readonly ttl: number;
  readonly negativeTtl: number;
  private readonly hostList: Host[] = [];
  private names = new Map<string, NameEntry>();
  private reverse = new Map<IPv4Address, string>();
  private domains = new Set<string>();
  private serial = 1;

  constructor(opts: LabZoneOptions = {}) {
    this.domain = checkDnsName('domain', opts.domain ?? 'wirelab');
    this.ttl = checkTtl('ttl', opts.ttl ?? 600);
    this.negativeTtl = checkTtl('negativeTtl', opts.negativeTtl ?? 60);
    this.rebuild();
  }

  /** Adds a host's records. The same name may be added again on another network or address. */
  addHost(name: string, address: string, opts: HostRecordOptions = {}): void {
    const host: Host = {
      name: checkDnsName('host name', name),
      address: parseIPv4(address),
      aliases: (opts.aliases ?? []).map((a) => checkDnsName('alias', a)),
      network: opts.network === undefined ? undefined : checkDnsName('network', opts.network),
    };
    const same = this.hostList.findIndex((h) => h.name === host.name && h.network === host.network && h.address === host.address);
    if (same >= 0) this.hostList.splice(same, 1);
    this.hostList.push(host);
    this.rebuild();
  }

  /** Removes a host's records (only those on `network` when given). Returns how many hosts went. */
  removeHost(name: string, opts: { network?: string } = {}): number {
    const n = canonicalName(name);
    const net = opts.network === undefined ? undefined : canonicalName(opts.network);
    const before = this.hostList.length;
    for (let i = this.hostList.length - 1; i >= 0; i--) {
      const h = this.hostList[i]!;
      if (h.name === n && (net === undefined || h.network === net)) this.hostList.splice(i, 1);
    }
    const removed = before - this.hostList.length;
    if (removed > 0) this.rebuild();
    return removed;
  }

  /** Every host, as added. */
  hosts(): HostRecord[] {
    return this.hostList.map((h) => ({ name: h.name, address: formatIPv4(h.address), aliases: [...h.aliases], network: h.network }));
  }

  /** Every name the zone answers for, with its addresses in their current order. */
  entries(): Array<{ name: string; addresses: string[] }> {
    return [...this.names].map(([name, e]) => ({ name, addresses: e.addresses.map(formatIPv4) }));
  }

  /** The zone as a table: every name with its addresses in answer order (like `docker network inspect`'s view of names). */
  format(): string {
    const rows = this.entries().map((e) => [e.name, e.addresses.join(', ')] as const);
    const width = Math.max(4, ...rows.map((r) => r[0].length));
    return [`${'NAME'.padEnd(width)}  ADDRESSES`, ...rows.map(([n, a]) => `${n.padEnd(width)}  ${a}`)].join('\n');
  }

  /** True when `name` is a lab domain or under one. */
  inDomain(name: string): boolean {
    return this.domainOf(canonicalName(name)) !== undefined;
  }

  /** The answer for one question (class IN assumed by the caller). */
  resolve(q: Question): ZoneAnswer {
    const name = canonicalName(q.name);
    if (q.type === 'PTR') return this.resolvePtr(q.name, name);
    const entry = this.names.get(name);
    const domain = this.domainOf(name);
    if (entry !== undefined) {
      if (q.type !== 'A' && (q.type as string) !== 'ANY') return { kind: 'nodata', authority: [this.soa(domain ?? this.domain)] };
      const n = entry.addresses.length;
      const first = entry.rotation++ % n;
      const answers: Answer[] = [];
      for (let i = 0; i < n; i++) {
        answers.push({ type: 'A', name: q.name, ttl: this.ttl, class: 'IN', data: formatIPv4(entry.addresses[(first + i) % n]!) });
      }
      return { kind: 'answer', answers };
    }
    if (domain === undefined) return { kind: 'outside' };
    // The apex itself exists (it has the SOA); anything else under the domain does not.
    if (name === domain) return { kind: 'nodata', authority: [this.soa(domain)] };
    return { kind: 'nxdomain', authority: [this.soa(domain)] };
  }

  private resolvePtr(asked: string, name: string): ZoneAnswer {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(name);
    if (m === null) return this.names.has(name) || this.domainOf(name) !== undefined ? { kind: 'nodata', authority: [this.soa(this.domainOf(name) ?? this.domain)] } : { kind: 'outside' };
    const octets = [m[4], m[3], m[2], m[1]].map(Number);
    if (octets.some((o) => o > 255)) return { kind: 'outside' };
    const address = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
    const target = this.reverse.get(address);
    if (target === undefined) return { kind: 'outside' };
    return { kind: 'answer', answers: [{ type: 'PTR', name: asked, ttl: this.ttl, class: 'IN', data: target }] };
  }

  private domainOf(name: string): string | undefined {
    for (const d of this.domains) if (name === d || name.endsWith(`.${d}`)) return d;
    return undefined;
  }

  private soa(domain: string): Answer {
    return {
      type: 'SOA',
      name: domain,
      ttl: this.negativeTtl,
      class: 'IN',
      data: {
        mname: `ns.${domain}`,
        rname: `hostmaster.${domain}`,
        serial: this.serial,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: this.negativeTtl,
      },
    };
  }

  /** Recomputes the name and reverse maps, keeping each surviving name's rotation. */
  private rebuild(): void {
    const names = new Map<string, NameEntry>();
    const reverse = new Map<IPv4Address, string>();
    const domains = new Set<string>([this.domain]);
    const add = (name: string, address: IPv4Address): void => {
      let e = names.get(name);
      if (e === undefined) names.set(name, (e = { addresses: [], rotation: this.names.get(name)?.rotation ?? 0 }));
      if (!e.addresses.includes(address)) e.addresses.push(address);
    };
    for (const h of this.hostList) {
      add(h.name, h.address);
      add(`${h.name}.${this.domain}`, h.address);
      for (const a of h.aliases) add(a, h.address);
      if (h.network !== undefined) {
        domains.add(h.network);
        add(`${h.name}.${h.network}`, h.address);
        for (const a of h.aliases) add(`${a}.${h.network}`, h.address);
      }
      if (!reverse.has(h.address)) reverse.set(h.address, h.network !== undefined ? `${h.name}.${h.network}` : `${h.name}.${this.domain}`);
    }
    this.names = names;
    this.reverse = reverse;
    this.domains = domains;
    this.serial++;
  }
}

function checkTtl(what: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new Error(`DNS ${what} ${v} must be an integer number of seconds 0..2147483647`);
  return v;
}
