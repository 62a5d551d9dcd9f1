/**
 * Docker's `-p` port-publishing syntax, parsed once into typed objects:
 *
 *   [hostIP:]hostPort[-hostPortEnd]:containerPort[-containerPortEnd][/tcp|/udp]
 *   containerPort[-end][/proto]            a random host port per container port
 *   hostIP::containerPort[-end][/proto]    the same, on a chosen host address
 *
 * `parsePortSpec` gives one `PortSpec` (a range object: the whole `-p`
 * argument, ranges kept as written); `expandPortSpec` turns it into one
 * `PortMapping` per port, which is what the proxy publishes. Ranges are kept
 * in the spec so a table can print `8000-8010:80-90/tcp` as the user wrote it.
 *
 * Differences from Docker, on purpose:
 * - the default host address is 127.0.0.1, not 0.0.0.0: a lab should not
 *   reach the outside network unless asked (`0.0.0.0:` written is accepted);
 * - IPv4 only (wirelab has no IPv6), so `[::1]:8080:80` is refused;
 * - a host range must be as long as the container range (Docker also takes
 *   `8000-8010:80`, "any free port of the range"; wirelab refuses it);
 * - host port 0 is refused (write `hostIP::80` or `80` for a random one).
 *
 * Every bad spec raises a `PortSpecError` whose message quotes the spec and
 * names the bad part: `"8080:80/sctp": protocol must be tcp or udp`.
 * Hand-written: the grammar is Docker's (go-connections/nat), and no npm
 * package parses it with errors of this shape.
 */

export type PortProtocol = 'tcp' | 'udp';

/** The host address used when a spec names none (Docker uses 0.0.0.0). */
export const DEFAULT_HOST_IP = '127.0.0.1';

/** One `-p` argument, parsed: ranges inclusive, `hostPortStart` 0 = random host ports. */
export interface PortSpec {
  readonly hostIp: string;
  /** 0 when the host port is left to the system (`80`, `127.0.0.1::80`). */
  readonly hostPortStart: number;
  /** Equal to hostPortStart for a single port; 0 when random. */
  readonly hostPortEnd: number;
  readonly containerPortStart: number;
  readonly containerPortEnd: number;
  readonly protocol: PortProtocol;
}

/** One published port: what a proxy listens on and where it forwards. */
export interface PortMapping {
  readonly hostIp: string;
  /** 0 until the system picks one (random host port). */
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: PortProtocol;
}

/** A spec that does not parse; `part` is the piece of the spec at fault. */
export class PortSpecError extends Error {
  readonly code = 'EINVAL';
  constructor(
    readonly spec: string,
    readonly part: string,
    problem: string,
  ) {
    super(`"${spec}": ${problem}`);
    this.name = 'PortSpecError';
  }
}

const PORT_DIGITS = /^[0-9]+$/;
const MAX_SPEC_LENGTH = 256;

/** Parses one `-p` argument; throws `PortSpecError` naming the bad part. */
export function parsePortSpec(spec: string): PortSpec {
  if (typeof spec !== 'string') throw new PortSpecError(String(spec), '', 'a port spec must be a string');
  const fail = (part: string, problem: string): never => {
    throw new PortSpecError(spec, part, problem);
  };
  if (spec.length > MAX_SPEC_LENGTH) fail(spec, `a port spec is at most ${MAX_SPEC_LENGTH} characters`);
  if (spec.trim() === '') fail(spec, 'the port spec is empty');
  if (spec !== spec.trim()) fail(spec, 'the port spec has spaces around it');

  // Protocol: after the last '/'.
  let body = spec;
  let protocol: PortProtocol = 'tcp';
  const slash = spec.indexOf('/');
  if (slash >= 0) {
    const proto = spec.slice(slash + 1);
    body = spec.slice(0, slash);
    if (proto === '') fail('/', `protocol is empty after "/" (write /tcp or /udp)`);
    const lower = proto.toLowerCase();
    if (lower !== 'tcp' && lower !== 'udp') fail(proto, 'protocol must be tcp or udp');
    protocol = lower as PortProtocol;
  }
  if (body === '') fail(spec, 'the container port is missing');
  if (body.startsWith('[')) fail(body, 'IPv6 host addresses are not supported (wirelab is IPv4 only)');

  const parts = body.split(':');
  let hostIp = DEFAULT_HOST_IP;
  let hostText: string | undefined;
  let containerText: string;
  if (parts.length === 1) {
    containerText = parts[0]!;
  } else if (parts.length === 2) {
    hostText = parts[0]!;
    containerText = parts[1]!;
    if (hostText === '') fail(body, 'the host port before ":" is empty (write HOSTPORT:PORT, or PORT alone for a random host port)');
  } else if (parts.length === 3) {
    const ipText = parts[0]!;
    if (ipText === '') fail(body, 'the host address before the first ":" is empty');
    hostIp = checkIPv4(ipText, fail);
    hostText = parts[1] === '' ? undefined : parts[1]!;
    containerText = parts[2]!;
  } else {
    return fail(body, `too many ":" (expected [HOSTIP:]HOSTPORT:PORT; IPv6 addresses are not supported)`);
  }
  if (containerText === '') fail(body, 'the container port after the last ":" is empty');

  const container = parseRange(containerText, 'container', fail);
  let hostStart = 0;
  let hostEnd = 0;
  if (hostText !== undefined) {
    const host = parseRange(hostText, 'host', fail);
    const hostLen = host.end - host.start;
    const containerLen = container.end - container.start;
    if (hostLen !== containerLen) {
      fail(
        `${hostText}:${containerText}`,
        `host range ${hostText} has ${hostLen + 1} port${hostLen === 0 ? '' : 's'} but container range ${containerText} has ${containerLen + 1}; the ranges must be the same length`,
      );
    }
    hostStart = host.start;
    hostEnd = host.end;
  }
  return {
    hostIp,
    hostPortStart: hostStart,
    hostPortEnd: hostEnd,
    containerPortStart: container.start,
    containerPortEnd: container.end,
    protocol,
  };
}

