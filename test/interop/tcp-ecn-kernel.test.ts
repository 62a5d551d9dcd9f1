/**
 * ECN (RFC 3168) between wirelab and the Linux kernel, through a TAP: a
 * container's eth0 is a TAP that wirelab holds, a wirelab host at the other
 * end, and between them a CeMarkPort that sets CE on some ECN-capable frames
 * in both directions, as a congested router would. tcpdump in the container
 * records what the kernel saw, tshark reads it.
 *
 * - The kernel (net.ipv4.tcp_ecn = 1) connects to a wirelab listener with its
 *   defaults (Linux's tcp_ecn = 2: accept, never ask): the kernel's SYN asks
 *   with ECE+CWR, wirelab's SYN-ACK answers with ECE alone, both sides' new
 *   data leaves ECT(0) and wirelab's pure ACKs Not-ECT. The marks work both
 *   ways: the kernel echoes wirelab's marked data with ECE and wirelab answers
 *   with CWR; wirelab echoes the kernel's marked data with ECE and the kernel
 *   answers with CWR.
 * - wirelab with `ecn: true` connects to a kernel listener with the kernel's
 *   own default (tcp_ecn = 2): wirelab's SYN asks, the kernel's SYN-ACK
 *   accepts, data both ways ECT(0).
 *
 * - Over a vnet_hdr TAP, wirelab's CWR rides a TSO super-frame marked
 *   VIRTIO_NET_HDR_GSO_ECN (Linux's SKB_GSO_TCP_ECN), which the kernel takes.
 *
 * Both directions carry a few MiB, checked by SHA-256. Containers and TAPs
 * have unique names and go away in afterAll, whatever the tests did.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTap, type TapPort } from '../../src/link/tap.js';
import { Lab } from '../../src/lab/lab.js';
import type { Container } from '../../src/lab/netns.js';
import { createStack, type Stack } from '../../src/stack.js';
import type { TcpOptions } from '../../src/tcp/state.js';
import { RealClock } from '../../src/time/index.js';
import { CeMarkPort, everyNth } from '../helpers/ecn.js';
import { requireRoot } from '../helpers/netns.js';

const execFileAsync = promisify(execFile);
const cap = requireRoot(['python3', 'tcpdump', 'tshark']);

const clock = new RealClock();
const lab = new Lab();
const dir = mkdtempSync(join(tmpdir(), 'wl-ecnk-'));
const stacks: Stack[] = [];
const taps: TapPort[] = [];

afterAll(async () => {
  await lab.close().catch(() => undefined);
  for (const s of stacks) s.close();
  for (const t of taps) await t.close().catch(() => undefined);
  clock.close();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

const uid = () => randomBytes(3).toString('hex');
const MB = 1 << 20;
const BYTES = 4 * MB;

interface Site {
  c: Container;
  stack: Stack;
  mark: CeMarkPort;
  hostIp: string;
  containerIp: string;
}

async function site(subnet: number, tcp: TcpOptions, kernelEcn: '1' | '2', vnetHdr = false): Promise<Site> {
  const tapName = `wlec${uid()}`;
  const tap = openTap(tapName, { vnetHdr });
  taps.push(tap);
  const containerIp = `10.${subnet}.0.1`;
  const hostIp = `10.${subnet}.0.2`;
  const c = await lab.container({
    link: tapName,
    address: `${containerIp}/24`,
    sysctls: {
      'net.ipv6.conf.all.disable_ipv6': '1',
      'net.ipv6.conf.default.disable_ipv6': '1',
      'net.ipv4.tcp_ecn': kernelEcn,
    },
  });
  const stack = createStack({ clock, name: `wl-${tapName}`, tcp });
  stacks.push(stack);
  const mark = new CeMarkPort(tap);
  stack.addInterface(mark, { addresses: [`${hostIp}/24`] });
  await c.exec(['ping', '-c', '1', '-W', '2', hostIp], { timeoutMs: 10_000, check: true });
  return { c, stack, mark, hostIp, containerIp };
}

/** Runs `fn` with tcpdump writing the container's eth0 traffic to a file; returns the file. */
async function captured<T>(s: Site, fn: () => Promise<T>): Promise<{ pcap: string; result: T }> {
  const pcap = join(dir, `${s.c.name}-${uid()}.pcap`);
  const td = s.c.spawn(['tcpdump', '-i', 'eth0', '-n', '-U', '-s', '128', '-w', pcap, 'tcp']);
  await td.waitForOutput(/listening on/, 10_000);
  try {
    const result = await fn();
    await new Promise((r) => setTimeout(r, 200));
    return { pcap, result };
  } finally {
    await td.kill('SIGINT', 3_000);
  }
}

