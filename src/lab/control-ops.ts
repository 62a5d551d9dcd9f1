/**
 * The control socket's inspection and link operations on a lab's `LabView`:
 * `fdb`, `arp`, `routes`, `sockets`, `stats` (tables: `{text, json}`),
 * `link` (a switch port up or down), `impair` (show, set, clear netem-style
 * impairments) and `capture` (a pcapng stream of a link or network).
 *
 * The capture filter compiler and the netem wording are injected
 * (`InspectDeps`, so a test can give its own); `loadInspectDeps()` gives
 * the real ones, src/link/capture-filter.ts and src/link/netem-spec.ts.
 */
import type { Writable } from 'node:stream';
import { compileCaptureFilter } from '../link/capture-filter.js';
import { formatNetemSpec, netemFromFlags } from '../link/netem-spec.js';
import type { ImpairmentOptions } from '../link/impair.js';
import { PcapngWriter } from '../link/pcapng.js';
import type { Bridge } from '../switch/bridge.js';
import type { LabView, LinkView } from './lab-view.js';
import { arpTable, fdbTable, linkName, routesTable, socketsTable, type Table } from './inspect.js';
import { impairTable, resolveLinks, statsTable, type FormatNetem } from './inspect-stats.js';

/** A compiled capture filter (tcpdump's syntax, a subset). */
export interface CaptureFilter {
  readonly text: string;
  matches(buf: Uint8Array, off: number, len: number): boolean;
}

/** What the operations need from the filter compiler and netem parser (src/link/capture-filter.ts, netem-spec.ts). */
export interface InspectDeps {
  compileCaptureFilter(text: string): CaptureFilter;
  formatNetemSpec: FormatNetem;
  netemFromFlags(flags: Record<string, string | undefined>): ImpairmentOptions;
}

/** The real filter compiler and netem parser. */
export function loadInspectDeps(): Promise<InspectDeps> {
  return Promise.resolve({ compileCaptureFilter, formatNetemSpec, netemFromFlags });
}

/** The netem flags `impair` takes (tc's units: 20ms, 1%, 100mbit). */
export const NETEM_FLAGS = ['delay', 'jitter', 'loss', 'duplicate', 'reorder', 'rate', 'limit'] as const;

export type InspectRequest =
  | { v: number; op: 'fdb'; switch?: string }
  | { v: number; op: 'arp' | 'routes' | 'sockets'; node?: string }
  | { v: number; op: 'stats' }
  | { v: number; op: 'link'; target: string; up: boolean }
  | {
      v: number;
      op: 'impair';
      target?: string;
      /** netem flags as text (`{ delay: '20ms', loss: '1%' }`); replaces the link's impairment. */
      flags?: Record<string, string>;
      /** Or the options themselves. */
      options?: ImpairmentOptions;
      clear?: boolean;
    };

export const INSPECT_OPS = ['fdb', 'arp', 'routes', 'sockets', 'stats', 'link', 'impair', 'capture'] as const;

export interface LinkState {
  link: string;
  switch: string;
  port: string;
  up: boolean;
}

/** Answers a one-shot inspection or link operation. */
export async function answerInspect(lab: LabView, req: InspectRequest, deps: () => Promise<InspectDeps>): Promise<unknown> {
  switch (req.op) {
    case 'fdb':
      return fdbTable(lab, req.switch !== undefined ? { switch: req.switch } : {});
    case 'arp':
      return arpTable(lab, req.node !== undefined ? { node: req.node } : {});
    case 'routes':
      return routesTable(lab, req.node !== undefined ? { node: req.node } : {});
    case 'sockets':
      return socketsTable(lab, req.node !== undefined ? { node: req.node } : {});
    case 'stats':
      return statsTable(lab, (await deps()).formatNetemSpec);
    case 'link':
      return setLinkUp(lab, req.target, req.up);
    case 'impair':
      return impair(lab, req, await deps());
  }
}

/** `link TARGET up|down`: the switch port of each link the target names. */
export function setLinkUp(lab: LabView, target: string, up: unknown): Table<LinkState[]> {
  if (typeof target !== 'string') throw new Error('link needs a target: node:iface');
  if (typeof up !== 'boolean') throw new Error('link needs "up": true or false');
  const rows = resolveLinks(lab, target).map((l) => {
    l.bridge.setPortUp(l.port, up);
    return { link: linkName(l), switch: l.switch, port: l.port, up };
  });
  return { text: rows.map((r) => `${r.link} (port ${r.port} of ${r.switch}): ${r.up ? 'up' : 'down'}\n`).join(''), json: rows };
}

