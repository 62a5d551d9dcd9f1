/**
 * bench/soak's legitimate load, all of it at once on the lab's clock, written
 * against wirelab's Node-shaped `net` and `dgram` APIs as an application
 * would be:
 *
 *   transfers  one lane client→server (upload) and one server→client
 *              (download), each a new TCP connection per transfer, one after
 *              another (0–50 ms apart), 1 KiB–1 MiB (log-uniform) of a seeded
 *              random pool. The sender states the length and SHA-256 in a
 *              header; the receiver hashes what arrives and checks both. The
 *              side that sends the payload closes first, so TIME-WAIT churns
 *              on the client (uploads) and on the server (downloads).
 *   udp        a request every 20 ms from the client to the server's echo
 *              port; an answer must repeat the request byte for byte; one not
 *              back within 1 s is lost (the impaired cable loses 1 % each way).
 *   nat        every second a short TCP connection from the client to
 *              outside:80 by name (the router's DNS), which answers with the
 *              address it sees (the router's uplink: masquerade) and N bytes;
 *              every 500 ms a UDP flow from a new client port to outside:7.
 *   arp churn  every 10 ms an ARP request for a host or a gratuitous ARP, from
 *              a random LAN address and MAC, on the switch's `churn` port.
 *
 * `stop()` starts nothing new; what is under way finishes (`inFlight`).
 */
import { createHash } from 'node:crypto';
import { SeededRandom } from '../../src/link/random.js';
import type { TcpSocket } from '../../src/tcp/socket.js';
import { Timer } from '../../src/time/index.js';
import type { UdpSocket } from '../../src/udp/index.js';
import { arpChurnFrame } from './soak-hostile.js';
import { CLIENT_IP, ECHO_PORT, OUTSIDE_TCP_PORT, SERVER_IP, SOAK_LIMITS, TRANSFER_PORT, UPLINK_IP, type SoakLab } from './soak-lab.js';

const POOL_BYTES = 4 << 20;
const MIN_TRANSFER = 1 << 10;
const MAX_TRANSFER = 1 << 20;
const UDP_EVERY_MS = 20;
const UDP_TIMEOUT_MS = 1000;
const NAT_TCP_EVERY_MS = 1000;
const NAT_UDP_EVERY_MS = 500;
const ARP_EVERY_MS = 10;

export interface LoadCounters {
  transfers: { started: number; intact: number; corrupt: number; failed: number; bytes: number; up: number; down: number; failures: string[] };
  udp: { sent: number; answered: number; lost: number; wrong: number };
  natTcp: { started: number; ok: number; wrongAddress: number; corrupt: number; failed: number; failures: string[] };
  natUdp: { started: number; answered: number; lost: number; wrong: number; failed: number };
  arpChurn: { frames: number };
}

function newCounters(): LoadCounters {
  return {
    transfers: { started: 0, intact: 0, corrupt: 0, failed: 0, bytes: 0, up: 0, down: 0, failures: [] },
    udp: { sent: 0, answered: 0, lost: 0, wrong: 0 },
    natTcp: { started: 0, ok: 0, wrongAddress: 0, corrupt: 0, failed: 0, failures: [] },
    natUdp: { started: 0, answered: 0, lost: 0, wrong: 0, failed: 0 },
    arpChurn: { frames: 0 },
  };
}

type State = 'running' | 'intact' | 'corrupt' | 'failed';

const HEADER_UP = 1 + 4 + 4 + 32; // 'U', id, length, sha-256
const HEADER_DOWN_REQ = 1 + 4 + 4; // 'D', id, length

export class SoakLoad {
  /** What the current run of the generators did (a new object at each `start()`). */
  counters: LoadCounters = newCounters();
  private readonly rng: SeededRandom;
  private readonly pool: Buffer;
  private readonly transfers = new Map<number, { state: State; length: number }>();
  private nextId = 1;
  private stopping = false;
  private active = 0;
  private readonly timers: Timer[] = [];
  private readonly closers: Array<() => void> = [];
  private udpSock: UdpSocket | undefined;
  private readonly udpOutstanding = new Map<number, { bytes: Buffer; timer: Timer }>();
  private udpSeq = 0;

