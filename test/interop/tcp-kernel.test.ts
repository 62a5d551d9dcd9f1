/**
 * wirelab TCP with the Linux kernel as the peer, through a TAP: a
 * container's eth0 is a TAP that wirelab holds, and a wirelab host is the
 * other end of that cable.
 *
 * - `curl` in the container fetches from an unmodified Node `http.Server`
 *   whose connections come from wirelab's TCP (`httpServer.emit('connection')`);
 * - wirelab fetches from `python3 -m http.server` in the container with
 *   Node's own `http.get` and `agent: stack.tcp.agent()`;
 * - bulk both ways (BULK_MB each way), intact by SHA-256, the kernel's
 *   checksum-error counter unchanged;
 * - window scaling, SACK-permitted and timestamps negotiated on every SYN and
 *   SYN-ACK of both kinds of open (wirelab as server and as client), read
 *   from the capture by tshark;
 * - with 2% loss and reordering on the wirelab link, both directions
 *   (impair() on both ends of an in-process cable between the host and the
 *   TAP), LOSSY_MB each way still arrives intact;
 * - tshark's TCP analysis of those captures (taken at wirelab's interface:
 *   exactly what wirelab sent and received) finds nothing wirelab did wrong:
 *   no bad checksums, no data beyond the window the kernel advertised, no
 *   window shrunk by wirelab, no ACK of data wirelab never received, and
 *   spurious retransmissions no more than the loss explains.
 *
 * The captures are written in-process (PcapngWriter). The clean run's
 * capture keeps headers only (snaplen 128: its BULK_MB would make a
 * multi-hundred-MB file); its checksums are proven by the kernel's
 * InCsumErrors counter, and the lossy run's full-size capture is checked by
 * tshark with checksum validation on.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relay } from '../../src/link/forward.js';
import { impair, type ImpairedPort, type ImpairmentOptions } from '../../src/link/impair.js';
import { PcapngWriter } from '../../src/link/pcap.js';
import { createPipe } from '../../src/link/pipe.js';
import type { Port, PortStats, RxHandler } from '../../src/link/port.js';
import { openTap, type TapPort } from '../../src/link/tap.js';
import { Lab } from '../../src/lab/lab.js';
import type { Container } from '../../src/lab/netns.js';
import { createStack, type Stack } from '../../src/stack.js';
import type { TcpOptions } from '../../src/tcp/state.js';
import { RealClock } from '../../src/time/index.js';
import { requireRoot } from '../helpers/netns.js';
import { blob as makeBlob, PY_SINK, PY_SOURCE, type Blob } from '../helpers/bulk.js';

const execFileAsync = promisify(execFile);
const cap = requireRoot(['python3', 'curl', 'tshark', 'sha256sum']);

/** Megabytes each way in the clean bulk transfer (the issue asks for 100). */
const BULK_MB = Number(process.env.WL_TCP_BULK_MB ?? 100);
/** Megabytes each way under 2% loss and reordering. */
const LOSSY_MB = Number(process.env.WL_TCP_LOSSY_MB ?? 8);
const LOSSY: ImpairmentOptions = { loss: 0.02, delayMs: 2, reorder: 0.03 };

const clock = new RealClock();
const lab = new Lab();
const dir = mkdtempSync(join(tmpdir(), 'wl-tcpk-'));
const stacks: Stack[] = [];
const ports: Port[] = [];
const writers: PcapngWriter[] = [];

