/**
 * The IPv4 routing table of a wirelab host or router, as `ip route` shows it:
 * connected routes (`proto kernel scope link src …`), static routes, the
 * default route, metrics, longest-prefix match.
 *
 * Hand-written: the table is small and central, its lookup runs once per
 * forwarded or sent datagram and must not allocate, and its errors and output
 * must read like iproute2's; no package offers that over 32-bit numbers.
 *
 * Lookup structure: one `Map<network, Route[]>` per prefix length (0..32),
 * plus the list of prefix lengths that hold at least one route, longest
 * first. A lookup masks the destination with each non-empty length in turn
 * and does one Map probe per length; the first hit is the longest prefix, and
 * its bucket is kept sorted by metric so the first route is the winner. That
 * is at most 33 integer Map probes (usually 2–4: /32 or /24, the connected
 * prefixes, and /0), allocates nothing, and add/remove stay trivial. A binary
 * trie would cost up to 32 pointer hops and a node per bit; an LC-trie like
 * Linux's fib_trie only pays off at Internet-table sizes.
 *
 * Rules follow Linux (`ip route add/del`): a destination with host bits set
 * is refused ("Invalid prefix for given prefix length"), the same prefix and
 * metric twice is refused ("File exists"), a route without a gateway gets
 * scope link and one with a gateway scope global, `ip route add` without
 * `proto` means `proto boot` (which `ip route` does not print), metric 0 is
 * not printed. Listing order is the kernel's FIB dump order: by network
 * address, the longer prefix first for the same address, then by metric —
 * so `default` comes first.
 */
import { type IPv4Address, formatIPv4, parseIPv4, prefixMask } from '../wire/address.js';

export type RouteProto = 'kernel' | 'static' | 'boot';
export type RouteScope = 'link' | 'global' | 'host';

export interface Route {
  /** The network number (host bits zero). */
  readonly prefix: IPv4Address;
  readonly prefixLength: number;
  readonly gateway?: IPv4Address;
  readonly dev: string;
  readonly metric: number;
  readonly proto: RouteProto;
  readonly scope: RouteScope;
  /** Preferred source address (`src` in `ip route`). */
  readonly src?: IPv4Address;
}

export interface RouteInit {
  /** `'default'`, `'a.b.c.d/len'`, a bare address (a /32), or the numbers. */
  dest: string | { prefix: IPv4Address; prefixLength: number };
  via?: string | IPv4Address;
  /** May be omitted when `via` is given: the gateway is then looked up among the connected routes, as Linux does. */
  dev?: string;
  /** Default 0. */
  metric?: number;
  /** Default 'boot', as `ip route add` without `proto`. */
  proto?: RouteProto;
  /** Default: 'link' without a gateway, 'global' with one. */
  scope?: RouteScope;
  src?: string | IPv4Address;
}

/** One route as `ip -j route` prints it (fields omitted where `ip` omits them). */
export interface RouteJson {
  dst: string;
  gateway?: string;
  dev: string;
  protocol?: RouteProto;
  scope?: RouteScope;
  prefsrc?: string;
  metric?: number;
  flags: string[];
}

export type RouteErrorCode = 'EINVAL' | 'EEXIST' | 'ENETUNREACH';

/** What `add` and `remove` throw: a sentence, and the errno name `ip` would report. */
export class RouteError extends Error {
  constructor(
    readonly code: RouteErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RouteError';
  }
}

const PROTOS: readonly string[] = ['kernel', 'static', 'boot'];
const SCOPES: readonly string[] = ['link', 'global', 'host'];
const MAX_METRIC = 0xffff_ffff;

/** MASKS[len] = the netmask of a /len, precomputed for the lookup loop. */
const MASKS: readonly number[] = Array.from({ length: 33 }, (_, len) => prefixMask(len));

export class RouteTable {
  /** byLength[len]: network number → routes of that prefix, sorted by metric. */
  private readonly byLength: Array<Map<number, Route[]>> = Array.from({ length: 33 }, () => new Map<number, Route[]>());
  /** Prefix lengths that hold at least one route, longest first. */
  private activeLengths: number[] = [];
  private count = 0;

  /** Number of routes in the table. */
  get size(): number {
    return this.count;
  }