function impair(lab: LabView, req: Extract<InspectRequest, { op: 'impair' }>, deps: InspectDeps) {
  const hasFlags = req.flags !== undefined && Object.values(req.flags).some((x) => x !== undefined);
  const changes = [req.clear === true, hasFlags, req.options !== undefined].filter(Boolean).length;
  if (changes > 1) throw new Error('impair takes one of --clear, netem flags, or options');
  if (changes === 1) {
    if (req.target === undefined) throw new Error('impair needs a target to change: node:iface or a network');
    if (hasFlags) {
      const unknown = Object.keys(req.flags!).filter((k) => !(NETEM_FLAGS as readonly string[]).includes(k));
      if (unknown.length > 0) throw new Error(`impair has no flag ${unknown.join(', ')} (flags: ${NETEM_FLAGS.join(', ')})`);
    }
    const opts: ImpairmentOptions = req.clear === true ? {} : hasFlags ? deps.netemFromFlags(req.flags!) : req.options!;
    const links = resolveLinks(lab, req.target);
    // Replaces the impairment, as `tc qdisc change … netem …` does; the random streams keep their seed.
    // The same options for every link: setOptions checks them before changing anything, so the first
    // link refuses bad values before any link has changed.
    for (const l of links) {
      const seed = l.impaired.options.seed;
      l.impaired.setOptions({ ...(seed !== undefined ? { seed } : {}), ...opts });
    }
  }
  return impairTable(lab, req.target, deps.formatNetemSpec);
}

// ---------------------------------------------------------------------------
// capture

export interface CaptureRequest {
  v: number;
  op: 'capture';
  /** `node:iface`, `node`, or a network (every link of it). */
  target: string;
  /** Stop after this many frames. */
  count?: number;
  /** A capture filter, tcpdump's syntax. */
  filter?: string;
}

/** One pcapng interface of the stream (ids in order). */
export interface CaptureInterface {
  id: number;
  /** `node:iface`, the pcapng if_name (tshark `frame.interface_name`). */
  name: string;
  switch: string;
  port: string;
  network: string;
}

/** The `result` of the capture's first (JSON) line. */
export interface CaptureHeader {
  interfaces: CaptureInterface[];
  filter: string | undefined;
  count: number | undefined;
  /** epb_flags direction is the node's: 1 inbound (to the node), 2 outbound (sent by it). */
  direction: 'node';
}

/** A capture that is running; `stop()` ends it (the pcapng is complete once `done` resolves). */
export interface CaptureSession {
  readonly header: CaptureHeader;
  readonly done: Promise<void>;
  stop(): void;
}

/** Checks the request and names what is wrong before anything is written. */
export function prepareCapture(lab: LabView, req: CaptureRequest, deps: InspectDeps): { links: LinkView[]; filter: CaptureFilter | undefined; header: CaptureHeader } {
  if (typeof req.target !== 'string' || req.target === '') throw new Error('capture needs a target: node:iface or a network');
  if (req.count !== undefined && !(Number.isInteger(req.count) && req.count > 0)) throw new Error(`capture count must be a positive integer, got ${String(req.count)}`);
  const links = resolveLinks(lab, req.target);
  const switches = [...new Set(links.map((l) => l.switch))];
  if (switches.length > 1) throw new Error(`${req.target} spans several switches (${switches.join(', ')}): capture one link at a time`);
  let filter: CaptureFilter | undefined;
  if (req.filter !== undefined && req.filter.trim() !== '') {
    try {
      filter = deps.compileCaptureFilter(req.filter);
    } catch (e) {
      throw new Error(`bad capture filter "${req.filter}": ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const header: CaptureHeader = {
    interfaces: links.map((l, id) => ({ id, name: linkName(l), switch: l.switch, port: l.port, network: l.network })),
    filter: filter?.text,
    count: req.count,
    direction: 'node',
  };
  return { links, filter, header };
}

/** Mirrors the links into a pcapng written to `out` until `count` frames, `stop()`, or `out` going away. */
export function startCapture(prepared: ReturnType<typeof prepareCapture>, count: number | undefined, out: Writable): CaptureSession {
  const { links, filter, header } = prepared;
  const bridge: Bridge = links[0]!.bridge;
  const writer = new PcapngWriter(out, { application: 'wirelab capture', end: true });
  let release: () => void = () => undefined;
  const done = new Promise<void>((r) => (release = r));
  let stopped = false;
  let stopMirror: () => void = () => undefined;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    stopMirror();
    void writer.close().finally(release);
  };
  stopMirror = bridge.mirror(
    writer,
    links.map((l) => l.port),
    {
      ...(filter !== undefined ? { filter: (b: Uint8Array, o: number, n: number) => filter.matches(b, o, n) } : {}),
      ...(count !== undefined ? { count } : {}),
      onDone: stop,
      direction: 'node',
      interfaceNames: Object.fromEntries(links.map((l) => [l.port, linkName(l)])),
    },
  );
  out.once('close', stop);
  out.once('error', stop);
  return { header, done, stop };
}