interface Row {
  src: string;
  ecn: number;
  syn: boolean;
  ack: boolean;
  ece: boolean;
  cwr: boolean;
  len: number;
  retrans: boolean;
}

async function rows(pcap: string): Promise<Row[]> {
  const fields = ['ip.src', 'ip.dsfield.ecn', 'tcp.flags.syn', 'tcp.flags.ack', 'tcp.flags.ece', 'tcp.flags.cwr', 'tcp.len', 'tcp.analysis.retransmission'];
  const { stdout } = await execFileAsync('tshark', ['-n', '-r', pcap, '-Y', 'tcp', '-T', 'fields', '-E', 'separator=\t', ...fields.flatMap((f) => ['-e', f])], {
    maxBuffer: 1 << 28,
    timeout: 60_000,
  });
  const yes = (v: string | undefined) => v === '1' || v === 'True';
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [src, ecn, syn, ack, ece, cwr, len, retrans] = l.split('\t');
      return { src: src!, ecn: Number(ecn), syn: yes(syn), ack: yes(ack), ece: yes(ece), cwr: yes(cwr), len: Number(len), retrans: retrans !== undefined && retrans !== '' };
    });
}

/** Python: connect (or accept), send `bytes` random bytes, half-close, read to EOF; print sent-sha, received count and sha. */
const PY_EXCHANGE = (role: 'connect' | 'accept', ip: string, port: number, bytes: number) => `
import socket, hashlib, os, threading
if '${role}' == 'accept':
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(('${ip}', ${port}))
    srv.listen(1)
    print('ready', flush=True)
    s, _ = srv.accept()
else:
    s = socket.create_connection(('${ip}', ${port}), timeout=30)
data = os.urandom(${bytes})
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
h = hashlib.sha256()
n = 0
while True:
    b = s.recv(1 << 20)
    if not b:
        break
    h.update(b)
    n += len(b)
t.join()
s.close()
print(hashlib.sha256(data).hexdigest(), n, h.hexdigest(), flush=True)
`;

/** The wirelab side of the exchange on one socket: send `bytes`, end, hash what arrives. */
function exchange(sock: import('node:net').Socket | import('node:stream').Duplex, bytes: number): Promise<{ sentSha: string; n: number; sha: string }> {
  return new Promise((resolve, reject) => {
    const data = randomBytes(bytes);
    const h = createHash('sha256');
    let n = 0;
    sock.on('data', (d: Uint8Array) => {
      h.update(d);
      n += d.length;
    });
    sock.on('end', () => resolve({ sentSha: createHash('sha256').update(data).digest('hex'), n, sha: h.digest('hex') }));
    sock.on('error', reject);
    sock.end(data);
  });
}

function parsePy(out: string): { sentSha: string; n: number; sha: string } {
  const line = out.trim().split('\n').pop()!;
  const [sentSha, n, sha] = line.split(' ');
  return { sentSha: sentSha!, n: Number(n), sha: sha! };
}

