/**
 * A schema-valid lab file → the LabModel: defaults filled in, addresses
 * allocated, names resolved, services in dependency order. Every problem that
 * needs more than one field to see (an address outside its subnet, two
 * services on one host port, a dependency cycle…) is reported through
 * `report` with the path of the node at fault; the caller turns the path
 * into a line and column and throws once everything has been checked.
 *
 * Defaults (compose's unless noted):
 * - lab name: the file's directory name, lowercased, other characters dropped;
 * - a network without `ipam` gets 10.88.N.0/24, N = 0, 1, … counting such
 *   networks in file order and skipping any /24 a declared subnet overlaps
 *   (wirelab's own pool: Docker's default pools are 172.17-31 and 192.168);
 * - gateway: the subnet's first host address; mtu 1500; dns true;
 * - a service without `networks` joins the lab's only network;
 * - addresses not written are allocated in file order from the first free
 *   host address (skipping the gateway and every static address), as Docker's
 *   IPAM does;
 * - depends_on condition: service_started;
 * - healthcheck: interval 30s, timeout 30s, retries 3, start_period 0s.
 */
import { PortSpecError, expandPortSpec, parsePortSpec, type PortMapping } from '../../nat/portspec.js';
import type { DependencyCondition, HealthcheckModel, LabModel, NetworkModel, ServiceModel } from './model.js';
import { LAB_NAME_PATTERN, type LabFile, type NetworkFile, type ServiceFile } from './schema.js';

type PathSegment = string | number;

/** Reports one problem at a path of the file; `atKey` points at the key rather than its value. */
export type Report = (path: readonly PathSegment[], message: string, options?: { atKey?: boolean }) => void;

export interface NormalizeContext {
  /** The file as given (the model's `file`). */
  file: string;
  /** The default lab name comes from it. */
  directoryName: string;
  report: Report;
  /**
   * The keys of the map at a path in the order the file writes them (a JS
   * object puts integer-like keys such as "10" first); without it, object order.
   */
  keysInFileOrder?: (path: readonly PathSegment[]) => string[];
  /**
   * When the schema rejected some services or networks, `file` holds only the
   * valid ones and these list every name the file declares, so a reference
   * to a rejected one is not reported a second time as unknown.
   */
  alsoDeclared?: { services: string[]; networks: string[] };
}

/** A map's entries in file order. */
function inFileOrder<T>(obj: Record<string, T>, path: readonly PathSegment[], ctx: NormalizeContext): Array<[string, T]> {
  const entries = Object.entries(obj);
  const order = ctx.keysInFileOrder?.(path);
  if (order === undefined) return entries;
  const rank = (k: string): number => {
    const i = order.indexOf(k);
    return i < 0 ? order.length : i;
  };
  return entries.sort((a, b) => rank(a[0]) - rank(b[0]));
}

const DEFAULT_MTU = 1500;
const DEFAULT_INTERVAL_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_RETRIES = 3;
/** wirelab's pool for networks without ipam: 10.88.N.0/24. */
const AUTO_POOL_BASE = ipToInt('10.88.0.0');

