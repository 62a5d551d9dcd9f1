/**
 * A running lab answers questions over its control socket,
 * `/run/wirelab/labs/<lab>.sock` (owner-only), in a small versioned JSON
 * protocol: one request per line, `{"v":1,"op":"ps"}`, one answer per line,
 * `{"v":1,"ok":true,"result":…}` or `{"v":1,"ok":false,"error":"…"}`.
 *
 * Operations: `ps` (the services, as `wirelab ps` prints them), `conntrack`
 * and `dns` (a network's tables), `down` (take the lab down; the supervisor
 * exits after answering). `wirelab exec` needs no operation: it asks `ps`
 * for the service's namespace and runs the command there itself, so a TTY
 * works as it does for `ip netns exec`.
 *
 * On a lab that shows a `LabView` (control-ops.ts): `fdb`, `arp`, `routes`,
 * `sockets`, `stats` (`result: {text, json}`), `link`, `impair`, and
 * `capture`, the one streaming operation: its JSON line (`result:
 * {interfaces, …}`) is followed on the same socket by a pcapng byte stream
 * until the frame count is reached or the client half-closes (the server
 * then finishes the file and closes); after `capture` the connection carries
 * nothing else. `openCapture` is its client. `replay` plays a capture file
 * into a switch port as if the node had sent it and answers, once it has
 * played, with what was accepted and refused (replay-op.ts). `attach`,
 * `detach`, `attached` and `prune` put containers someone else owns (a CNI
 * runtime's) on a network and take them off (attach-op.ts).
 *
 * Hand-written: Node's `net` over a Unix socket and JSON lines are all it
 * takes; an RPC library would be larger than the protocol.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import { controlSocketPath, labsDir, requestLab } from './control-client.js';
import type { ServiceRow } from './file/up.js';
import type { LabView } from './lab-view.js';
import {
  answerInspect,
  INSPECT_OPS,
  loadInspectDeps,
  prepareCapture,
  startCapture,
  type CaptureHeader,
  type CaptureRequest,
  type InspectDeps,
  type InspectRequest,
} from './control-ops.js';
import { replayIntoLab, type ReplayRequest } from './replay-op.js';
import { answerAttach, type AttachRequest } from './attach-op.js';

export const CONTROL_PROTOCOL_VERSION = 1;

export type ControlRequest =
  | { v: number; op: 'ps' }
  | { v: number; op: 'down' }
  | { v: number; op: 'conntrack'; network?: string }
  | { v: number; op: 'dns'; network?: string }
  | { v: number; op: 'model' }
  | InspectRequest
  | CaptureRequest
  | ReplayRequest
  | AttachRequest;

/** What the control socket serves: a lab's name, services and teardown (RunningLab, or a lab built in a test). */
export interface ControlledLab {
  readonly model: { readonly name: string; readonly file: string; readonly networks: ReadonlyArray<{ readonly name: string }> };
  rows(): ServiceRow[];
  down(): Promise<void>;
  network(name: string): { readonly gateway: { readonly nat: { readonly conntrack: { format(): string } } }; readonly dns: { formatStats(): string } | undefined } | undefined;
}

export interface ControlServerOptions {
  /** The filter compiler and netem wording; default `loadInspectDeps()`. */
  deps?: InspectDeps;
}

/** The lab's `LabView`, when it shows one (the inspection operations need it). */
function viewOf(lab: ControlledLab): LabView | undefined {
  const l = lab as Partial<Record<keyof LabView, unknown>>;
  return typeof l.links === 'function' && typeof l.switches === 'function' && typeof l.stacks === 'function' ? (lab as unknown as LabView) : undefined;
}

/** The `op` of a request line, if it is JSON with one. */
function opOf(line: string): unknown {
  try {
    return (JSON.parse(line) as { op?: unknown }).op;
  } catch {
    return undefined;
  }
}

type Reply = { v: number; ok: boolean; op?: string; result?: unknown; error?: string };

export interface LabStatus {
  name: string;
  file: string;
  pid: number;
  services: ServiceRow[];
}

/** Where the control sockets live. */
export { controlSocketPath, labsDir } from './control-client.js';

/** Serves a running lab's control socket until `close()`. */
export class ControlServer {
  private readonly server: net.Server;
  readonly path: string;
  private deps: Promise<InspectDeps> | undefined;
  private readonly captures = new Set<() => void>();

  constructor(
    private readonly lab: ControlledLab,
    private readonly onDown: () => void,
    opts: ControlServerOptions = {},
  ) {
    this.path = controlSocketPath(lab.model.name);
    if (opts.deps !== undefined) this.deps = Promise.resolve(opts.deps);
    // Half-open: a capture client half-closes to say "stop", and still reads the end of the file.
    this.server = net.createServer({ allowHalfOpen: true }, (sock) => this.serve(sock));
  }