  /** Adds a route and returns it as stored. Throws a `RouteError` (EINVAL, EEXIST, ENETUNREACH). */
  add(init: RouteInit): Route {
    const { prefix, prefixLength } = parseDest(init.dest, 'add');
    const gateway = init.via === undefined ? undefined : parseAddress(init.via, 'gateway');
    const metric = init.metric ?? 0;
    if (!Number.isInteger(metric) || metric < 0 || metric > MAX_METRIC) {
      throw new RouteError('EINVAL', `invalid metric ${String(metric)}: it must be an integer from 0 to ${MAX_METRIC}`);
    }
    const proto = init.proto ?? 'boot';
    if (!PROTOS.includes(proto)) {
      throw new RouteError('EINVAL', `invalid protocol "${String(proto)}": expected one of ${PROTOS.join(', ')}`);
    }
    const scope = init.scope ?? (gateway === undefined ? 'link' : 'global');
    if (!SCOPES.includes(scope)) {
      throw new RouteError('EINVAL', `invalid scope "${String(scope)}": expected one of ${SCOPES.join(', ')}`);
    }
    if (gateway !== undefined && scope === 'host') {
      throw new RouteError('EINVAL', `route ${describeDest(prefix, prefixLength)} with host scope can not have a gateway`);
    }
    const src = init.src === undefined ? undefined : parseAddress(init.src, 'source');
    let dev = init.dev;
    if (dev === undefined) {
      if (gateway === undefined) {
        throw new RouteError('EINVAL', `route ${describeDest(prefix, prefixLength)} needs a device or a gateway`);
      }
      const via = this.lookup(gateway);
      if (via === undefined || via.gateway !== undefined) {
        throw new RouteError(
          'ENETUNREACH',
          `Nexthop has invalid gateway: no connected route reaches ${formatIPv4(gateway)} (Network is unreachable)`,
        );
      }
      dev = via.dev;
    } else if (typeof dev !== 'string' || dev.length === 0) {
      throw new RouteError('EINVAL', `invalid device name "${String(dev)}"`);
    }

    const map = this.byLength[prefixLength]!;
    let bucket = map.get(prefix);
    if (bucket?.some((r) => r.metric === metric)) {
      throw new RouteError(
        'EEXIST',
        `route ${describeDest(prefix, prefixLength)} metric ${metric} already exists (File exists)`,
      );
    }
    const route: Route = Object.freeze({
      prefix,
      prefixLength,
      ...(gateway === undefined ? {} : { gateway }),
      dev,
      metric,
      proto,
      scope,
      ...(src === undefined ? {} : { src }),
    });
    if (bucket === undefined) {
      bucket = [];
      map.set(prefix, bucket);
      if (map.size === 1) this.refreshLengths();
    }
    let i = bucket.length;
    while (i > 0 && bucket[i - 1]!.metric > metric) i--;
    bucket.splice(i, 0, route);
    this.count++;
    return route;
  }

  /**
   * Removes one route of that prefix — the lowest metric among those that
   * match the given dev/metric/gateway, as `ip route del` does. Returns false
   * when none matches (where `ip` says "No such process"). Throws EINVAL on a
   * malformed prefix.
   */
  remove(
    dest: string | { prefix: IPv4Address; prefixLength: number },
    opts: { dev?: string; metric?: number; gateway?: IPv4Address } = {},
  ): boolean {
    const { prefix, prefixLength } = parseDest(dest, 'del');
    const map = this.byLength[prefixLength]!;
    const bucket = map.get(prefix);
    if (bucket === undefined) return false;
    const i = bucket.findIndex(
      (r) =>
        (opts.dev === undefined || r.dev === opts.dev) &&
        (opts.metric === undefined || r.metric === opts.metric) &&
        (opts.gateway === undefined || r.gateway === opts.gateway),
    );
    if (i < 0) return false;
    bucket.splice(i, 1);
    this.count--;
    if (bucket.length === 0) {
      map.delete(prefix);
      if (map.size === 0) this.refreshLengths();
    }
    return true;
  }

  /** Removes every route through `dev` (the interface went away). */
  removeDev(dev: string): void {
    let emptied = false;
    for (const map of this.byLength) {
      for (const [net, bucket] of map) {
        const kept = bucket.filter((r) => r.dev !== dev);
        if (kept.length === bucket.length) continue;
        this.count -= bucket.length - kept.length;
        if (kept.length === 0) {
          map.delete(net);
          emptied ||= map.size === 0;
        } else map.set(net, kept);
      }
    }
    if (emptied) this.refreshLengths();
  }

  /** The route for `dst`: longest prefix, then lowest metric. Allocation-free. */
  lookup(dst: IPv4Address): Route | undefined {
    const lengths = this.activeLengths;
    for (let i = 0; i < lengths.length; i++) {
      const len = lengths[i]!;
      const bucket = this.byLength[len]!.get((dst & MASKS[len]!) >>> 0);
      if (bucket !== undefined) return bucket[0];
    }
    return undefined;
  }

  /** Every route, in `ip route` order. */
  list(): Route[] {
    const all: Route[] = [];
    for (const map of this.byLength) for (const bucket of map.values()) all.push(...bucket);
    return all.sort((a, b) => a.prefix - b.prefix || b.prefixLength - a.prefixLength || a.metric - b.metric);
  }