export function normalizeLab(file: LabFile, ctx: NormalizeContext): LabModel {
  const { report } = ctx;
  const name = file.name ?? defaultLabName(ctx.directoryName, report);

  const serviceEntries = inFileOrder(file.services, ['services'], ctx);
  const networkEntries = inFileOrder(file.networks ?? {}, ['networks'], ctx);
  const networks = normalizeNetworks(networkEntries, report);
  const byNetwork = new Map(networks.map((n) => [n.model.name, n]));
  const declaredNetworks = ctx.alsoDeclared?.networks ?? networkEntries.map(([n]) => n);
  const serviceNames = ctx.alsoDeclared?.services ?? serviceEntries.map(([n]) => n);

  // First pass: each service's network, static address and aliases.
  const attachments = new Map<string, { network: NetState; staticAddress: number | undefined; aliases: string[] } | undefined>();
  for (const [svc, def] of serviceEntries) {
    attachments.set(svc, attachService(svc, def, declaredNetworks, byNetwork, report));
  }
  // Statics are reserved before anything is allocated.
  for (const [svc, att] of attachments) {
    if (att?.staticAddress === undefined) continue;
    const path = ['services', svc, 'networks', att.network.model.name, 'ipv4_address'];
    const other = att.network.used.get(att.staticAddress);
    if (other !== undefined) {
      report(path, `${intToIp(att.staticAddress)} is already ${other === '' ? "the network's gateway" : `the address of service ${other}`}`);
      continue;
    }
    att.network.used.set(att.staticAddress, svc);
  }
  const addresses = new Map<string, string>();
  for (const [svc, att] of attachments) {
    if (att === undefined) continue;
    if (att.staticAddress !== undefined) {
      addresses.set(svc, intToIp(att.staticAddress));
      continue;
    }
    const a = allocate(att.network, svc);
    if (a === undefined) {
      const n = att.network.model;
      report(['services', svc], `network ${n.name} (${n.subnet}) has no free address left for this service`);
      continue;
    }
    addresses.set(svc, intToIp(a));
  }

  checkPortClashes(serviceEntries, report);

  const services = new Map<string, ServiceModel>();
  for (const [svc, def] of serviceEntries) {
    const att = attachments.get(svc);
    services.set(svc, {
      name: svc,
      command: normalizeCommand(def.command, ['services', svc, 'command'], report),
      environment: normalizeEnvironment(def.environment, ['services', svc, 'environment'], report),
      networks:
        att === undefined
          ? []
          : [{ network: att.network.model.name, ipv4Address: addresses.get(svc) ?? '', aliases: att.aliases }],
      ports: (def.ports ?? []).map((p) => String(p)),
      dependsOn: normalizeDependsOn(svc, def, serviceNames, report),
      healthcheck: normalizeHealthcheck(def.healthcheck, ['services', svc, 'healthcheck'], report),
    });
  }
  for (const s of services.values()) {
    for (const [i, d] of s.dependsOn.entries()) {
      const target = services.get(d.service);
      if (target !== undefined && d.condition === 'service_healthy' && target.healthcheck === undefined) {
        const def = file.services[s.name]?.depends_on;
        const path = Array.isArray(def) ? ['services', s.name, 'depends_on', i] : ['services', s.name, 'depends_on', d.service, 'condition'];
        report(path, `service ${d.service} has no healthcheck, so it can never be service_healthy`);
      }
    }
  }

  return { name, file: ctx.file, networks: networks.map((n) => n.model), services: dependencyOrder(services, report) };
}

function defaultLabName(directoryName: string, report: Report): string {
  // As compose normalizes a project name taken from a directory.
  const name = directoryName.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[_-]+/, '');
  if (!LAB_NAME_PATTERN.test(name)) {
    report([], `the lab has no name: write name: (the directory name "${directoryName}" has no letters or digits to use)`);
    return 'lab';
  }
  return name;
}

// ---- networks --------------------------------------------------------------

interface NetState {
  model: NetworkModel;
  base: number;
  prefix: number;
  /** address → service name ('' for the gateway). */
  used: Map<number, string>;
  /** Next candidate for allocation. */
  next: number;
}

