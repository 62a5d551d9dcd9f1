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
import { dirname, resolve } from 'node:path';
import { compileCaptureFilter } from '../../link/capture-filter.js';
import { parseNetemSpec } from '../../link/netem-spec.js';
import { parseCidr, parseIPv4 } from '../../wire/address.js';
import type { SwitchModel, AttachmentModel, CaptureModel, DependencyCondition, HealthcheckModel, HostModel, LabModel, RouteModel, RouterModel, ServiceModel } from './model.js';
import { AttachmentPlanner } from './normalize-nodes.js';
import { checkVxlan, ipToInt, normalizeNetworks, normalizeSwitches } from './normalize-networks.js';
import { LAB_NAME_PATTERN, type CaptureFile, type LabFile, type RouterFile, type ServiceFile } from './schema.js';

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

const DEFAULT_INTERVAL_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_RETRIES = 3;

export function normalizeLab(file: LabFile, ctx: NormalizeContext): LabModel {
  const { report } = ctx;
  const name = file.name ?? defaultLabName(ctx.directoryName, report);
  const baseDir = dirname(resolve(ctx.file));

  const serviceEntries = inFileOrder(file.services, ['services'], ctx);
  const networkEntries = inFileOrder(file.networks ?? {}, ['networks'], ctx);
  const routerEntries = inFileOrder(file.routers ?? {}, ['routers'], ctx);
  const hostEntries = inFileOrder(file.hosts ?? {}, ['hosts'], ctx);
  const networks = normalizeNetworks(networkEntries, report);
  checkVxlan(networks, report);
  const switches = normalizeSwitches(inFileOrder(file.switches ?? {}, ['switches'], ctx), networks, new Map(networkEntries), report);
  const byNetwork = new Map(networks.map((n) => [n.model.name, n]));
  const declaredNetworks = ctx.alsoDeclared?.networks ?? networkEntries.map(([n]) => n);
  const serviceNames = ctx.alsoDeclared?.services ?? serviceEntries.map(([n]) => n);
  checkNodeNames(serviceEntries, routerEntries, hostEntries, report);

  const planner = new AttachmentPlanner(declaredNetworks, byNetwork, report);
  for (const [svc, def] of serviceEntries) planner.add('services', svc, def.networks);
  for (const [host, def] of hostEntries) planner.add('hosts', host, def.networks);
  for (const [router, def] of routerEntries) planner.add('routers', router, def.networks);
  const attachments = planner.assign();
  for (const [kind, entries] of [['services', serviceEntries], ['hosts', hostEntries], ['routers', routerEntries]] as const) {
    for (const [node] of entries) for (const a of attachments.get(`${kind}/${node}`) ?? []) {
      if (a.impair !== undefined) checkImpair(a.impair, [kind, node, 'networks', a.network, 'impair'], report);
    }
  }
  checkAttachmentSwitches(attachments, switches, byNetwork, report);
  for (const n of networks) if (n.model.impair !== undefined) checkImpair(n.model.impair, ['networks', n.model.name, 'impair'], report);

  checkPortClashes([...serviceEntries.map(([n, d]) => ['services', n, d.ports] as const), ...hostEntries.map(([n, d]) => ['hosts', n, d.ports] as const)], report);

  const services = new Map<string, ServiceModel>();
  for (const [svc, def] of serviceEntries) {
    services.set(svc, {
      name: svc,
      command: normalizeCommand(def.command, ['services', svc, 'command'], report),
      environment: normalizeEnvironment(def.environment, ['services', svc, 'environment'], report),
      networks: attachments.get(`services/${svc}`) ?? [],
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

  const routers: RouterModel[] = routerEntries.map(([r, def]) => normalizeRouter(r, def, attachments.get(`routers/${r}`) ?? [], report));
  const hosts: HostModel[] = hostEntries.map(([h, def]) => ({
    name: h,
    script: resolve(baseDir, def.script),
    environment: normalizeEnvironment(def.environment, ['hosts', h, 'environment'], report),
    networks: attachments.get(`hosts/${h}`) ?? [],
    ports: (def.ports ?? []).map((p) => String(p)),
  }));
  const nodes = new Map<string, number>();
  for (const [kind, entries] of [['services', serviceEntries], ['hosts', hostEntries], ['routers', routerEntries]] as const) {
    for (const [node] of entries) nodes.set(node, (attachments.get(`${kind}/${node}`) ?? []).length);
  }
  const captures = inFileOrder(file.captures ?? {}, ['captures'], ctx).map(([c, def]) =>
    normalizeCapture(c, def, baseDir, { networks: declaredNetworks, switches: switches.map((s) => s.name), nodes }, report),
  );

  return {
    name,
    file: ctx.file,
    networks: networks.map((n) => n.model),
    services: dependencyOrder(services, report),
    switches,
    routers,
    hosts,
    captures,
    ...(file.dns !== undefined ? { dns: { peers: [...file.dns.peers] } } : {}),
  };
}

/** A service, router and host share one namespace of names (each is a DNS name and a `node` of `node:iface`). */
function checkNodeNames(services: Array<[string, unknown]>, routers: Array<[string, unknown]>, hosts: Array<[string, unknown]>, report: Report): void {
  const seen = new Map<string, string>();
  for (const [kind, entries] of [['services', services], ['routers', routers], ['hosts', hosts]] as const) {
    for (const [n] of entries) {
      const other = seen.get(n);
      if (other !== undefined) report([kind, n], `the name ${n} is already ${other}'s (services, routers and hosts share one set of names)`, { atKey: true });
      else seen.set(n, `${kind}.${n}`);
    }
  }
}

/** A node plugged into another switch than its network's: that switch must be shared and carries the VLAN from then on. */
function checkAttachmentSwitches(
  attachments: Map<string, AttachmentModel[]>,
  switches: SwitchModel[],
  byNetwork: Map<string, { model: { name: string; switch: string; vlan: number } }>,
  report: Report,
): void {
  for (const [key, list] of attachments) {
    const [kind, node] = key.split('/') as [string, string];
    for (const a of list) {
      const net = byNetwork.get(a.network)?.model;
      if (net === undefined || a.switch === net.switch) continue;
      const path = [kind, node, 'networks', a.network, 'switch'];
      const sw = switches.find((s) => s.name === a.switch);
      if (net.switch === net.name) {
        report(path, `network ${a.network} has a switch of its own: only a network on a shared switch (switch:, vlan:) reaches other switches`);
      } else if (sw === undefined || byNetwork.has(a.switch)) {
        report(path, `unknown switch "${a.switch}" (declared: ${switches.filter((s) => !byNetwork.has(s.name)).map((s) => s.name).join(', ')})`);
      } else if (!sw.vlans.includes(net.vlan)) {
        sw.vlans.push(net.vlan);
      }
    }
  }
}

function checkImpair(text: string, path: PathSegment[], report: Report): void {
  try {
    parseNetemSpec(text);
  } catch (e) {
    report(path, e instanceof Error ? e.message : String(e));
  }
}

const ROUTE_PATTERN = /^\s*(default|\d+\.\d+\.\d+\.\d+\/\d+)\s+via\s+(\d+\.\d+\.\d+\.\d+)\s*$/;

function normalizeRouter(name: string, def: RouterFile, networks: AttachmentModel[], report: Report): RouterModel {
  const routes: RouteModel[] = [];
  for (const [i, text] of (def.routes ?? []).entries()) {
    const m = ROUTE_PATTERN.exec(text);
    if (m === null) {
      report(['routers', name, 'routes', i], `"${text}" is not a route: write "DEST via GATEWAY", e.g. "10.2.0.0/24 via 10.9.0.2" or "default via 10.9.0.1"`);
      continue;
    }
    try {
      if (m[1] !== 'default') parseCidr(m[1]!);
      parseIPv4(m[2]!);
    } catch (e) {
      report(['routers', name, 'routes', i], `"${text}": ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    routes.push({ dest: m[1]!, via: m[2]! });
  }
  if (def.uplink !== undefined && !networks.some((a) => a.network === def.uplink)) {
    report(['routers', name, 'uplink'], `router ${name} does not join network ${def.uplink} (it joins ${networks.map((a) => a.network).join(', ') || 'none'})`);
  }
  if (def.nat !== undefined && def.uplink === undefined) {
    report(['routers', name, 'nat'], 'NAT needs an uplink: add uplink: <network> (the network toward the outside)');
  }
  return { name, networks, routes, uplink: def.uplink, nat: def.nat };
}

function normalizeCapture(
  name: string,
  def: CaptureFile,
  baseDir: string,
  known: { networks: string[]; switches: string[]; nodes: Map<string, number> },
  report: Report,
): CaptureModel {
  for (const [i, target] of def.of.entries()) {
    const path = ['captures', name, 'of', i];
    const [node, iface] = target.split(':', 2) as [string, string | undefined];
    if (iface === undefined) {
      if (known.networks.includes(target) || known.switches.includes(target)) continue;
      const count = known.nodes.get(target);
      if (count === 1) continue;
      report(path, count !== undefined
        ? `${target} has ${count} interfaces: write ${target}:eth0 … ${target}:eth${count - 1}`
        : `"${target}" is not a network, switch or node of this lab (networks: ${known.networks.join(', ') || 'none'})`);
      continue;
    }
    const count = known.nodes.get(node);
    if (count === undefined) report(path, `"${target}": no service, router or host named ${node}`);
    else if (!/^eth\d+$/.test(iface) || Number(iface.slice(3)) >= count) {
      report(path, `"${target}": ${node} has ${Array.from({ length: count }, (_, k) => `eth${k}`).join(', ') || 'no interfaces'}`);
    }
  }
  if (def.filter !== undefined) {
    try {
      compileCaptureFilter(def.filter);
    } catch (e) {
      report(['captures', name, 'filter'], e instanceof Error ? e.message : String(e));
    }
  }
  return { name, file: resolve(baseDir, def.file), of: def.of, filter: def.filter };
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

function declaredList(what: string, names: string[]): string {
  return names.length === 0 ? `the lab declares no ${what}` : `declared: ${names.join(', ')}`;
}

// ---- ports ----------------------------------------------------------------

function checkPortClashes(nodes: ReadonlyArray<readonly ['services' | 'hosts', string, ReadonlyArray<string | number> | undefined]>, report: Report): void {
  const published: Array<{ m: PortMapping; where: string }> = [];
  for (const [kind, svc, ports] of nodes) {
    for (const [i, raw] of (ports ?? []).entries()) {
      const spec = String(raw);
      const path = [kind, svc, 'ports', i];
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
      if (!clashed) for (const m of mappings) if (m.hostPort !== 0) published.push({ m, where: `${kind}.${svc}.ports[${i}] ("${spec}")` });
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