  /** The table as `ip route` prints it, one route per line (no trailing newline). */
  format(): string {
    return this.list().map(formatRoute).join('\n');
  }

  /** The table as `ip -j route` prints it. */
  toJSON(): RouteJson[] {
    return this.list().map(routeToJson);
  }

  private refreshLengths(): void {
    const lengths: number[] = [];
    for (let len = 32; len >= 0; len--) if (this.byLength[len]!.size > 0) lengths.push(len);
    this.activeLengths = lengths;
  }
}

/** One route as `ip route` prints it: `default via 10.0.0.1 dev eth0 proto static metric 100`. */
export function formatRoute(r: Route): string {
  let s = describeDest(r.prefix, r.prefixLength);
  if (r.gateway !== undefined) s += ` via ${formatIPv4(r.gateway)}`;
  s += ` dev ${r.dev}`;
  if (r.proto !== 'boot') s += ` proto ${r.proto}`;
  if (r.scope !== 'global') s += ` scope ${r.scope}`;
  if (r.src !== undefined) s += ` src ${formatIPv4(r.src)}`;
  if (r.metric !== 0) s += ` metric ${r.metric}`;
  return s;
}

/** One route as `ip -j route` prints it. */
export function routeToJson(r: Route): RouteJson {
  // Built in iproute2's key order, with the keys `ip` leaves out left out.
  return {
    dst: describeDest(r.prefix, r.prefixLength),
    ...(r.gateway === undefined ? {} : { gateway: formatIPv4(r.gateway) }),
    dev: r.dev,
    ...(r.proto === 'boot' ? {} : { protocol: r.proto }),
    ...(r.scope === 'global' ? {} : { scope: r.scope }),
    ...(r.src === undefined ? {} : { prefsrc: formatIPv4(r.src) }),
    ...(r.metric === 0 ? {} : { metric: r.metric }),
    flags: [],
  };
}

/** `default`, `10.0.0.0/24`, or a bare address for a /32, as `ip route` writes destinations. */
function describeDest(prefix: IPv4Address, prefixLength: number): string {
  if (prefixLength === 0) return 'default';
  if (prefixLength === 32) return formatIPv4(prefix);
  return `${formatIPv4(prefix)}/${prefixLength}`;
}

function parseAddress(a: string | IPv4Address, what: string): IPv4Address {
  if (typeof a === 'number') {
    if (!Number.isInteger(a) || a < 0 || a > 0xffff_ffff) {
      throw new RouteError('EINVAL', `invalid ${what} address ${a}: expected a 32-bit unsigned number`);
    }
    return a;
  }
  try {
    return parseIPv4(a);
  } catch {
    throw new RouteError('EINVAL', `invalid ${what} address "${a}": expected a dotted quad like 10.0.0.1`);
  }
}

function parseDest(
  dest: string | { prefix: IPv4Address; prefixLength: number },
  verb: 'add' | 'del',
): { prefix: IPv4Address; prefixLength: number } {
  let prefix: IPv4Address;
  let prefixLength: number;
  let text: string;
  if (typeof dest === 'string') {
    text = dest.trim();
    if (text === 'default' || text === 'all' || text === 'any') return { prefix: 0, prefixLength: 0 };
    const [addr, len, extra] = text.split('/');
    if (addr === undefined || extra !== undefined) {
      throw new RouteError('EINVAL', `invalid destination "${dest}" for route ${verb}: expected default or a.b.c.d/len`);
    }
    if (len === undefined) prefixLength = 32;
    else if (/^\d{1,2}$/.test(len)) prefixLength = Number(len);
    else throw new RouteError('EINVAL', `invalid prefix length "${len}" in "${dest}": expected 0 to 32`);
    prefix = parseAddress(addr, 'destination');
  } else {
    if (typeof dest !== 'object' || dest === null) {
      throw new RouteError('EINVAL', `invalid destination ${String(dest)} for route ${verb}`);
    }
    prefix = parseAddress(dest.prefix, 'destination');
    prefixLength = dest.prefixLength;
    text = `${formatIPv4(prefix)}/${String(prefixLength)}`;
  }
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) {
    throw new RouteError('EINVAL', `invalid prefix length ${String(prefixLength)} in "${text}": expected 0 to 32`);
  }
  if (((prefix & MASKS[prefixLength]!) >>> 0) !== prefix) {
    throw new RouteError(
      'EINVAL',
      `Invalid prefix for given prefix length: ${text} has host bits set (the network is ` +
        `${formatIPv4((prefix & MASKS[prefixLength]!) >>> 0)}/${prefixLength})`,
    );
  }
  return { prefix, prefixLength };
}