function normalizeNetworks(defs: Array<[string, NetworkFile | null]>, report: Report): NetState[] {
  const out: NetState[] = [];
  const declared: Array<{ name: string; base: number; prefix: number }> = [];
  // Declared subnets first, so automatic ones can avoid them.
  for (const [name, def] of defs) {
    const cfg = def?.ipam?.config[0];
    if (cfg === undefined) continue;
    const path = ['networks', name, 'ipam', 'config', 0, 'subnet'];
    const [ip, prefixText] = cfg.subnet.split('/') as [string, string];
    const prefix = Number(prefixText);
    const addr = ipToInt(ip);
    const base = addr & maskOf(prefix);
    if ((base >>> 0) !== addr) {
      report(path, `"${cfg.subnet}" has host bits set: the subnet is ${intToIp(base)}/${prefix}`);
      continue;
    }
    if (prefix > 30) {
      report(path, `"${cfg.subnet}" is too small: a network needs room for a gateway and a container (at most /30)`);
      continue;
    }
    const clash = declared.find((d) => overlaps(d.base, d.prefix, base, prefix));
    if (clash !== undefined) {
      report(path, `"${cfg.subnet}" overlaps network ${clash.name}'s subnet ${intToIp(clash.base)}/${clash.prefix}`);
      continue;
    }
    declared.push({ name, base: base >>> 0, prefix });
  }
  let auto = 0;
  for (const [name, def] of defs) {
    const mtu = def?.mtu ?? DEFAULT_MTU;
    const dns = def?.dns ?? true;
    const cfg = def?.ipam?.config[0];
    let base: number;
    let prefix: number;
    let gateway: number;
    if (cfg === undefined) {
      // No ipam: 10.88.N.0/24, N counting in file order, skipping declared subnets.
      for (;;) {
        const candidate = (AUTO_POOL_BASE + auto * 256) >>> 0;
        auto++;
        if (!declared.some((d) => overlaps(d.base, d.prefix, candidate, 24))) {
          base = candidate;
          break;
        }
      }
      prefix = 24;
      gateway = base + 1;
    } else {
      const d = declared.find((x) => x.name === name);
      if (d === undefined) continue; // its subnet was reported
      base = d.base;
      prefix = d.prefix;
      gateway = base + 1;
      if (cfg.gateway !== undefined) {
        const g = ipToInt(cfg.gateway);
        const path = ['networks', name, 'ipam', 'config', 0, 'gateway'];
        const why = hostAddressProblem(g, base, prefix);
        if (why !== undefined) {
          report(path, `${cfg.gateway} ${why} ${intToIp(base)}/${prefix}`);
          continue;
        }
        gateway = g;
      }
    }
    out.push({
      model: { name, subnet: `${intToIp(base)}/${prefix}`, gateway: intToIp(gateway), mtu, dns },
      base,
      prefix,
      used: new Map([[gateway, '']]),
      next: base + 1,
    });
  }
  return out;
}

function allocate(net: NetState, svc: string): number | undefined {
  const broadcast = net.base + 2 ** (32 - net.prefix) - 1;
  for (let a = net.next; a < broadcast; a++) {
    if (!net.used.has(a)) {
      net.used.set(a, svc);
      net.next = a + 1;
      return a;
    }
  }
  return undefined;
}

/** Why `addr` is not a host address of base/prefix ("is outside"…), or undefined. */
function hostAddressProblem(addr: number, base: number, prefix: number): string | undefined {
  if (((addr & maskOf(prefix)) >>> 0) !== base) return 'is outside the subnet';
  if (addr === base) return 'is the network address of';
  if (addr === base + 2 ** (32 - prefix) - 1) return 'is the broadcast address of';
  return undefined;
}

function attachService(
  svc: string,
  def: ServiceFile,
  declared: string[],
  byNetwork: Map<string, NetState>,
  report: Report,
): { network: NetState; staticAddress: number | undefined; aliases: string[] } | undefined {
  // A declared network missing from byNetwork had its own problem reported: say nothing more here.
  const base = ['services', svc];
  const list = def.networks;
  if (list === undefined) {
    if (declared.length === 1) {
      const only = byNetwork.get(declared[0]!);
      return only === undefined ? undefined : { network: only, staticAddress: undefined, aliases: [] };
    }
    if (declared.length === 0) {
      report(base, 'the lab declares no network to join: add one under the top-level networks: (e.g. networks: { net: {} })');
    } else {
      report(base, `the lab has ${declared.length} networks (${declared.join(', ')}): say which one this service joins with networks:`);
    }
    return undefined;
  }
  const entries: Array<[string, { ipv4_address?: string | undefined; aliases?: string[] | undefined } | null, PathSegment]> = Array.isArray(list)
    ? list.map((n, i) => [n, null, i])
    : Object.entries(list).map(([n, v]) => [n, v, n]);
  const path = [...base, 'networks'];
  if (entries.length === 0) {
    report(path, 'lists no network: a service joins exactly one network');
    return undefined;
  }
  if (entries.length > 1) {
    report(path, `lists ${entries.length} networks (${entries.map((e) => e[0]).join(', ')}): this version joins a service to exactly one network`);
    return undefined;
  }
  const [netName, opts, seg] = entries[0]!;
  const net = byNetwork.get(netName);
  if (net === undefined) {
    if (!declared.includes(netName)) {
      report([...path, seg], `unknown network "${netName}" (${declaredList('networks', declared)})`, { atKey: true });
    }
    return undefined;
  }
  let staticAddress: number | undefined;
  if (opts?.ipv4_address !== undefined) {
    const a = ipToInt(opts.ipv4_address);
    const why = hostAddressProblem(a, net.base, net.prefix);
    if (why !== undefined) {
      report([...path, netName, 'ipv4_address'], `${opts.ipv4_address} ${why} ${net.model.subnet} of network ${netName}`);
      return undefined;
    }
    staticAddress = a;
  }
  return { network: net, staticAddress, aliases: opts?.aliases ?? [] };
}