afterAll(async () => {
  await lab.close().catch(() => undefined);
  for (const s of stacks) s.close();
  for (const p of ports) await p.close().catch(() => undefined);
  for (const w of writers) await w.close().catch(() => undefined);
  clock.close();
  // WL_KEEP_CAPTURES=1 keeps the captures for a look with Wireshark.
  if (process.env.WL_KEEP_CAPTURES === '1') console.log(`captures kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}, 30_000);

const uid = () => randomBytes(3).toString('hex');

// ---------------------------------------------------------------------------
// Plumbing

/** A Port that writes every frame it sends and receives to a pcapng file, then passes it on. */
class CapturePort implements Port {
  constructor(
    readonly inner: Port,
    readonly writer: PcapngWriter,
  ) {}
  get name(): string {
    return this.inner.name;
  }
  get stats(): PortStats {
    return this.inner.stats;
  }
  get vnetHdr(): boolean {
    return this.inner.vnetHdr;
  }
  get onReceive(): RxHandler | null {
    return this.inner.onReceive;
  }
  set onReceive(h: RxHandler | null) {
    this.inner.onReceive =
      h === null
        ? null
        : (batch, port) => {
            for (let i = 0; i < batch.count; i++) {
              const off = batch.offsets[i]!;
              this.writer.write(batch.buf.subarray(off, off + batch.lengths[i]!));
            }
            h(batch, this);
          };
  }
  send(buf: Uint8Array, off: number, len: number, vnetOff: number): boolean {
    this.writer.write(buf.subarray(off, off + len));
    return this.inner.send(buf, off, len, vnetOff);
  }
  flush(): void {
    this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Site {
  c: Container;
  stack: Stack;
  hostIp: string;
  containerIp: string;
  pcap: string;
  writer: PcapngWriter;
  /** The impairments, wirelab→kernel and kernel→wirelab (lossy sites only). */
  impaired: ImpairedPort[];
}

/**
 * A container on a TAP and a wirelab host at the cable's other end. With
 * `impairment`, the host and the TAP are joined by an in-process pipe whose
 * two ends are both impaired, so both directions suffer it.
 */
async function site(subnet: number, opts: { impairment?: ImpairmentOptions; snaplen?: number; tcp?: TcpOptions }): Promise<Site> {
  const tapName = `wltk${uid()}`;
  const tap: TapPort = openTap(tapName);
  ports.push(tap);
  const containerIp = `10.${subnet}.0.1`;
  const hostIp = `10.${subnet}.0.2`;
  const c = await lab.container({
    link: tapName,
    address: `${containerIp}/24`,
    sysctls: { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' },
  });
  const pcap = join(dir, `${tapName}.pcapng`);
  const writer = new PcapngWriter(pcap, { interfaces: [{ name: tapName, snaplen: opts.snaplen ?? 262_144 }], maxBufferedBytes: 256 << 20 });
  writers.push(writer);
  const stack = createStack({ clock, name: `wl-${tapName}`, ...(opts.tcp ? { tcp: opts.tcp } : {}) });
  stacks.push(stack);
  const impaired: ImpairedPort[] = [];
  let hostPort: Port = tap;
  if (opts.impairment !== undefined) {
    const [hostEnd, wireEnd] = createPipe(clock, { names: [`${tapName}h`, `${tapName}w`] });
    const toKernel = impair(hostEnd, clock, { ...opts.impairment, seed: 7 });
    const toWirelab = impair(wireEnd, clock, { ...opts.impairment, seed: 11 });
    wireEnd.onReceive = (batch) => relay(batch, tap);
    tap.onReceive = (batch) => relay(batch, toWirelab);
    impaired.push(toKernel, toWirelab);
    hostPort = toKernel;
  }
  stack.addInterface(new CapturePort(hostPort, writer), { addresses: [`${hostIp}/24`] });
  const ping = await c.exec(['ping', '-c', '1', '-W', '2', hostIp], { timeoutMs: 10_000 });
  if (!/1 received/.test(ping.stdout)) {
    // One ARP exchange may be lost on a lossy link: try again before giving up.
    await c.exec(['ping', '-c', '3', '-i', '0.2', '-W', '2', hostIp], { timeoutMs: 10_000, check: true });
  }
  return { c, stack, hostIp, containerIp, pcap, writer, impaired };
}

const blob = (mb: number): Blob => makeBlob(dir, mb);

/** Container → wirelab: python sends the file; a wirelab server hashes what arrives. */
async function upload(s: Site, file: { path: string; sha: string; bytes: number }, port: number, timeoutMs: number): Promise<{ bytes: number; sha: string }> {
  const received = new Promise<{ bytes: number; sha: string }>((resolve, reject) => {
    const server = s.stack.tcp.createServer((sock) => {
      const h = createHash('sha256');
      let n = 0;
      sock.on('data', (d: Uint8Array) => {
        h.update(d);
        n += d.length;
      });
      sock.on('end', () => {
        sock.end();
        server.close();
        resolve({ bytes: n, sha: h.digest('hex') });
      });
      sock.on('error', reject);
    });
    server.listen(port, s.hostIp);
  });
  const r = await s.c.exec(['python3', '-c', PY_SOURCE(s.hostIp, port, file.path)], { timeoutMs });
  if (r.code !== 0) throw new Error(`container sender failed: ${r.stderr || r.stdout}${r.timedOut ? ' (timed out)' : ''}`);
  return received;
}

/** wirelab → container: a wirelab socket streams the file; python hashes what arrives. */
async function download(s: Site, file: { path: string }, port: number, timeoutMs: number): Promise<{ bytes: number; sha: string }> {
  const sink = s.c.spawn(['python3', '-c', PY_SINK(s.containerIp, port)]);
  await sink.waitForOutput(/ready/, 10_000);
  const sock = s.stack.tcp.connect({ host: s.containerIp, port });
  const timer = setTimeout(() => sock.destroy(new Error(`download did not finish in ${timeoutMs} ms`)), timeoutMs);
  try {
    await pipeline(createReadStream(file.path, { highWaterMark: 256 << 10 }), sock);
    await sink.waitForOutput(/^\d+ [0-9a-f]{64}$/m, timeoutMs);
  } finally {
    clearTimeout(timer);
    sink.child.kill('SIGKILL');
  }
  const [n, sha] = sink.stdoutText.trim().split('\n').pop()!.split(' ');
  return { bytes: Number(n), sha: sha! };
}

async function kernelTcpCounters(c: Container): Promise<Record<string, number>> {
  const r = await c.exec(['cat', '/proc/net/snmp'], { check: true });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('Tcp:'));
  const keys = lines[0]!.split(/\s+/);
  const vals = lines[1]!.split(/\s+/).map(Number);
  return Object.fromEntries(keys.slice(1).map((k, i) => [k, vals[i + 1]!]));
}

// ---------------------------------------------------------------------------
// tshark

async function tshark(args: string[]): Promise<string> {
  const r = await execFileAsync('tshark', ['-n', ...args], { maxBuffer: 1 << 30, timeout: 120_000 });
  return r.stdout;
}

interface SynRow {
  src: string;
  synAck: boolean;
  wscale: string;
  sackPerm: boolean;
  tsval: string;
}

interface Analysis {
  frames: number;
  /** Every SYN and SYN-ACK with the options it carried. */
  syns: SynRow[];
  /** Expert messages, by sender, then message (numbers stripped): count. */
  expert: Record<string, Record<string, number>>;
  badChecksums: Record<string, number>;
  /** Data segments past the right edge of the window the other side advertised, by sender. */
  windowExceeded: Record<string, string[]>;
  /** Right window edge moved left (RFC 9293 §3.8.6: shrinking the window is strongly discouraged), by advertiser. */
  windowShrunk: Record<string, string[]>;
  retransmissions: Record<string, number>;
  spurious: Record<string, number>;
  ackedUnseen: Record<string, number>;
  sackBlocks: Record<string, number>;
  /** Data segments checked against a known window edge, by sender (proves the window check ran). */
  checked: Record<string, number>;
  report: string;
}

const inc = (o: Record<string, number>, k: string, n = 1) => (o[k] = (o[k] ?? 0) + n);
/** Wireshark's expert groups PI_CHECKSUM, PI_SEQUENCE and PI_MALFORMED. */
const TCP_EXPERT_GROUPS = new Set([0x01000000, 0x02000000, 0x07000000]);

/**
 * One tshark pass with TCP analysis and checksum validation on: expert
 * messages per sender, plus a window check of our own (tshark 4.0 has no
 * "window exceeded" flag): per direction, the right edge is the highest
 * ack + window×scale the receiver has advertised; data past it is a violation
 * (a one-byte probe of a zero window excepted); an edge that moves left is a
 * shrunk window.
 */
async function analyse(pcap: string, opts: { report: boolean }): Promise<Analysis> {
  const fields = [
    'frame.number', 'ip.src', 'ip.dst', 'tcp.stream', 'tcp.flags.syn', 'tcp.flags.reset', 'tcp.seq', 'tcp.len', 'tcp.flags.ack', 'tcp.ack',
    'tcp.window_size', 'tcp.checksum.status', 'tcp.options.sack_le', 'tcp.options.wscale.shift', 'tcp.options.sack_perm',
    'tcp.options.timestamp.tsval', '_ws.expert.group', '_ws.expert.message',
  ];
  const out = await tshark([
    '-r', pcap, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.relative_sequence_numbers:TRUE',
    '-Y', 'tcp', '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=|', ...fields.flatMap((f) => ['-e', f]),
  ]);
  const a: Analysis = {
    frames: 0, syns: [], expert: {}, badChecksums: {}, windowExceeded: {}, windowShrunk: {}, retransmissions: {}, spurious: {}, ackedUnseen: {},
    sackBlocks: {}, checked: {}, report: '',
  };
  /** `${stream}/${sender}` → highest right edge the other side has advertised to that sender. */
  const edge = new Map<string, number>();
  const yes = (v: string | undefined) => v === '1' || v === 'True';
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const [frame, src, dst, stream, syn, rst, seqS, lenS, ackFlag, ackS, winS, csum, sackLe, wscale, sackPerm, tsval, groups, msgs] =
      line.split('\t');
    a.frames++;
    const s = src!;
    if (yes(syn)) a.syns.push({ src: s, synAck: yes(ackFlag), wscale: wscale ?? '', sackPerm: (sackPerm ?? '') !== '', tsval: tsval ?? '' });
    const expert = (a.expert[s] ??= {});
    const groupList = (groups ?? '').split('|');
    (msgs ?? '').split('|').forEach((m, i) => {
      // TCP's own findings only (checksum and sequence groups), not whatever a payload dissector guessed.
      if (m === '' || !TCP_EXPERT_GROUPS.has(Number(groupList[i]))) return;
      inc(expert, m.replace(/\d+/g, '#'));
      if (/spurious retransmission/i.test(m)) inc(a.spurious, s);
      else if (/retransmission/i.test(m)) inc(a.retransmissions, s);
      if (/ACKed segment that wasn't captured/i.test(m)) inc(a.ackedUnseen, s);
    });
    // 0xffff where 0x0000 is due is the same zero in one's complement (RFC 1624), and the receiver
    // accepts it; Linux writes it itself when software-completing a checksum that folds to 0
    // (skb_checksum_help: `csum_fold(csum) ?: CSUM_MANGLED_0`), about one frame in 65536.
    if (csum === '0' && !/0xffff instead of 0x0000/.test(msgs ?? '')) inc(a.badChecksums, s);
    if (sackLe) inc(a.sackBlocks, s, sackLe.split('|').length);
    if (yes(rst) || yes(syn)) continue;
    // What this segment advertises bounds what the other side may send.
    if (yes(ackFlag) && winS !== '') {
      const other = `${stream}/${dst}`;
      const right = Number(ackS) + Number(winS);
      const prev = edge.get(other);
      if (prev !== undefined && right < prev) (a.windowShrunk[s] ??= []).push(`frame ${frame}: edge ${right} < ${prev}`);
      if (prev === undefined || right > prev) edge.set(other, right);
    }
    const len = Number(lenS);
    if (len > 0) {
      const seq = Number(seqS);
      const right = edge.get(`${stream}/${s}`);
      if (right !== undefined) inc(a.checked, s);
      // A zero-window probe may carry one byte past the edge.
      if (right !== undefined && seq + len > right && !(len === 1 && seq === right)) {
        (a.windowExceeded[s] ??= []).push(`frame ${frame}: ${seq}+${len} > edge ${right}`);
      }
    }
  }
  if (opts.report) a.report = await tshark(['-r', pcap, '-q', '-o', 'tcp.check_checksum:TRUE', '-z', 'expert,note']);
  return a;
}

// ---------------------------------------------------------------------------
// The clean link

describe.skipIf(cap.skip)('wirelab TCP and the Linux kernel over a TAP', () => {
  let s: Site;
  let big: { path: string; sha: string; bytes: number };
  let csumBefore: number;
  let analysed: Promise<Analysis> | undefined;
  /** One tshark pass over the clean capture, shared by the tests that read it (after the transfers). */
  const analysis = async (): Promise<Analysis> => {
    await s.writer.flush();
    return (analysed ??= analyse(s.pcap, { report: false }));
  };

  beforeAll(async () => {
    cap.assert();
    // The 3-dupack rule, explicitly: this link pins "nothing sent twice without loss", and a tail loss
    // probe (RACK-TLP, on by default) fires whenever an ACK is later than its 10 ms floor — on the real
    // clock a stalled event loop on a loaded machine is enough, and tshark counts the probe as a
    // retransmission. RACK-TLP meets the kernel on the lossy link below and in tcp-ecn-kernel/tcp-gso.
    s = await site(234, { snaplen: 128, tcp: { rack: false } });
    big = blob(BULK_MB);
    csumBefore = (await kernelTcpCounters(s.c)).InCsumErrors!;
  }, 60_000);

  it('curl in the container fetches from an unmodified Node http.Server running on wirelab TCP', async () => {
    const body = randomBytes(1 << 20);
    const sha = createHash('sha256').update(body).digest('hex');
    const httpServer = http.createServer((req, res) => {
      if (req.url === '/big') {
        res.setHeader('content-type', 'application/octet-stream');
        res.end(body);
      } else {
        res.end(`hello from wirelab, you asked for ${req.url}\n`);
      }
    });
    const server = s.stack.tcp.createServer((sock) => httpServer.emit('connection', sock));
    server.listen(80, s.hostIp);
    try {
      const hello = await s.c.exec(['curl', '-sS', '--max-time', '10', '-w', '\\n%{http_code}', `http://${s.hostIp}/hello`], { timeoutMs: 15_000 });
      expect(hello.stderr).toBe('');
      expect(hello.stdout).toBe('hello from wirelab, you asked for /hello\n\n200');
      // Two requests on one keep-alive connection, the second a 1 MiB body.
      const out = join(dir, `big-${uid()}`);
      const both = await s.c.exec(
        ['curl', '-sS', '--max-time', '20', '-w', '%{http_code}/%{num_connects} ', `http://${s.hostIp}/a`, '-o', '/dev/null', `http://${s.hostIp}/big`, '-o', out],
        { timeoutMs: 25_000 },
      );
      expect(both.stderr).toBe('');
      expect(both.stdout).toBe('200/1 200/0 '); // the second request reused the connection
      expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(sha);
    } finally {
      server.close();
      httpServer.close();
    }
  });

  it('wirelab fetches from python3 -m http.server in the container with http.get and agent: stack.tcp.agent()', async () => {
    const docroot = mkdtempSync(join(dir, 'www-'));
    const body = randomBytes(3 << 20);
    writeFileSync(join(docroot, 'file.bin'), body);
    writeFileSync(join(docroot, 'hello.txt'), 'hello from the kernel\n');
    const py = s.c.spawn(['python3', '-m', 'http.server', '8000', '--bind', s.containerIp, '--directory', docroot]);
    try {
      await py.waitForOutput(/Serving HTTP/, 10_000);
      const agent = s.stack.tcp.agent({ keepAlive: true });
      const get = (path: string) =>
        new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
          const req = http.get({ host: s.containerIp, port: 8000, path, agent, timeout: 20_000 }, (res) => {
            const parts: Buffer[] = [];
            res.on('data', (d: Buffer) => parts.push(d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
            res.on('error', reject);
          });
          req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
          req.on('error', reject);
        });
      const hello = await get('/hello.txt');
      expect(hello.status).toBe(200);
      expect(hello.body.toString()).toBe('hello from the kernel\n');
      const file = await get('/file.bin');
      expect(file.status).toBe(200);
      expect(file.body.length).toBe(body.length);
      expect(createHash('sha256').update(file.body).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
      agent.destroy();
    } finally {
      await py.kill('SIGKILL').catch(() => undefined);
    }
  });

  it(`${BULK_MB} MiB container → wirelab arrives intact (SHA-256)`, async () => {
    const r = await upload(s, big, 5001, 120_000);
    expect(r.bytes).toBe(big.bytes);
    expect(r.sha).toBe(big.sha);
  }, 150_000);

  it(`${BULK_MB} MiB wirelab → container arrives intact (SHA-256); the kernel found no bad checksum`, async () => {
    const r = await download(s, big, 5002, 120_000);
    expect(r.bytes).toBe(big.bytes);
    expect(r.sha).toBe(big.sha);
    const after = await kernelTcpCounters(s.c);
    expect(after.InCsumErrors! - csumBefore).toBe(0);
    expect(s.stack.tcpLayer.stats.drops.badChecksum).toBe(0);
  }, 150_000);

  it('window scaling, SACK-permitted and timestamps are negotiated on every SYN and SYN-ACK, both kinds of open (tshark)', async () => {
    const rows = (await analysis()).syns;
    const fromWirelab = rows.filter((r) => r.src === s.hostIp);
    const fromKernel = rows.filter((r) => r.src === s.containerIp);
    // wirelab opened (http.get, download) and was opened to (curl, upload).
    expect(fromWirelab.some((r) => !r.synAck)).toBe(true);
    expect(fromWirelab.some((r) => r.synAck)).toBe(true);
    expect(fromKernel.some((r) => !r.synAck)).toBe(true);
    expect(fromKernel.some((r) => r.synAck)).toBe(true);
    for (const r of rows) {
      expect(r.wscale, JSON.stringify(r)).toMatch(/^\d+$/);
      expect(r.sackPerm, JSON.stringify(r)).toBe(true);
      expect(r.tsval, JSON.stringify(r)).toMatch(/^\d+$/);
    }
    // wirelab scales its window (a 256 KiB buffer needs a shift of at least 3).
    for (const r of fromWirelab) expect(Number(r.wscale)).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('tshark finds nothing wirelab did wrong on the clean link', async () => {
    expect(s.writer.stats.dropped).toBe(0);
    const a = await analysis();
    const w = s.hostIp;
    const why = JSON.stringify({ ...a, syns: undefined, report: undefined, tcp: s.stack.tcpLayer.stats }, null, 1);
    expect(a.frames).toBeGreaterThan(1000);
    expect(a.checked[w] ?? 0, why).toBeGreaterThan(1000);
    expect(a.checked[s.containerIp] ?? 0, why).toBeGreaterThan(1000);
    expect(a.windowExceeded[w] ?? [], why).toEqual([]);
    expect(a.windowShrunk[w] ?? [], why).toEqual([]);
    expect(a.ackedUnseen[w] ?? 0, why).toBe(0);
    // No loss on this link: nothing of wirelab's should need sending twice.
    expect(a.spurious[w] ?? 0, why).toBe(0);
    expect(a.retransmissions[w] ?? 0, why).toBe(0);
  }, 120_000);
});

// ---------------------------------------------------------------------------
// 2% loss and reordering, both directions

describe.skipIf(cap.skip)('wirelab TCP and the Linux kernel with 2% loss and reordering on the wirelab link', () => {
  let s: Site;
  let file: { path: string; sha: string; bytes: number };

  beforeAll(async () => {
    cap.assert();
    s = await site(235, { impairment: LOSSY });
    file = blob(LOSSY_MB);
  }, 60_000);

  it(`${LOSSY_MB} MiB each way arrives intact`, async () => {
    const up = await upload(s, file, 5003, 120_000);
    expect(up.sha).toBe(file.sha);
    const down = await download(s, file, 5004, 120_000);
    expect(down.sha).toBe(file.sha);
    const [toKernel, toWirelab] = s.impaired;
    // The impairment really happened, both ways.
    expect(toKernel!.impairStats.lost).toBeGreaterThan(10);
    expect(toWirelab!.impairStats.lost).toBeGreaterThan(10);
    expect(toKernel!.impairStats.reordered + toWirelab!.impairStats.reordered).toBeGreaterThan(10);
  }, 200_000);

  it('tshark: no bad checksums, nothing past the window, no ACK of unseen data, spurious retransmissions within what loss explains', async () => {
    await s.writer.flush();
    expect(s.writer.stats.dropped).toBe(0);
    const a = await analyse(s.pcap, { report: true });
    const w = s.hostIp;
    const k = s.containerIp;
    const [toKernel, toWirelab] = s.impaired;
    const lost = toKernel!.impairStats.lost + toWirelab!.impairStats.lost;
    const why = `lost ${toKernel!.impairStats.lost} to the kernel, ${toWirelab!.impairStats.lost} to wirelab\n${JSON.stringify({ ...a, syns: undefined, report: undefined }, null, 1)}\n${a.report}`;
    expect(a.checked[w] ?? 0, why).toBeGreaterThan(100);
    expect(a.checked[k] ?? 0, why).toBeGreaterThan(100);
    expect(a.badChecksums[w] ?? 0, why).toBe(0);
    expect(a.badChecksums[k] ?? 0, why).toBe(0);
    expect(a.windowExceeded[w] ?? [], why).toEqual([]);
    expect(a.windowShrunk[w] ?? [], why).toEqual([]);
    expect(a.ackedUnseen[w] ?? 0, why).toBe(0);
    // wirelab's receiver reported the holes (SACK blocks), and its sender repaired them.
    expect(a.sackBlocks[w] ?? 0, why).toBeGreaterThan(0);
    expect(a.retransmissions[w] ?? 0, why).toBeGreaterThan(0);
    // Spurious retransmissions, as tshark sees them at wirelab's interface (data
    // retransmitted after an ACK covering it was captured): only what reached
    // wirelab out of order or not at all explains them (a reordered ACK makes
    // SACK's loss rule fire early, as it does in Linux). The kernel's, likewise,
    // are explained by wirelab's ACKs that the link lost or reordered.
    const inbound = toWirelab!.impairStats;
    const outbound = toKernel!.impairStats;
    expect(a.spurious[w] ?? 0, why).toBeLessThanOrEqual(inbound.lost + inbound.reordered);
    expect(a.spurious[k] ?? 0, why).toBeLessThanOrEqual(outbound.lost + outbound.reordered);
    // Retransmissions in all: within a small multiple of what was lost.
    expect((a.retransmissions[w] ?? 0) + (a.spurious[w] ?? 0), why).toBeLessThanOrEqual(3 * lost);
    console.log(
      `lossy link: lost ${toKernel!.impairStats.lost}→kernel ${toWirelab!.impairStats.lost}→wirelab, reordered ${toKernel!.impairStats.reordered + toWirelab!.impairStats.reordered}; ` +
        `wirelab retransmitted ${a.retransmissions[w] ?? 0} (+${a.spurious[w] ?? 0} spurious), kernel ${a.retransmissions[k] ?? 0} (+${a.spurious[k] ?? 0} spurious); ` +
        `window-checked segments ${JSON.stringify(a.checked)}; expert ${JSON.stringify(a.expert)}`,
    );
  }, 120_000);
});