describe.skipIf(cap.skip)('ECN between wirelab and the Linux kernel', () => {
  beforeAll(() => {
    cap.assert();
  });

  it('kernel (tcp_ecn = 1) → wirelab listener (defaults): ECN negotiated, ECT(0) data, CE echoed and answered both ways', async () => {
    const s = await site(236, {}, '1');
    // Every 40th ECN-capable frame, in both directions, comes through "congested".
    s.mark.markOut = everyNth(40);
    s.mark.markIn = everyNth(40);
    const port = 5101;
    let wl: Promise<{ sentSha: string; n: number; sha: string }> | undefined;
    const server = s.stack.tcp.createServer((sock) => {
      wl = exchange(sock, BYTES);
    });
    server.listen(port, s.hostIp);
    const { pcap, result } = await captured(s, async () => {
      const r = await s.c.exec(['python3', '-c', PY_EXCHANGE('connect', s.hostIp, port, BYTES)], { timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(`python failed: ${r.stderr || r.stdout}`);
      return { py: parsePy(r.stdout), wl: await wl! };
    });
    server.close();
    // The bytes, both ways.
    expect(result.wl.n).toBe(BYTES);
    expect(result.wl.sha).toBe(result.py.sentSha);
    expect(result.py.n).toBe(BYTES);
    expect(result.py.sha).toBe(result.wl.sentSha);

    const all = await rows(pcap);
    const w = all.filter((r) => r.src === s.hostIp);
    const k = all.filter((r) => r.src === s.containerIp);
    const why = JSON.stringify({ stats: s.stack.tcpLayer.stats, marks: { out: s.mark.out, in: s.mark.in } });
    // Negotiation: the kernel's SYN asks, wirelab's SYN-ACK accepts; neither is ECT.
    const kSyn = k.filter((r) => r.syn && !r.ack);
    const wSynAck = w.filter((r) => r.syn && r.ack);
    expect(kSyn.length).toBe(1);
    expect(kSyn[0]).toMatchObject({ ece: true, cwr: true, ecn: 0 });
    expect(wSynAck.length).toBe(1);
    expect(wSynAck[0]).toMatchObject({ ece: true, cwr: false, ecn: 0 });
    // wirelab's data: ECT(0), or CE where the "router" marked it; its pure ACKs: Not-ECT.
    const wData = w.filter((r) => r.len > 0 && !r.syn);
    expect(wData.length).toBeGreaterThan(50);
    for (const r of wData) expect(r.retrans ? r.ecn === 0 : r.ecn === 2 || r.ecn === 3, `${JSON.stringify(r)} ${why}`).toBe(true);
    // tcpdump may miss frames of a fast burst, so the capture bounds the marks rather than counting them.
    const ceSeen = wData.filter((r) => r.ecn === 3).length;
    expect(ceSeen, why).toBeGreaterThan(0);
    expect(ceSeen, why).toBeLessThanOrEqual(s.mark.out.marked);
    for (const r of w.filter((x) => x.len === 0 && !x.syn)) expect(r.ecn, JSON.stringify(r)).toBe(0);
    // The kernel's data is ECN-capable too (captured before wirelab's side marks it).
    const kData = k.filter((r) => r.len > 0 && !r.syn && !r.retrans);
    expect(kData.length).toBeGreaterThan(10);
    for (const r of kData) expect(r.ecn, JSON.stringify(r)).toBe(2);

    const st = s.stack.tcpLayer.stats;
    // wirelab's marked data → the kernel echoes ECE → wirelab reduces once per window and sends CWR.
    expect(s.mark.out.marked, why).toBeGreaterThan(3);
    expect(k.some((r) => r.ece && !r.syn), why).toBe(true);
    expect(st.ecnEceReceived, why).toBeGreaterThan(0);
    expect(st.ecnCwndReductions, why).toBeGreaterThan(0);
    expect(st.ecnCwrSent, why).toBeGreaterThan(0);
    const cwrSeen = w.filter((r) => r.cwr && !r.syn).length;
    expect(cwrSeen, why).toBeGreaterThan(0);
    expect(cwrSeen, why).toBeLessThanOrEqual(st.ecnCwrSent);
    // Every reduction answered a CE mark (marks far enough apart here to fall in different windows or not).
    expect(st.ecnCwndReductions, why).toBeLessThanOrEqual(s.mark.out.marked);
    // The kernel's marked data → wirelab echoes ECE → the kernel answers with CWR.
    expect(s.mark.in.marked, why).toBeGreaterThan(3);
    expect(st.ecnCeReceived, why).toBe(s.mark.in.marked);
    expect(w.some((r) => r.ece && !r.syn), why).toBe(true);
    expect(k.some((r) => r.cwr && !r.syn && r.len > 0), why).toBe(true);
    expect(st.ecnNegotiated).toBe(1);
  }, 120_000);

  it('wirelab (ecn: true) → kernel listener (its default, tcp_ecn = 2): ECN negotiated, ECT(0) data both ways', async () => {
    const s = await site(237, { ecn: true }, '2');
    const port = 5102;
    const py = s.c.spawn(['python3', '-c', PY_EXCHANGE('accept', s.containerIp, port, BYTES)]);
    await py.waitForOutput(/ready/, 10_000);
    const { pcap, result } = await captured(s, async () => {
      const sock = s.stack.tcp.connect({ host: s.containerIp, port });
      const wl = await exchange(sock, BYTES);
      await py.waitForOutput(/^[0-9a-f]{64} \d+ [0-9a-f]{64}$/m, 30_000);
      return { wl, py: parsePy(py.stdoutText) };
    });
    expect(result.wl.n).toBe(BYTES);
    expect(result.wl.sha).toBe(result.py.sentSha);
    expect(result.py.n).toBe(BYTES);
    expect(result.py.sha).toBe(result.wl.sentSha);

    const all = await rows(pcap);
    const w = all.filter((r) => r.src === s.hostIp);
    const k = all.filter((r) => r.src === s.containerIp);
    const wSyn = w.filter((r) => r.syn && !r.ack);
    const kSynAck = k.filter((r) => r.syn && r.ack);
    expect(wSyn.length).toBe(1);
    expect(wSyn[0]).toMatchObject({ ece: true, cwr: true, ecn: 0 });
    expect(kSynAck.length).toBe(1);
    expect(kSynAck[0]).toMatchObject({ ece: true, cwr: false, ecn: 0 });
    const wData = w.filter((r) => r.len > 0 && !r.syn && !r.retrans);
    const kData = k.filter((r) => r.len > 0 && !r.syn && !r.retrans);
    expect(wData.length).toBeGreaterThan(50);
    expect(kData.length).toBeGreaterThan(10);
    for (const r of [...wData, ...kData]) expect(r.ecn, JSON.stringify(r)).toBe(2);
    for (const r of w.filter((x) => x.len === 0 && !x.syn)) expect(r.ecn, JSON.stringify(r)).toBe(0);
    // No marks on this path: nobody echoed anything.
    expect(all.some((r) => r.ece && !r.syn)).toBe(false);
    const st = s.stack.tcpLayer.stats;
    expect(st.ecnNegotiated).toBe(1);
    expect(st.ecnCwndReductions).toBe(0);
  }, 120_000);

  it('over a vnet_hdr TAP: CE on TSO super-frames, ECE from the kernel, CWR on a GSO_ECN super-frame', async () => {
    const s = await site(238, {}, '1', true);
    s.mark.markOut = everyNth(15);
    const port = 5103;
    let wl: Promise<{ sentSha: string; n: number; sha: string }> | undefined;
    const server = s.stack.tcp.createServer((sock) => {
      wl = exchange(sock, 2 * BYTES);
    });
    server.listen(port, s.hostIp);
    const gsoBefore = s.stack.ip.stats.outGsoFrames;
    const { pcap, result } = await captured(s, async () => {
      const r = await s.c.exec(['python3', '-c', PY_EXCHANGE('connect', s.hostIp, port, BYTES)], { timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(`python failed: ${r.stderr || r.stdout}`);
      return { py: parsePy(r.stdout), wl: await wl! };
    });
    server.close();
    expect(result.py.n).toBe(2 * BYTES);
    expect(result.py.sha).toBe(result.wl.sentSha);
    expect(result.wl.sha).toBe(result.py.sentSha);
    const st = s.stack.tcpLayer.stats;
    const why = JSON.stringify({ stats: st, marks: s.mark.out, gso: s.stack.ip.stats.outGsoFrames - gsoBefore });
    expect(s.stack.ip.stats.outGsoFrames - gsoBefore, why).toBeGreaterThan(10);
    expect(s.mark.out.marked, why).toBeGreaterThan(3);
    expect(st.ecnEceReceived, why).toBeGreaterThan(0);
    expect(st.ecnCwrSent, why).toBeGreaterThan(0);
    const w = (await rows(pcap)).filter((r) => r.src === s.hostIp);
    // tcpdump sees the kernel's view: the super-frames as they came in, CWR among them.
    // More payload than one 1500-byte frame holds: a super-frame, its CWR taken whole (GSO_ECN).
    expect(w.some((r) => r.cwr && r.len > 1460), why).toBe(true);
    expect(w.some((r) => r.len > 0 && r.ecn === 3), why).toBe(true);
    expect(st.ecnCwndReductions, why).toBeGreaterThan(0);
  }, 120_000);
});