function declaredList(what: string, names: string[]): string {
  return names.length === 0 ? `the lab declares no ${what}` : `declared: ${names.join(', ')}`;
}

// ---- ports ----------------------------------------------------------------

function checkPortClashes(services: Array<[string, ServiceFile]>, report: Report): void {
  const published: Array<{ m: PortMapping; where: string }> = [];
  for (const [svc, def] of services) {
    for (const [i, raw] of (def.ports ?? []).entries()) {
      const spec = String(raw);
      const path = ['services', svc, 'ports', i];
      let mappings: PortMapping[];
      try {
        mappings = expandPortSpec(parsePortSpec(spec));
      } catch (err) {
        report(path, err instanceof PortSpecError ? err.message : `"${spec}": ${String(err)}`);
        continue;
      }
      let clashed = false;
      for (const m of mappings) {
        if (m.hostPort === 0 || clashed) continue;
        const other = published.find(
          (p) =>
            p.m.protocol === m.protocol &&
            p.m.hostPort === m.hostPort &&
            (p.m.hostIp === m.hostIp || p.m.hostIp === '0.0.0.0' || m.hostIp === '0.0.0.0'),
        );
        if (other !== undefined) {
          report(path, `"${spec}": host port ${m.hostIp}:${m.hostPort}/${m.protocol} is already published by ${other.where}`);
          clashed = true;
        }
      }
      if (!clashed) for (const m of mappings) if (m.hostPort !== 0) published.push({ m, where: `services.${svc}.ports[${i}] ("${spec}")` });
    }
  }
}

// ---- command, environment, healthcheck -------------------------------------

function normalizeCommand(cmd: string | string[] | undefined, path: PathSegment[], report: Report): string[] | undefined {
  if (cmd === undefined) return undefined;
  if (Array.isArray(cmd)) {
    if (cmd.length === 0) report(path, 'is empty: leave command out for a container that only sleeps');
    return cmd;
  }
  const words = splitShellWords(cmd);
  if (typeof words === 'string') {
    report(path, words);
    return undefined;
  }
  if (words.length === 0) report(path, 'is empty: leave command out for a container that only sleeps');
  return words;
}

/**
 * Splits a command string as compose does (shell words, not a shell): blanks
 * separate words, '…' is literal, "…" honours \" \\ \$ \`, and a backslash
 * outside quotes escapes the next character. Returns a sentence on error.
 */
export function splitShellWords(text: string): string[] | string {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return 'has an unterminated \' quote';
      cur += text.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && j + 1 < text.length && '"\\$`'.includes(text[j + 1]!)) {
          cur += text[j + 1];
          j++;
        } else {
          cur += text[j];
        }
      }
      if (j >= text.length) return 'has an unterminated " quote';
      i = j;
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 < text.length) cur += text[++i];
      inWord = true;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

function normalizeEnvironment(
  env: Record<string, string | number | boolean> | string[] | undefined,
  path: PathSegment[],
  report: Report,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (env === undefined) return out;
  if (Array.isArray(env)) {
    for (const [i, item] of env.entries()) {
      const eq = item.indexOf('=');
      if (eq <= 0) {
        report([...path, i], `"${item}" must be KEY=value (wirelab does not pass the host's environment through)`);
        continue;
      }
      out[item.slice(0, eq)] = item.slice(eq + 1);
    }
    return out;
  }
  for (const [k, v] of Object.entries(env)) {
    if (k === '' || k.includes('=')) {
      report([...path, k], `"${k}" is not a variable name`, { atKey: true });
      continue;
    }
    out[k] = String(v);
  }
  return out;
}