  constructor(
    private readonly lab: SoakLab,
    seed: number,
  ) {
    this.rng = SeededRandom.derive(seed, 5);
    const pool = Buffer.allocUnsafe(POOL_BYTES);
    const r = SeededRandom.derive(seed, 6);
    for (let i = 0; i < POOL_BYTES; i += 4) pool.writeUInt32LE(r.nextUint32(), i);
    this.pool = pool;
    this.startServers();
  }

  /** Connections, exchanges and flows under way. */
  get inFlight(): number {
    return this.active + this.udpOutstanding.size;
  }

  /** Starts every generator with fresh counters; call when nothing is in flight. */
  start(): void {
    this.counters = newCounters();
    this.stopping = false;
    this.timers.length = 0;
    this.lane('up');
    this.lane('down');
    this.every(UDP_EVERY_MS, () => this.udpExchange());
    this.every(NAT_TCP_EVERY_MS, () => this.natTcp());
    this.every(NAT_UDP_EVERY_MS, () => this.natUdp());
    this.every(ARP_EVERY_MS, () => this.arpChurn());
  }

  /** Starts nothing new from now on. */
  stop(): void {
    this.stopping = true;
    for (const t of this.timers) t.cancel();
  }

  /** Closes the servers and the client's UDP socket (after the last sample). */
  close(): void {
    this.stop();
    for (const c of this.closers) c();
    for (const o of this.udpOutstanding.values()) o.timer.cancel();
    this.udpOutstanding.clear();
    this.udpSock?.close();
  }

  private every(ms: number, fn: () => void): void {
    const t = new Timer(this.lab.clock.timers, () => {
      if (this.stopping) return;
      t.arm(ms);
      fn();
    });
    t.arm(ms);
    this.timers.push(t);
  }

  private after(ms: number, fn: () => void): void {
    new Timer(this.lab.clock.timers, fn).arm(ms);
  }

  /** 1 KiB–1 MiB, log-uniform. */
  private randomLength(): number {
    return Math.round(MIN_TRANSFER * (MAX_TRANSFER / MIN_TRANSFER) ** this.rng.next());
  }

  /** `length` bytes from a random place in the pool, and their SHA-256. */
  private payload(length: number): { data: Buffer; sha: Buffer } {
    const n = Math.max(0, Math.min(length, MAX_TRANSFER));
    const off = this.rng.nextInt(POOL_BYTES - n + 1);
    const data = this.pool.subarray(off, off + n);
    return { data, sha: createHash('sha256').update(data).digest() };
  }