/** Parses several `-p` arguments (as `docker run -p a -p b`). */
export function parsePortSpecs(specs: readonly string[]): PortSpec[] {
  return specs.map((s) => parsePortSpec(s));
}

type Fail = (part: string, problem: string) => never;

function parseRange(text: string, which: 'host' | 'container', fail: Fail): { start: number; end: number } {
  const dash = text.indexOf('-');
  if (dash < 0) {
    const p = parsePort(text, which, fail);
    return { start: p, end: p };
  }
  const a = text.slice(0, dash);
  const b = text.slice(dash + 1);
  if (a === '') fail(text, `the ${which} port range "${text}" has no start before "-"`);
  if (b === '') fail(text, `the ${which} port range "${text}" has no end after "-"`);
  const start = parsePort(a, which, fail);
  const end = parsePort(b, which, fail);
  if (end < start) fail(text, `the ${which} port range "${text}" ends before it starts`);
  return { start, end };
}

function parsePort(text: string, which: 'host' | 'container', fail: Fail): number {
  if (!PORT_DIGITS.test(text)) fail(text, `${which} port "${text}" is not a number`);
  const n = text.length > 6 ? Number.POSITIVE_INFINITY : Number(text);
  if (n < 1 || n > 65535) fail(text, `${which} port ${text} is out of range 1..65535`);
  return n;
}

function checkIPv4(text: string, fail: Fail): string {
  const quads = text.split('.');
  if (quads.length !== 4 || quads.some((q) => !/^[0-9]{1,3}$/.test(q) || Number(q) > 255)) {
    fail(text, `host address "${text}" is not an IPv4 address like 127.0.0.1`);
  }
  // Canonical form: "127.000.0.1" and "127.0.0.1" name one address.
  return quads.map((q) => String(Number(q))).join('.');
}

/** The canonical text of a spec: `hostIp:hostPort[-end]:containerPort[-end]/proto`, `hostIp::port/proto` when random. */
export function formatPortSpec(s: PortSpec): string {
  const range = (a: number, b: number) => (a === b ? String(a) : `${a}-${b}`);
  const host = s.hostPortStart === 0 ? '' : range(s.hostPortStart, s.hostPortEnd);
  return `${s.hostIp}:${host}:${range(s.containerPortStart, s.containerPortEnd)}/${s.protocol}`;
}

/** One mapping per port of the spec, host and container ports paired in order. */
export function expandPortSpec(s: PortSpec): PortMapping[] {
  const out: PortMapping[] = [];
  for (let c = s.containerPortStart; c <= s.containerPortEnd; c++) {
    const hostPort = s.hostPortStart === 0 ? 0 : s.hostPortStart + (c - s.containerPortStart);
    out.push({ hostIp: s.hostIp, hostPort, containerPort: c, protocol: s.protocol });
  }
  return out;
}

/** `127.0.0.1:8080:80/tcp` for one mapping. */
export function formatPortMapping(m: PortMapping): string {
  return `${m.hostIp}:${m.hostPort === 0 ? '' : m.hostPort}:${m.containerPort}/${m.protocol}`;
}
