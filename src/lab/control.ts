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
 * Hand-written: Node's `net` over a Unix socket and JSON lines are all it
 * takes; an RPC library would be larger than the protocol.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { stateDir } from './registry.js';
import type { RunningLab, ServiceRow } from './file/up.js';

export const CONTROL_PROTOCOL_VERSION = 1;

export type ControlRequest =
  | { v: number; op: 'ps' }
  | { v: number; op: 'down' }
  | { v: number; op: 'conntrack'; network?: string }
  | { v: number; op: 'dns'; network?: string };

export interface LabStatus {
  name: string;
  file: string;
  pid: number;
  services: ServiceRow[];
}

/** Where the control sockets live. */
export function labsDir(): string {
  return join(stateDir(), 'labs');
}

export function controlSocketPath(lab: string): string {
  return join(labsDir(), `${lab}.sock`);
}

/** Serves a running lab's control socket until `close()`. */
export class ControlServer {
  private readonly server: net.Server;
  readonly path: string;

  constructor(
    private readonly lab: RunningLab,
    private readonly onDown: () => void,
  ) {
    this.path = controlSocketPath(lab.model.name);
    this.server = net.createServer((sock) => this.serve(sock));
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

  private serve(sock: net.Socket): void {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => undefined);
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > 65536) return void sock.destroy();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        void this.answer(line).then((reply) => {
          sock.write(JSON.stringify(reply) + '\n');
          if (reply.ok && reply.op === 'down') {
            sock.end();
            this.onDown();
          }
        });
      }
    });
  }

  private async answer(line: string): Promise<{ v: number; ok: boolean; op?: string; result?: unknown; error?: string }> {
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
        case 'dns':
          return { v, ok: true, op: 'dns', result: this.net(req.network).dns?.formatStats() ?? 'DNS is off on this network' };
        default:
          return { v, ok: false, error: `unknown operation "${String((req as { op?: unknown }).op)}" (ps, down, conntrack, dns)` };
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
    this.server.close();
    rmSync(this.path, { force: true });
  }
}

/** Sends one request to a lab's control socket and returns its result (or throws its error). */
export function request<T = unknown>(lab: string, req: ControlRequest, timeoutMs = 30_000): Promise<T> {
  const path = controlSocketPath(lab);
  return new Promise<T>((resolve, reject) => {
    const sock = net.createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`lab ${lab} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      try {
        const reply = JSON.parse(buf.slice(0, nl)) as { ok: boolean; result?: T; error?: string };
        if (reply.ok) resolve(reply.result as T);
        else reject(new Error(reply.error ?? 'the lab refused the request'));
      } catch {
        reject(new Error(`lab ${lab} answered something that is not JSON`));
      }
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? `no running lab named ${lab}` : `lab ${lab}: ${e.message}`));
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