  private startServers(): void {
    const { server, outside } = this.lab;
    const transfers = server.tcp.createServer((s) => this.serve(s));
    transfers.listen({ port: TRANSFER_PORT, backlog: SOAK_LIMITS.synBacklog });
    const echo = server.udp.createSocket();
    echo.on('message', (m, r) => echo.send(m, r.port, r.address));
    echo.bind(ECHO_PORT);
    const web = outside.tcp.createServer((s) => {
      let line = '';
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => {
        if (line.endsWith('\n')) return;
        line += d.toString('latin1');
        const m = /^GET (\d+)\n$/.exec(line);
        if (m !== null) s.end(Buffer.concat([Buffer.from(`${s.remoteAddress}\n`), this.pool.subarray(0, Number(m[1]))]));
      });
    });
    web.listen(OUTSIDE_TCP_PORT);
    const outsideEcho = outside.udp.createSocket();
    outsideEcho.on('message', (m, r) => outsideEcho.send(m, r.port, r.address));
    outsideEcho.bind(ECHO_PORT);
    this.udpSock = this.lab.client.udp.createSocket();
    this.udpSock.on('message', (m) => this.udpAnswer(Buffer.from(m)));
    this.udpSock.bind(40000);
    this.closers.push(() => transfers.close(), () => echo.close(), () => web.close(), () => outsideEcho.close());
  }

  // ---------------------------------------------------------------------------
  // Transfers

  /** The server's side of a transfer: an upload it checks, or a download it sends. */
  private serve(s: TcpSocket): void {
    let head = Buffer.alloc(0);
    let hash: ReturnType<typeof createHash> | undefined;
    let id = 0;
    let length = 0;
    let expect: Buffer | undefined;
    let got = 0;
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      if (hash === undefined) {
        head = Buffer.concat([head, d]);
        if (head.length >= 1 && head[0] === 0x44 && head.length >= HEADER_DOWN_REQ) {
          // A download (the client checks it): send the SHA-256, then the bytes, and close first.
          const { data, sha } = this.payload(head.readUInt32BE(5));
          hash = createHash('sha256');
          s.write(sha);
          s.end(data);
          return;
        }
        if (head.length < HEADER_UP) return;
        if (head[0] !== 0x55) return void s.destroy();
        id = head.readUInt32BE(1);
        length = head.readUInt32BE(5);
        expect = Buffer.from(head.subarray(9, HEADER_UP));
        hash = createHash('sha256');
        d = head.subarray(HEADER_UP);
      }
      if (expect === undefined) return;
      hash.update(d);
      got += d.length;
    });
    s.on('end', () => {
      if (expect !== undefined && hash !== undefined) {
        const ok = got === length && hash.digest().equals(expect);
        this.verdict(id, ok, got);
        s.end(ok ? 'K' : 'X');
      } else {
        s.end();
      }
    });
  }

  private verdict(id: number, ok: boolean, bytes: number): void {
    const t = this.transfers.get(id);
    if (t === undefined || t.state !== 'running') return;
    t.state = ok ? 'intact' : 'corrupt';
    const c = this.counters.transfers;
    if (ok) (c.intact++, (c.bytes += bytes));
    else c.corrupt++;
  }

  /** One direction's transfers, back to back, each on a new connection. */
  private lane(dir: 'up' | 'down'): void {
    if (this.stopping) return;
    const id = this.nextId++;
    const c = this.counters.transfers;
    c.started++;
    c[dir]++;
    this.active++;
    const record = { state: 'running' as State, length: 0 };
    this.transfers.set(id, record);
    const sock = this.lab.client.tcp.connect({ host: SERVER_IP, port: TRANSFER_PORT });
    let error = '';
    sock.on('error', (e: Error & { code?: string }) => (error = e.code ?? e.message));
    if (dir === 'up') {
      const { data, sha } = this.payload(this.randomLength());
      record.length = data.length;
      const head = Buffer.alloc(HEADER_UP);
      head[0] = 0x55;
      head.writeUInt32BE(id, 1);
      head.writeUInt32BE(data.length, 5);
      sha.copy(head, 9);
      sock.on('connect', () => {
        sock.write(head);
        sock.end(data);
      });
      sock.on('data', () => undefined);
    } else {
      const length = this.randomLength();
      record.length = length;
      const req = Buffer.alloc(HEADER_DOWN_REQ);
      req[0] = 0x44;
      req.writeUInt32BE(id, 1);
      req.writeUInt32BE(length, 5);
      let sha: Buffer | undefined;
      let head = Buffer.alloc(0);
      const hash = createHash('sha256');
      let got = 0;
      sock.on('connect', () => sock.write(req));
      sock.on('data', (d: Buffer) => {
        if (sha === undefined) {
          head = Buffer.concat([head, d]);
          if (head.length < 32) return;
          sha = Buffer.from(head.subarray(0, 32));
          d = head.subarray(32);
        }
        hash.update(d);
        got += d.length;
      });
      sock.on('end', () => {
        this.verdict(id, sha !== undefined && got === length && hash.digest().equals(sha), got);
        sock.end();
      });
    }
    sock.on('close', () => {
      this.active--;
      if (record.state === 'running') {
        record.state = 'failed';
        c.failed++;
        if (c.failures.length < 10) c.failures.push(`${dir} #${id} (${record.length} B): ${error || 'closed before the receiver checked it'}`);
      }
      this.transfers.delete(id);
      this.after(this.rng.nextInt(51), () => this.lane(dir));
    });
  }

  // ---------------------------------------------------------------------------
  // UDP request/response

  private udpExchange(): void {
    const seq = ++this.udpSeq;
    const bytes = Buffer.alloc(4 + 64 + this.rng.nextInt(449));
    bytes.writeUInt32BE(seq, 0);
    for (let i = 4; i < bytes.length; i++) bytes[i] = this.rng.nextInt(256);
    const timer = new Timer(this.lab.clock.timers, () => {
      this.udpOutstanding.delete(seq);
      this.counters.udp.lost++;
    });
    timer.arm(UDP_TIMEOUT_MS);
    this.udpOutstanding.set(seq, { bytes, timer });
    this.counters.udp.sent++;
    this.udpSock!.send(bytes, ECHO_PORT, SERVER_IP);
  }

  private udpAnswer(m: Buffer): void {
    const o = m.length >= 4 ? this.udpOutstanding.get(m.readUInt32BE(0)) : undefined;
    if (o === undefined) return; // late: already counted lost
    o.timer.cancel();
    this.udpOutstanding.delete(m.readUInt32BE(0));
    if (o.bytes.equals(m)) this.counters.udp.answered++;
    else this.counters.udp.wrong++;
  }

  // ---------------------------------------------------------------------------
  // NAT flows

  private natTcp(): void {
    const c = this.counters.natTcp;
    c.started++;
    this.active++;
    const n = 256 + this.rng.nextInt(8 * 1024);
    const sock = this.lab.client.tcp.connect({ host: 'outside', port: OUTSIDE_TCP_PORT });
    const parts: Buffer[] = [];
    let error = '';
    let done = false;
    sock.on('error', (e: Error & { code?: string }) => (error = e.code ?? e.message));
    sock.on('connect', () => sock.write(`GET ${n}\n`));
    sock.on('data', (d: Buffer) => parts.push(d));
    sock.on('end', () => {
      done = true;
      const all = Buffer.concat(parts);
      const nl = all.indexOf(0x0a);
      const seen = nl < 0 ? '' : all.subarray(0, nl).toString('latin1');
      if (seen !== UPLINK_IP) c.wrongAddress++;
      else if (!all.subarray(nl + 1).equals(this.pool.subarray(0, n))) c.corrupt++;
      else c.ok++;
      sock.end();
    });
    sock.on('close', () => {
      this.active--;
      if (done) return;
      c.failed++;
      if (c.failures.length < 10) c.failures.push(`outside:${OUTSIDE_TCP_PORT} ${error || 'closed before the answer'}`);
    });
  }

  private natUdp(): void {
    const c = this.counters.natUdp;
    c.started++;
    this.active++;
    const finish = (): void => void this.active--;
    this.lab.client.dns.lookup('outside').then(
      ({ address }) => {
        const sock = this.lab.client.udp.createSocket();
        const bytes = Buffer.alloc(32);
        for (let i = 0; i < bytes.length; i++) bytes[i] = this.rng.nextInt(256);
        const timer = new Timer(this.lab.clock.timers, () => {
          c.lost++;
          sock.close();
          finish();
        });
        sock.on('message', (m) => {
          if (!timer.armed) return;
          timer.cancel();
          if (Buffer.from(m).equals(bytes)) c.answered++;
          else c.wrong++;
          sock.close();
          finish();
        });
        sock.bind(0, CLIENT_IP, () => {
          timer.arm(UDP_TIMEOUT_MS);
          sock.send(bytes, ECHO_PORT, address);
        });
      },
      () => {
        c.failed++;
        finish();
      },
    );
  }

  // ---------------------------------------------------------------------------
  // ARP churn

  private arpChurn(): void {
    const frame = arpChurnFrame(this.rng);
    this.lab.churn.send(frame, 0, frame.length, -1);
    this.lab.churn.flush();
    this.counters.arpChurn.frames++;
  }
}