function normalizeHealthcheck(hc: ServiceFile['healthcheck'], path: PathSegment[], report: Report): HealthcheckModel | undefined {
  if (hc === undefined || hc.disable === true) return undefined;
  let test: string[] | undefined;
  const t = hc.test;
  if (t === undefined) {
    report([...path], 'has no test: write test: ["CMD", …] (there is no image to inherit one from)');
    return undefined;
  }
  if (typeof t === 'string') {
    const cmd = t.startsWith('CMD-SHELL ') ? t.slice('CMD-SHELL '.length) : t;
    if (cmd.trim() === '') report([...path, 'test'], 'is empty');
    test = ['sh', '-c', cmd];
  } else {
    const [kind, ...rest] = t;
    if (kind === 'NONE') return undefined;
    if (kind === 'CMD') test = rest;
    else if (kind === 'CMD-SHELL') {
      if (rest.length !== 1) {
        report([...path, 'test'], 'CMD-SHELL takes exactly one string: ["CMD-SHELL", "command"]');
        return undefined;
      }
      test = ['sh', '-c', rest[0]!];
    } else {
      report([...path, 'test', 0], `must be "CMD", "CMD-SHELL" or "NONE", not ${JSON.stringify(kind ?? '')}`);
      return undefined;
    }
    if (test.length === 0) {
      report([...path, 'test'], 'has no command after "CMD"');
      return undefined;
    }
  }
  const ms = (key: 'interval' | 'timeout' | 'start_period', dflt: number, positive: boolean): number => {
    const v = hc[key];
    if (v === undefined) return dflt;
    const n = parseDuration(v);
    if (positive && n <= 0) report([...path, key], `must be more than 0, not ${v}`);
    return n;
  };
  return {
    test,
    intervalMs: ms('interval', DEFAULT_INTERVAL_MS, true),
    timeoutMs: ms('timeout', DEFAULT_TIMEOUT_MS, true),
    retries: hc.retries ?? DEFAULT_RETRIES,
    startPeriodMs: ms('start_period', 0, false),
  };
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration (`1m30s`, `500ms`, `1.5h`) in whole milliseconds; schema-checked before. */
export function parseDuration(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
  }
  return Math.round(total);
}

// ---- dependencies -----------------------------------------------------------

function normalizeDependsOn(
  svc: string,
  def: ServiceFile,
  serviceNames: string[],
  report: Report,
): Array<{ service: string; condition: DependencyCondition }> {
  const d = def.depends_on;
  if (d === undefined) return [];
  const entries: Array<[string, DependencyCondition, PathSegment]> = Array.isArray(d)
    ? d.map((n, i) => [n, 'service_started', i])
    : Object.entries(d).map(([n, v]) => [n, v.condition ?? 'service_started', n]);
  const out: Array<{ service: string; condition: DependencyCondition }> = [];
  for (const [name, condition, seg] of entries) {
    if (!serviceNames.includes(name)) {
      report(['services', svc, 'depends_on', seg], `unknown service "${name}" (${declaredList('services', serviceNames)})`, { atKey: true });
      continue;
    }
    out.push({ service: name, condition });
  }
  return out;
}

/**
 * Services after their dependencies: a depth-first walk in file order, each
 * service's dependencies in the order written, so a file already in order
 * keeps it. Each cycle is reported once, at the first service of it in file
 * order, as `web -> api -> web`.
 */
function dependencyOrder(services: Map<string, ServiceModel>, report: Report): ServiceModel[] {
  const done = new Set<string>();
  const onStack: string[] = [];
  const out: ServiceModel[] = [];
  const reported = new Set<string>();
  const visit = (name: string): void => {
    if (done.has(name)) return;
    const at = onStack.indexOf(name);
    if (at >= 0) {
      const cycle = [...onStack.slice(at), name];
      const key = [...new Set(cycle)].sort().join(',');
      if (!reported.has(key)) {
        reported.add(key);
        const first = onStack[at]!;
        report(['services', first, 'depends_on'], `dependency cycle: ${cycle.join(' -> ')}`);
      }
      return;
    }
    const s = services.get(name);
    if (s === undefined) return;
    onStack.push(name);
    for (const d of s.dependsOn) visit(d.service);
    onStack.pop();
    done.add(name);
    out.push(s);
  };
  for (const name of services.keys()) visit(name);
  return out;
}

// ---- IPv4 arithmetic ------------------------------------------------------------

function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  return (((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0);
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
}

function overlaps(a: number, ap: number, b: number, bp: number): boolean {
  const p = Math.min(ap, bp);
  return ((a & maskOf(p)) >>> 0) === ((b & maskOf(p)) >>> 0);
}