  /** Listens; refuses when another live supervisor holds the lab's name. */
  async listen(): Promise<void> {
    mkdirSync(labsDir(), { recursive: true, mode: 0o700 });
    if (existsSync(this.path)) {
      const alive = await request(this.lab.model.name, { v: CONTROL_PROTOCOL_VERSION, op: 'ps' }).then(() => true, () => false);
      if (alive) throw new Error(`a lab named ${this.lab.model.name} is already running (wirelab down ${this.lab.model.name} stops it)`);
      rmSync(this.path, { force: true }); // left by a supervisor that died
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.path, () => resolve());
    });
    chmodSync(this.path, 0o600);
  }

  private inspectDeps(): Promise<InspectDeps> {
    this.deps ??= loadInspectDeps();
    return this.deps;
  }

  private serve(sock: net.Socket): void {
    let buf = '';
    let pending = 0;
    let ended = false;
    let streaming = false;
    sock.setEncoding('utf8');
    sock.on('error', () => undefined);
    const endIfIdle = (): void => {
      if (ended && pending === 0 && !streaming) sock.end();
    };
    sock.on('end', () => {
      ended = true;
      endIfIdle();
    });
    sock.on('data', (chunk: string) => {
      if (streaming) return; // a capture's connection carries nothing more
      buf += chunk;
      if (buf.length > 65536) return void sock.destroy();
      let nl: number;
      while (!streaming && (nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (opOf(line) === 'capture') {
          streaming = true;
          pending++;
          void this.capture(line, sock).finally(() => {
            pending--;
          });
          return;
        }
        pending++;
        void this.answer(line).then((reply) => {
          pending--;
          sock.write(JSON.stringify(reply) + '\n');
          if (reply.ok && reply.op === 'down') {
            sock.end();
            this.onDown();
          }
          endIfIdle();
        });
      }
    });
  }

  /** The streaming operation: a JSON line, then pcapng until the count, the client's half-close, or close(). */
  private async capture(line: string, sock: net.Socket): Promise<void> {
    const v = CONTROL_PROTOCOL_VERSION;
    const fail = (error: string): void => void sock.end(JSON.stringify({ v, ok: false, op: 'capture', error }) + '\n');
    let req: CaptureRequest;
    try {
      req = JSON.parse(line) as CaptureRequest;
    } catch {
      return fail('a request is one line of JSON');
    }
    if (req.v !== v) return fail(`protocol version ${String(req.v)} is not spoken here (version ${v} is)`);
    const view = viewOf(this.lab);
    if (view === undefined) return fail(`lab ${this.lab.model.name} does not show its switches and links (no LabView): capture is not available`);
    let prepared: ReturnType<typeof prepareCapture>;
    try {
      prepared = prepareCapture(view, req, await this.inspectDeps());
    } catch (e) {
      return fail(e instanceof Error ? e.message : String(e));
    }
    if (sock.destroyed) return;
    sock.write(JSON.stringify({ v, ok: true, op: 'capture', result: prepared.header }) + '\n');
    const session = startCapture(prepared, req.count, sock);
    this.captures.add(session.stop);
    if (sock.readableEnded) session.stop();
    else sock.once('end', session.stop); // the client half-closed: finish the file
    await session.done;
    this.captures.delete(session.stop);
  }

  private async answer(line: string): Promise<Reply> {
    const v = CONTROL_PROTOCOL_VERSION;
    let req: ControlRequest;
    try {
      req = JSON.parse(line) as ControlRequest;
    } catch {
      return { v, ok: false, error: 'a request is one line of JSON' };
    }
    if (req.v !== v) return { v, ok: false, error: `protocol version ${String(req.v)} is not spoken here (version ${v} is)` };
    try {
      switch (req.op) {
        case 'ps':
          return { v, ok: true, op: 'ps', result: this.status() };
        case 'down':
          await this.lab.down();
          return { v, ok: true, op: 'down', result: null };
        case 'conntrack':
          return { v, ok: true, op: 'conntrack', result: this.net(req.network).gateway.nat.conntrack.format() };
        case 'model':
          return { v, ok: true, op: 'model', result: this.lab.model };
        case 'dns':
          return { v, ok: true, op: 'dns', result: this.net(req.network).dns?.formatStats() ?? 'DNS is off on this network' };
        case 'fdb':
        case 'arp':
        case 'routes':
        case 'sockets':
        case 'stats':
        case 'link':
        case 'impair': {
          const view = viewOf(this.lab);
          if (view === undefined) throw new Error(`lab ${this.lab.model.name} does not show its switches and links (no LabView): ${req.op} is not available`);
          return { v, ok: true, op: req.op, result: await answerInspect(view, req, () => this.inspectDeps()) };
        }
        case 'replay': {
          const view = viewOf(this.lab);
          if (view === undefined) throw new Error(`lab ${this.lab.model.name} does not show its switches and links (no LabView): replay is not available`);
          return { v, ok: true, op: 'replay', result: await replayIntoLab(view, req) };
        }
        case 'attach':
        case 'detach':
        case 'attached':
        case 'prune':
          return { v, ok: true, op: req.op, result: await answerAttach(this.lab, req) };
        default:
          return { v, ok: false, error: `unknown operation "${String((req as { op?: unknown }).op)}" (ps, down, conntrack, dns, model, ${INSPECT_OPS.join(', ')}, replay, attach, detach, attached, prune)` };
      }
    } catch (e) {
      return { v, ok: false, error: e instanceof Error ? e.message : String(e) };
    }
  }

  private net(name: string | undefined) {
    const n = name ?? this.lab.model.networks[0]?.name;
    const network = n === undefined ? undefined : this.lab.network(n);
    if (network === undefined) throw new Error(`no network ${n ?? ''} in lab ${this.lab.model.name}`);
    return network;
  }

  status(): LabStatus {
    return { name: this.lab.model.name, file: this.lab.model.file, pid: process.pid, services: this.lab.rows() };
  }

  close(): void {
    for (const stop of [...this.captures]) stop();
    this.server.close();
    rmSync(this.path, { force: true });
  }
}

/** Sends one request to a lab's control socket and returns its result (or throws its error). */
export function request<T = unknown>(lab: string, req: ControlRequest, timeoutMs = 30_000): Promise<T> {
  return requestLab<T>(lab, req, timeoutMs);
}

/** A capture being received: its header, the pcapng bytes, and `stop()` (half-closes: the lab finishes the file, then the stream ends). */
export interface CaptureStream {
  readonly header: CaptureHeader;
  /** The pcapng bytes, ending when the capture ends. */
  readonly stream: Readable;
  stop(): void;
}

/** Starts a capture on a lab: resolves once the lab accepted it (or rejects with its error). */
export function openCapture(lab: string, req: Omit<CaptureRequest, 'v' | 'op'>, timeoutMs = 30_000): Promise<CaptureStream> {
  const path = controlSocketPath(lab);
  return new Promise<CaptureStream>((resolve, reject) => {
    const sock = net.createConnection({ path, allowHalfOpen: true });
    let head = Buffer.alloc(0);
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      sock.destroy();
      reject(new Error(`lab ${lab} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onData = (d: Buffer): void => {
      head = Buffer.concat([head, d]);
      const nl = head.indexOf(0x0a);
      if (nl < 0) return;
      sock.off('data', onData);
      sock.pause();
      clearTimeout(timer);
      settled = true;
      let reply: { ok: boolean; result?: CaptureHeader; error?: string };
      try {
        reply = JSON.parse(head.subarray(0, nl).toString('utf8')) as typeof reply;
      } catch {
        sock.destroy();
        return reject(new Error(`lab ${lab} answered something that is not JSON`));
      }
      if (!reply.ok) {
        sock.destroy();
        return reject(new Error(reply.error ?? 'the lab refused the capture'));
      }
      // The bytes after the line, then the rest of the socket; the lab's end (after it finished the file) ends the stream.
      const stream = new PassThrough();
      const rest = head.subarray(nl + 1);
      if (rest.length > 0) stream.write(rest);
      sock.pipe(stream);
      sock.once('close', () => void (stream.writableEnded ? undefined : stream.end())); // a lab that went away ends it too
      resolve({ header: reply.result!, stream, stop: () => void (sock.writable ? sock.end() : undefined) });
    };
    sock.on('connect', () => sock.write(JSON.stringify({ v: CONTROL_PROTOCOL_VERSION, op: 'capture', ...req }) + '\n'));
    sock.on('data', onData);
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (settled) return;
      clearTimeout(timer);
      settled = true;
      reject(new Error(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? `no running lab named ${lab}` : `lab ${lab}: ${e.message}`));
    });
    sock.on('end', () => {
      if (settled) return;
      clearTimeout(timer);
      settled = true;
      reject(new Error(`lab ${lab} closed the connection without answering`));
    });
  });
}

/** The names of labs whose control socket exists (`wirelab ls` asks each whether it is alive). */
export function labSockets(): string[] {
  if (!existsSync(labsDir())) return [];
  return readdirSync(labsDir())
    .filter((f) => f.endsWith('.sock'))
    .map((f) => f.slice(0, -'.sock'.length))
    .sort();
}
